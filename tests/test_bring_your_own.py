"""Bring your own phenotypes (issue 12 §5): kgpex.matrix_input.bed (the phenotype BED),
kgpex.covariates.user (the user's covariates), kgpex.genotypes.user (a VCF with GT or DS, or a
pgen, imported by plink2), the sample checks of kgpex.preflight.input_checks, and the dosage
paths of kgpex.fastqtl.inputs and kgpex.eqtl.inputs.

The end-to-end test runs rule all (every MAGE table) on a subset of FastQTL's Geuvadis example
(Debian fastqtl-doc): 12 genes, the variants around them (DS only, REF/ALT written literally,
contig ``22``), the covariates transposed; and a run whose covariates lack samples stops at
check_inputs with one line, before any genotype is imported.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CLEAN_ENV

from kgpex.common.errors import KgpexError
from kgpex.covariates.user import import_covariates, read_user_covariates
from kgpex.fastqtl.inputs import export_genotypes_vcf
from kgpex.genotypes.plink import has_dosages, read_psam_ids
from kgpex.genotypes.user import import_genotypes
from kgpex.matrix_input.bed import PhenotypeBed, import_phenotype_bed, normalise_contig
from kgpex.preflight.input_checks import check_covariate_samples, check_psam

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path("/usr/share/doc/fastqtl/examples/examples.tar.xz")
SAMPLES = ["S3", "S1", "S2", "S4", "S5", "S6"]


def _bed(path: Path, rows: list[str], samples=SAMPLES) -> Path:
    path.write_text("#chr\tstart\tend\tphenotype_id\t" + "\t".join(samples) + "\n"
                    + "".join(r + "\n" for r in rows))  # fmt: skip
    return path


def _values(seed: int, n: int = len(SAMPLES)) -> str:
    rng = np.random.default_rng(seed)
    return "\t".join(repr(float(v)) for v in rng.normal(size=n))


def test_contigs_bare_or_prefixed():
    assert normalise_contig("22", "x") == "chr22"
    assert normalise_contig("chr22", "x") == "chr22"
    assert normalise_contig("X", "x") == "chrX"
    assert normalise_contig("MT", "x") == "chrM"
    with pytest.raises(KgpexError, match=r"b.bed line 3: field 1: chromosome 'chrUn_gl000220'"):
        normalise_contig("chrUn_gl000220", "b.bed line 3: field 1")


def test_bed_imported_as_it_is(tmp_path):
    rows = [f"22\t{p - 1}\t{p}\tG{p}\t{_values(p)}" for p in (5000, 1000, 3000)]
    rows.append(f"1\t99\t100\tG1\t{_values(1)}")
    bed = _bed(tmp_path / "p.bed", rows)
    dest, genes = tmp_path / "out.bed.gz", tmp_path / "genes.tsv"
    data = import_phenotype_bed(bed, ["chr22"], dest, genes)
    assert data.samples == SAMPLES
    with gzip.open(dest, "rt") as fh:
        lines = [line.rstrip("\n").split("\t") for line in fh]
    assert lines[0] == ["#Chr", "start", "end", "ID", *sorted(SAMPLES)]
    assert [r[:4] for r in lines[1:]] == [
        ["chr22", "999", "1000", "G1000"], ["chr22", "2999", "3000", "G3000"],
        ["chr22", "4999", "5000", "G5000"]]  # fmt: skip
    # Values copied as written, columns sorted by sample.
    original = dict(zip(SAMPLES, _values(1000).split("\t")))
    assert lines[1][4:] == [original[s] for s in sorted(SAMPLES)]
    table = pd.read_csv(genes, sep="\t")
    assert list(table["tss"]) == [1000, 3000, 5000]
    assert set(table["chrom"]) == {"chr22"}
    assert (dest.parent / "out.bed.gz.tbi").exists()


@pytest.mark.parametrize(
    "row, message",
    [
        ("22\t9\t10\tG1\t1\t2\tx\t4\t5\t6", r"line 2: field S2: 'x' is not a finite number"),
        ("22\t9\t10\tG1\t1\t2\t3\t4\t5\tNA", r"line 2: field S6: 'NA' is not a finite number"),
        ("22\t9\t10\tG1\t1\t2\t3", r"line 2: 7 fields, the header has 10"),
        ("22\tten\t10\tG1\t1\t2\t3\t4\t5\t6", r"line 2: field start/end: not integers"),
        ("22\t10\t10\tG1\t1\t2\t3\t4\t5\t6", r"line 2: field start/end: need 0 <= start < end"),
        ("contig7\t9\t10\tG1\t1\t2\t3\t4\t5\t6", r"line 2: field 1: chromosome 'contig7'"),
    ],
)
def test_bad_bed_one_line(tmp_path, row, message):
    bed = _bed(tmp_path / "bad.bed", [row])
    with pytest.raises(KgpexError, match=message) as err:
        PhenotypeBed(bed)
    assert "\n" not in str(err.value) and str(bed) in str(err.value)


def test_bed_duplicate_phenotype_and_sample(tmp_path):
    rows = [f"22\t9\t10\tG1\t{_values(1)}", f"22\t19\t20\tG1\t{_values(2)}"]
    with pytest.raises(KgpexError, match=r"line 3: field 4: phenotype G1 already on line 2"):
        PhenotypeBed(_bed(tmp_path / "a.bed", rows))
    with pytest.raises(KgpexError, match=r"line 1: sample S1 appears twice"):
        PhenotypeBed(_bed(tmp_path / "b.bed", rows[:1], ["S1", "S1", "S2", "S3", "S4", "S5"]))


def _covariates(path: Path, transposed: bool, samples=SAMPLES) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    cov = pd.DataFrame(rng.normal(size=(len(samples), 2)).round(4), index=samples,
                       columns=["PC1", "PC2"])  # fmt: skip
    cov["PC1_again"] = cov["PC1"] * 2  # collinear: dropped
    if transposed:
        cov.rename_axis("sample").to_csv(path, sep="\t")
    else:
        cov.T.rename_axis("id").to_csv(path, sep="\t")
    return cov


@pytest.mark.parametrize("transposed", [False, True])
def test_covariates_either_layout(tmp_path, transposed):
    cov = _covariates(tmp_path / "cov.txt", transposed)
    table = read_user_covariates(tmp_path / "cov.txt", sorted(SAMPLES))
    assert list(table.index) == sorted(SAMPLES)
    np.testing.assert_allclose(table["PC2"], cov.loc[sorted(SAMPLES), "PC2"])
    bed = tmp_path / "p.bed.gz"
    import_phenotype_bed(_bed(tmp_path / "p.bed", [f"22\t9\t10\tG1\t{_values(1)}"]), ["chr22"],
                         bed, tmp_path / "genes.tsv")  # fmt: skip
    out = import_covariates(bed, tmp_path / "cov.txt", tmp_path / "cov.tab.gz")
    assert list(out["id"]) == ["PC1", "PC2"]  # the collinear copy dropped
    assert list(out.columns) == ["id", *sorted(SAMPLES)]


def test_bad_covariates_one_line(tmp_path):
    path = tmp_path / "cov.txt"
    path.write_text("id\tS1\tS2\nPC1\t0.1\tabc\n")
    with pytest.raises(KgpexError, match=r"cov.txt line 2: field S2: 'abc' is not a number"):
        read_user_covariates(path, ["S1", "S2"])
    with pytest.raises(KgpexError, match=r"cov.txt: 1 of the 3 phenotype samples missing: S9"):
        read_user_covariates(path, ["S1", "S2", "S9"])


def test_sample_mismatch_named_before_any_work(tmp_path):
    _covariates(tmp_path / "cov.txt", False, ["S1", "S2", "S3"])
    with pytest.raises(KgpexError) as err:
        check_covariate_samples(tmp_path / "cov.txt", ["S1", "S2", "X7", "X8"], "cov.txt")
    assert str(err.value) == (
        "cov.txt: 2 of the cohort's 4 samples not among its header's sample IDs: X7, X8 "
        "(its first: S1, S2, S3)"
    )
    assert check_covariate_samples(tmp_path / "cov.txt", ["S1", "S2"], "c").finding.startswith(
        "all 2 cohort samples"
    )
    prefix = tmp_path / "g"
    for ext in (".pgen", ".pvar"):
        Path(f"{prefix}{ext}").write_text("")
    Path(f"{prefix}.psam").write_text("#IID\tSEX\nS1\tNA\nS2\tNA\n")
    with pytest.raises(KgpexError, match=r"g.psam: 1 of the cohort's 3 samples not among its samples: S3"):
        check_psam(f"{prefix}.psam", "chr22", ["S1", "S2", "S3"])


def _ds_vcf(path: Path, samples: list[str], n: int = 40, gt: bool = False) -> Path:
    """A bgzipped, indexed VCF like FastQTL's example: contig 22, alleles REF/ALT, DS only."""
    import pysam

    rng = np.random.default_rng(3)
    lines = ["##fileformat=VCFv4.1",
             '##FORMAT=<ID=DS,Number=1,Type=Float,Description="dosage">',
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)]
    for i in range(n):
        ds = np.clip(rng.binomial(2, 0.3, len(samples)) + rng.normal(0, 0.1, len(samples)), 0, 2)
        if gt:
            calls = ["0/0", "0/1", "1/1"]
            cells = [calls[round(d)] for d in ds]
            lines.append(f"22\t{1000 + 10 * i}\tv{i}\tREF\tALT\t100\tPASS\t.\tGT\t" + "\t".join(cells))
        else:
            cells = [f"{d:.3f}" for d in ds]
            lines.append(f"22\t{1000 + 10 * i}\tv{i}\tREF\tALT\t100\tPASS\tINFO\tDS\t" + "\t".join(cells))
    plain = path.with_suffix("")
    plain.write_text("\n".join(lines) + "\n")
    pysam.tabix_compress(str(plain), str(path), force=True)
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def test_dosage_vcf_imported_and_exported(tmp_path):
    samples = [f"S{i}" for i in range(1, 31)]
    vcf = _ds_vcf(tmp_path / "g.vcf.gz", samples)
    out = tmp_path / "geno" / "chr22"
    n = import_genotypes("chr22", samples[::-1], out, vcf=str(vcf))
    assert n == 40
    assert read_psam_ids(f"{out}.psam") == sorted(samples)
    lines = Path(f"{out}.pvar").read_text().splitlines()
    rec = next(line for line in lines if not line.startswith("#")).split("\t")
    assert rec[:5] == ["chr22", "1000", "chr22:1000:REF:ALT", "REF", "ALT"]
    assert has_dosages(out)
    # FastQTL's VCF carries the dosages (DS for every genotype) as written.
    export_genotypes_vcf(out, samples[:10], tmp_path / "fq.vcf.gz", tmp_path / "fq.acount")
    import pysam

    with pysam.VariantFile(str(tmp_path / "fq.vcf.gz")) as fh:
        record = next(iter(fh))
        assert "DS" in record.format
    with gzip.open(vcf, "rt") as fh:
        source = next(line for line in fh if line.startswith("22\t")).rstrip("\n").split("\t")
    by_sample = dict(zip(samples, source[9:]))
    for sample in sorted(samples[:10]):
        ds = record.samples[sample]["DS"]
        ds = ds[0] if isinstance(ds, tuple) else ds
        assert ds == pytest.approx(float(by_sample[sample]), abs=1e-6)
    # The imported pgen as a source in its turn (genotypes.pgen).
    again = tmp_path / "again" / "chr22"
    assert import_genotypes("chr22", samples[:20], again, pfile=str(out), maf=0.01) <= 40
    assert read_psam_ids(f"{again}.psam") == sorted(samples[:20])


def test_hard_calls_stay_hard_calls(tmp_path):
    samples = [f"S{i}" for i in range(1, 21)]
    vcf = _ds_vcf(tmp_path / "g.vcf.gz", samples, gt=True)
    out = tmp_path / "chr22"
    import_genotypes("chr22", samples, out, vcf=str(vcf))
    assert not has_dosages(out)


def test_missing_cohort_sample_in_genotypes(tmp_path):
    vcf = _ds_vcf(tmp_path / "g.vcf.gz", ["S1", "S2", "S3"])
    with pytest.raises(KgpexError, match=r"g.vcf.gz"):
        import_genotypes("chr22", ["S1", "S2", "S9"], tmp_path / "chr22", vcf=str(vcf))


# ---- end to end, on a subset of FastQTL's example ---------------------------------------------

needs_example = pytest.mark.skipif(
    not EXAMPLES.exists(),
    reason=f"{EXAMPLES} absent: install the Debian package fastqtl-doc (make setup does)",
)
N_GENES = 12
WINDOW = 25_000


def _subset(work: Path) -> dict:
    """12 genes of the example, the variants within WINDOW of them, covariates transposed."""
    import pysam

    data = work / "data"
    with tarfile.open(EXAMPLES) as tar:
        tar.extractall(data, filter="data")
    bed = pd.read_csv(data / "phenotypes.bed.gz", sep="\t", dtype=str)
    bed = bed.iloc[:N_GENES]
    bed_path = work / "phenotypes.bed"  # plain text: a BED need not be bgzipped
    bed.to_csv(bed_path, sep="\t", index=False)
    lo, hi = bed["start"].astype(int).min() - WINDOW, bed["end"].astype(int).max() + WINDOW
    vcf = work / "genotypes.vcf.gz"
    subprocess.run(["bcftools", "view", "-r", f"22:{max(lo, 1)}-{hi}", "-Oz", "-o", str(vcf),
                    str(data / "genotypes.vcf.gz")], check=True)  # fmt: skip
    pysam.tabix_index(str(vcf), preset="vcf", force=True)
    cov = pd.read_csv(data / "covariates.txt.gz", sep="\t", index_col=0)
    cov_path = work / "covariates.tsv"
    cov.T.rename_axis("sample").to_csv(cov_path, sep="\t")
    return {"bed": bed_path, "vcf": vcf, "covariates": cov_path,
            "samples": list(bed.columns[4:])}  # fmt: skip


def _run(workdir: Path, config: dict, check: bool = True) -> subprocess.CompletedProcess:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
         "--cores", os.environ.get("KGPEX_TEST_CORES", "2")],
        cwd=ROOT, env=CLEAN_ENV, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake failed:\n{proc.stderr[-6000:]}")
    return proc


def _config(files: dict) -> dict:
    return {
        "cohort": "BYO",
        "release": "test",
        "genome_build": "GRCh37",
        "expression": {"input": "bed", "chromosomes": ["chr22"], "bed": {"url": str(files["bed"])}},
        "covariates": {"input": str(files["covariates"])},
        "genotypes": {"vcf_url": str(files["vcf"]), "chromosomes": ["chr22"]},
        # 12 genes are too few for qvalue's pi0 smoother: Benjamini-Hochberg (lambda 0).
        "eqtl": {"window": WINDOW, "permutations": 100, "qvalue_lambda": 0},
    }  # fmt: skip


@pytest.mark.e2e
@needs_example
def test_bring_your_own_to_mage_tables(tmp_path):
    files = _subset(tmp_path)
    run = tmp_path / "run"
    _run(run, _config(files))
    results = run / "results" / "BYO"
    mage = results / "QTL_results" / "eQTL_results"
    perm = pd.read_csv(mage / "eQTL_nominal_results" / "eQTL_FastQTL_results.permutation_pass.BYO.test.txt.gz",
                       sep="\t")  # fmt: skip
    assert len(perm) == N_GENES
    for name in ("eQTL_nominal_results/eQTL_FastQTL_results.nominal_pass.allAssociations.BYO.test.txt.gz",
                 "eQTL_finemapping_results/eQTL_finemapping.credibleSet_summary.BYO.test.txt.gz",
                 "eQTL_summary.BYO.test.txt.gz"):  # fmt: skip
        assert (mage / name).stat().st_size > 0
    individuals = pd.read_csv(results / "samples" / "individuals.tsv", sep="\t")
    assert sorted(individuals["individual"]) == sorted(files["samples"])
    assert not (results / "covariates" / "genotype_pcs.tsv").exists()
    covariates = pd.read_csv(mage / "expression_quants" / "eQTL_covariates.tab.gz", sep="\t")
    assert list(covariates["id"]) == ["PC1", "PC2", "PC3", "PHASE1"]
    genes = pd.read_csv(results / "expression" / "bed" / "genes.tsv", sep="\t")
    assert genes["chrom"].eq("chr22").all() and len(genes) == N_GENES


@pytest.mark.e2e
@needs_example
def test_mismatched_samples_stop_before_genotypes(tmp_path):
    files = _subset(tmp_path)
    cov = pd.read_csv(files["covariates"], sep="\t", index_col=0)
    cov.iloc[:5].to_csv(files["covariates"], sep="\t")  # five samples only
    run = tmp_path / "run"
    proc = _run(run, _config(files), check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "not among its" in line]
    assert lines and "368 of the cohort's 373 samples not among its rows' sample IDs" in lines[0]
    assert not (run / "results" / "BYO" / "genotypes" / "chr22.pgen").exists()
    assert not (run / "logs" / "BYO" / "import_genotypes").exists()
