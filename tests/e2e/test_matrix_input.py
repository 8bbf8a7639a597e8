"""The matrix entry point on matrices made from the demo (expression.input: matrix).

- counts + TPM: the demo's gene counts and TPM of the chosen libraries, one column per
  individual, give the reads path's TSS BEDs byte for byte (the same MAGE normalisation), so
  everything downstream is shared unchanged.
- array: log2(CPM + 1) of the same counts as "intensities", with an annotation table and one
  control probe, every other individual measured on two replicate arrays (each distorted on its
  own: an offset, a scale, noise; an arrays table names each array's individual), run through
  Stranger 2012's normalisation (expression.matrix.array_normalization: stranger2012) and INT to
  the cis-eQTL permutation table; its eGenes overlap the reads path's.

- counts with its own annotation and no reference, to the end: a small cohort of its own
  (tests/input_fixtures.py write_matrix_cohort: 60 individuals, one GRCh38 VCF, 24 genes whose
  IDs no GTF has) whose reference URLs point nowhere runs rule all, every MAGE table included,
  without a reference job (about a minute; it needs no demo_run).

The first two cohorts are the demo's individuals sheet alone (samples.runs "": no runs, no run table),
as an array cohort has no sequencing runs. Each runs in a scratch working directory
(tests/workdirs.py) beside the demo; the array run hard-links the demo's genotypes, reference
and samples so that only the expression, covariates and mapping jobs run.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import snakemake
from input_fixtures import write_matrix_cohort
from workdirs import scratch_workdir, snakemake_args

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
COHORT = CONFIG["cohort"]
TAG = f"{COHORT}.{CONFIG['release']}"
FDR = CONFIG["eqtl"]["fdr"]
MAGE = Path("results") / COHORT / "QTL_results" / "eQTL_results"
QUANTS = MAGE / "expression_quants"
CIS_GENES = Path("results") / COHORT / "eqtl" / CONFIG["eqtl"]["mapper"] / "cis_genes.tsv.gz"


def individuals_only(sheet: Path) -> dict:
    """The samples section of a cohort as an individuals sheet alone: no runs sheet, no run
    table."""
    return {"method": "sheets", "individuals": str(sheet), "runs": ""}


# Stages the array run takes from the demo (they do not depend on expression). Not the resolved
# sheets: its individuals sheet holds the kept individuals only, so resolve_samples runs again,
# and the genotypes and their PCs after it.
REUSED = [
    "reference", "preflight", "genotypes",
    "covariates/genotype_pcs.tsv", "covariates/genotype_pcs.png",
]

pytestmark = pytest.mark.e2e


def _cores() -> str:
    return os.environ.get("KGPEX_TEST_CORES", "2")


@pytest.fixture(scope="module")
def demo_matrices(demo_run, tmp_path_factory):
    """The demo's chosen libraries as gene x individual TSVs, an annotation table, and the
    individuals sheet of exactly those individuals (the demo's identity check excludes the
    planted swap's two, whose only libraries carry other individuals' reads)."""
    out = tmp_path_factory.mktemp("matrices")
    choice = pd.read_csv(demo_run / "expression" / "library_choice.tsv", sep="\t")
    run_to_individual = dict(zip(choice["library"], choice["individual"]))
    paths = {"individuals": out / "individuals.tsv"}
    committed = ROOT / CONFIG["samples"]["individuals"]
    sheet = pd.read_csv(committed, sep="\t", dtype=str)
    sheet[sheet["individual"].isin(choice["individual"])].to_csv(
        paths["individuals"], sep="\t", index=False
    )
    # The committed sheet's time: a sheet newer than the generated demo would make the demo's
    # rule (whose input the configured sheet is) generate the whole cohort again.
    shutil.copystat(committed, paths["individuals"])
    for kind in ("counts", "tpm"):
        m = pd.read_parquet(ROOT / QUANTS / f"gene_{kind}.allLibraries.{TAG}.parquet")
        m = m[list(run_to_individual)].rename(columns=run_to_individual)
        m.index.name = "gene_id"
        paths[kind] = out / f"{kind}.tsv"
        m.to_csv(paths[kind], sep="\t")  # repr() floats: read back bit for bit
    counts = pd.read_csv(paths["counts"], sep="\t", index_col=0)
    log2 = np.log2(counts / counts.sum() * 1e6 + 1)
    log2.loc["CONTROL_PROBE_1"] = 7.0 + np.arange(log2.shape[1]) % 3  # not in the annotation
    # Every other individual on two replicate arrays, each with its own offset, scale and noise.
    rng = np.random.default_rng(2012)
    arrays, rows = {}, []
    for i, individual in enumerate(log2.columns):
        for r in range(1 + i % 2):
            name = f"HYB_{individual}_{r}"
            noise = rng.normal(0, 0.05, size=len(log2))
            arrays[name] = log2[individual] * (1 - 0.04 * r) + 0.3 * r + noise
            rows.append((name, individual))
    arrays = pd.DataFrame(arrays)
    paths["array"] = out / "array.tsv.gz"
    arrays[list(rng.permutation(arrays.columns))].to_csv(paths["array"], sep="\t", compression="gzip")
    paths["arrays"] = out / "arrays.tsv"
    pd.DataFrame(rows, columns=["array", "individual"]).to_csv(paths["arrays"], sep="\t", index=False)
    genes = pd.read_csv(demo_run / "reference" / "genes.tsv", sep="\t")
    paths["annotation"] = out / "annotation.tsv"
    genes[["gene_id", "chrom", "tss", "strand", "gene_name", "start", "end"]].to_csv(
        paths["annotation"], sep="\t", index=False
    )
    return paths


def _bed_text(path: Path) -> str:
    with gzip.open(path, "rt") as fh:
        return fh.read()


def test_counts_and_tpm_matrix_give_the_reads_path_beds(demo_run, demo_matrices, tmp_path):
    workdir = scratch_workdir(
        tmp_path / "counts",
        {"samples": individuals_only(demo_matrices["individuals"]),
         "expression": {"input": "matrix", "matrix": {
            "url": str(demo_matrices["counts"]), "tpm_url": str(demo_matrices["tpm"]), "kind": "counts",
        }}},
    )
    outputs = [
        QUANTS / f"inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz",
        QUANTS / f"TMM.filtered.TSS.{TAG}.bed.gz",
        QUANTS / f"raw_pseudocounts.filtered.TSS.{TAG}.bed.gz",
        MAGE / f"expression_filteredGenes.{TAG}.txt.gz",
    ]
    log = snakemake(*snakemake_args(workdir, "--cores", _cores(), *map(str, outputs))).stderr
    # Resolved from the individuals sheet alone: header-only run tables, nothing fetched for runs.
    samples = workdir / "results" / COHORT / "samples"
    assert pd.read_csv(samples / "individuals.tsv", sep="\t")["individual"].tolist() == sorted(
        pd.read_csv(demo_matrices["individuals"], sep="\t")["individual"]
    )
    for name in ("runs", "run_sources", "run_mapping"):
        assert len(pd.read_csv(samples / f"{name}.tsv", sep="\t")) == 0, name
    assert not (samples / "run_table.tsv").exists() and "rule fetch_run_table:" not in log
    for rel in outputs:
        assert _bed_text(workdir / rel) == _bed_text(ROOT / rel), rel
    factors = pd.read_csv(workdir / "results" / COHORT / "expression" / "tmm_factors.tsv", sep="\t")
    reads = pd.read_csv(demo_run / "expression" / "tmm_factors.tsv", sep="\t")
    np.testing.assert_array_equal(factors["tmm_factor"], reads["tmm_factor"])


def _link_tree(src: Path, dest: Path) -> None:
    """Hard links keep the files' times, so Snakemake sees those jobs as done."""
    if src.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(src, dest)
        return
    for path in src.rglob("*"):
        if path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)


@pytest.fixture(scope="module")
def array_run(demo_run, demo_matrices, tmp_path_factory):
    workdir = scratch_workdir(
        tmp_path_factory.mktemp("array"),
        {"samples": individuals_only(demo_matrices["individuals"]),
         "expression": {"input": "matrix", "matrix": {
            "url": str(demo_matrices["array"]), "kind": "array",
            "annotation_url": str(demo_matrices["annotation"]), "drop_unannotated": True,
            "arrays_url": str(demo_matrices["arrays"]), "array_normalization": "stranger2012",
        }}},
    )
    for rel in REUSED:
        _link_tree(demo_run / rel, workdir / "results" / COHORT / rel)
    # File times only: the scratch directory has no Snakemake records of the linked files' code
    # and parameters, and they are the demo's, brought up to date by demo_run.
    proc = snakemake(
        # The target before --rerun-triggers, which takes every word after it.
        *snakemake_args(workdir, "--cores", _cores(), str(CIS_GENES), "--rerun-triggers", "mtime")
    )
    return workdir, proc.stdout + proc.stderr


def test_array_run_normalises_and_maps(array_run):
    workdir, log = array_run
    assert "rule normalize_array_expression:" in log
    bed = pd.read_csv(workdir / QUANTS / f"inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz", sep="\t")
    assert "CONTROL_PROBE_1" not in set(bed["ID"])
    qn = pd.read_csv(workdir / QUANTS / f"quantile_log2.filtered.TSS.{TAG}.bed.gz", sep="\t")
    assert list(qn["ID"]) == list(bed["ID"]) and list(qn.columns[4:]) == sorted(qn.columns[4:])
    # One column per individual, from one or two arrays each.
    matrix_dir = workdir / "results" / COHORT / "expression" / "matrix"
    arrays = pd.read_csv(matrix_dir / "arrays.tsv", sep="\t", index_col="array")["individual"]
    individuals = list(qn.columns[4:])
    assert individuals == sorted(set(arrays)) and arrays.value_counts().max() == 2
    assert len(arrays) > len(individuals)
    # Stranger 2012's steps over every annotated probe: the replicate arrays quantile-normalised
    # together and averaged, then every profile's median moved to the median of the medians.
    imported = pd.read_parquet(matrix_dir / "expression.parquet")
    profiles = {}
    for individual, group in arrays.groupby(arrays):
        pair = imported[list(group.index)]
        if pair.shape[1] == 2:  # by hand: each rank gets the mean of the two sorted arrays
            ranks = pair.rank(method="first").astype(int).to_numpy() - 1
            reference = np.sort(pair.to_numpy(), axis=0).mean(axis=1)
            ties = pair.apply(lambda col: col.duplicated(keep=False)).to_numpy().any()
            assert not ties  # the added noise leaves no ties
            pair = pd.DataFrame(reference[ranks], index=pair.index)
        profiles[individual] = pair.mean(axis=1)
    profiles = pd.DataFrame(profiles)
    expected = profiles - profiles.median() + profiles.median().median()
    np.testing.assert_allclose(
        qn[individuals].to_numpy(), expected.loc[qn["ID"], individuals].to_numpy(), rtol=0, atol=1e-6
    )
    log_text = (workdir / "logs" / COHORT / "normalize_array_expression" / "normalize_array_expression.log").read_text()
    assert "normalised (stranger2012)" in log_text


def test_array_egenes_overlap_the_reads_path(array_run, demo_run):
    workdir, _ = array_run
    array = pd.read_csv(workdir / CIS_GENES, sep="\t")
    reads = pd.read_csv(ROOT / CIS_GENES, sep="\t")
    called = {
        "array": set(array.loc[array["qval"] <= FDR, "phenotype_id"]),
        "reads": set(reads.loc[reads["qval"] <= FDR, "phenotype_id"]),
    }
    shared = called["array"] & called["reads"]
    jaccard = len(shared) / len(called["array"] | called["reads"])
    # Measured on the demo: array 76 eGenes, reads 72, shared 69 (96% of the reads path's),
    # Jaccard 0.87. The array path tests 300 genes (no expression filter), the reads path 289.
    summary = (
        f"array {len(called['array'])} eGenes, reads {len(called['reads'])}, shared {len(shared)}, "
        f"Jaccard {jaccard:.3f}"
    )
    assert len(shared) >= 0.9 * len(called["reads"]) and jaccard >= 0.8, summary
    # And they are the planted ones (measured: all 76), as test_eqtl asks of the reads path.
    truth = pd.read_csv(ROOT / "resources/demo/generated/truth_eqtls.tsv", sep="\t")
    not_planted = called["array"] - set(truth["gene_id"])
    assert len(not_planted) <= 0.1 * len(called["array"]), f"{summary}; not planted: {sorted(not_planted)}"


# Rules of the reference stage: none may run (nor be planned) for a matrix with its own annotation.
REFERENCE_RULES = ("download_reference", "make_gentrome", "salmon_index", "annotate_genes")


def test_counts_matrix_with_its_own_annotation_runs_to_the_end_without_a_reference(tmp_path):
    inputs = tmp_path / "inputs"
    overrides = write_matrix_cohort(inputs)
    workdir = scratch_workdir(tmp_path / "work", overrides, reuse_demo=False)
    proc = snakemake(*snakemake_args(workdir, "--cores", _cores()))
    log = proc.stdout + proc.stderr
    ran = [rule for rule in REFERENCE_RULES if f"rule {rule}:" in log]
    assert not ran, f"reference jobs ran: {ran}"
    assert not (workdir / "results" / COHORT / "reference").exists()
    # Rule all's targets all exist: a second run has nothing to do.
    again = snakemake(*snakemake_args(workdir, "--dry-run"))
    assert "Nothing to be done" in again.stdout + again.stderr, (again.stdout + again.stderr)[-3000:]
    annotation = pd.read_csv(inputs / "annotation.tsv", sep="\t")
    planted = set(annotation["gene_id"][::2])  # write_matrix_cohort plants every other gene
    nominal = MAGE / "eQTL_nominal_results" / "eQTL_FastQTL_results"
    finemapping = MAGE / "eQTL_finemapping_results" / "eQTL_finemapping"
    tables = {
        "permutation": f"{nominal}.permutation_pass.{TAG}.txt.gz",
        "all pairs": f"{nominal}.nominal_pass.allAssociations.{TAG}.txt.gz",
        "significant pairs": f"{nominal}.nominal_pass.significantAssociations.{TAG}.txt.gz",
        "credible sets": f"{finemapping}.credibleSet_summary.{TAG}.txt.gz",
        "fine-mapped variants": f"{finemapping}.allAssociations.{TAG}.txt.gz",
        "summary": MAGE / f"eQTL_summary.{TAG}.txt.gz",
    }
    read = {name: pd.read_csv(workdir / path, sep="\t") for name, path in tables.items()}
    # The tables name the annotation's genes (IDs and symbols), not a GTF's.
    permutation = read["permutation"]
    assert set(permutation["ensemblID"]) == set(annotation["gene_id"])
    names = dict(zip(annotation["gene_id"], annotation["gene_name"]))
    assert (permutation["geneSymbol"] == permutation["ensemblID"].map(names)).all()
    assert (permutation["geneChromTSS"] == permutation["ensemblID"].map(
        dict(zip(annotation["gene_id"], annotation["tss"])))).all()
    for name, table in read.items():
        assert len(table) and set(table["ensemblID"]) <= set(annotation["gene_id"]), name
        assert (table["geneSymbol"] == table["ensemblID"].map(names)).all(), name
    # The planted genes are found, and fine-mapped (measured: all 12 of 12, and no other gene).
    assert planted <= set(read["significant pairs"]["ensemblID"])
    assert len(set(read["credible sets"]["ensemblID"]) & planted) >= 0.8 * len(planted)
    checked = pd.read_csv(workdir / "results" / COHORT / "preflight" / "inputs_checked.tsv", sep="\t")
    assert list(checked["input"]) == ["individuals", "runs", "run sources", "annotation", "vcf chr22"]
    assert checked["source"].iloc[3] == str(inputs / "annotation.tsv")
    assert checked["finding"].iloc[4].endswith("(length 50818468 (GRCh38))")
