"""Conformance of kgpex's mapping with FastQTL on FastQTL's own Geuvadis example (issue 12 §6).

Debian's ``fastqtl-doc`` ships FastQTL's example (``examples.tar.xz``): 373 Geuvadis LCLs,
364 chr22 genes as a normalised phenotype BED, 150,357 variants as a VCF with dosages only
(FORMAT DS, no GT), alleles written literally ``REF``/``ALT``, contig ``22``, and 4 covariates
(FastQTL layout). It is extracted into the test's folder; nothing of it is copied into the
repository.

One Snakemake run takes it through the bring-your-own entry point (``expression.input: bed``,
``covariates.input``, ``genotypes.vcf_url``) and makes both mappers' per-chromosome tables (no
MAGE tables: tests/test_bring_your_own.py runs those on a subset). ``fastQTL`` then runs
directly on the example, outside kgpex, with the same settings (window, MAF threshold, seed,
covariates), and:
- kgpex's FastQTL backend gives the direct run's nominal pass: the same pairs, p-values and
  slopes (FastQTL prints 6 significant digits; kgpex's sample order is sorted, the direct run's
  the file's, so the last digit may differ);
- kgpex's tensorQTL backend agrees with it: -log10 p Pearson r >= 0.999 and the same top
  variant for >= 95 % of genes;
- the permutation passes' ``pval_beta`` agree between the backends: r >= 0.99 on genes whose
  cis windows hold the same variants in both, -log10 r >= 0.99 on all genes, r >= 0.98 on all
  (FastQTL's MAF counts rounded dosages, tensorQTL's the mean dosage: near ``eqtl.maf`` they
  keep different variants, 0.65 % more pairs in tensorQTL, and a rare strong variant moves a
  gene's permutation p-value).

Measured (FastQTL 2.184 GTEx fork, tensorQTL 1.0.10, CPU; window 50 kb, MAF 0.01, 1000
permutations each; the figures are printed by the test, ``pytest -s``):
- FastQTL backend vs direct fastQTL: 101,995 pairs, the same in both; p-values identical as
  printed, max |d slope| 6e-8;
- tensorQTL vs fastQTL: -log10 p r = 0.99999999999 on the 101,979 shared pairs (tensorQTL has
  102,668: 0.66 % more, 16 fewer, the MAF definition above), same top variant for 98.4 % of
  the 364 genes (the rest: ties between variants in perfect LD, or a variant near the MAF
  threshold that only one keeps);
- pval_beta: r = 0.988 over all 364 genes, -log10 r = 0.998; r = 0.9991 on the 94 genes with
  the same variants. With FastQTL's adaptive [100, 1000] (null genes stop at 100
  permutations) r was 0.983 over all genes.
- wall time on 2 cores: 62 s for the kgpex run (both mappers), 13 s for the direct run; the
  module 82 s.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CLEAN_ENV

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path("/usr/share/doc/fastqtl/examples/examples.tar.xz")
WINDOW = 50_000
MAF = 0.01
SEED = 20261122
COHORT, TAG = "GEUV", "GEUV.fastqtl"

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(
        not EXAMPLES.exists(),
        reason=f"{EXAMPLES} absent: install the Debian package fastqtl-doc (make setup does)",
    ),
]


def _config(data: Path) -> dict:
    return {
        "cohort": COHORT,
        "release": "fastqtl",
        "genome_build": "GRCh37",  # Geuvadis: 1000 Genomes phase 1 on GRCh37
        "expression": {"input": "bed", "chromosomes": ["chr22"],
                       "bed": {"url": str(data / "phenotypes.bed.gz")}},
        "covariates": {"input": str(data / "covariates.txt.gz")},
        # MAF 0 here: FastQTL and tensorQTL apply eqtl.maf themselves, as the direct run does.
        "genotypes": {"vcf_url": str(data / "genotypes.vcf.gz"), "chromosomes": ["chr22"],
                      "maf": 0.0},
        "eqtl": {"window": WINDOW, "maf": MAF, "seed": SEED, "permutations": 1000,
                 # 1000 permutations each: FastQTL's adaptive [100, 1000] stops null genes at
                 # 100, and their beta fits then scatter (pval_beta r 0.983 against tensorQTL).
                 "fastqtl": {"permute": [1000, 1001], "chunks": 2}},
    }  # fmt: skip


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example extracted, kgpex run on it (both mappers), and FastQTL run directly."""
    work = tmp_path_factory.mktemp("fastqtl_example")
    data = work / "data"
    with tarfile.open(EXAMPLES) as tar:
        tar.extractall(data, filter="data")
    run_dir = work / "run"
    (run_dir / "config").mkdir(parents=True)
    (run_dir / "config" / "config.yaml").write_text(yaml.safe_dump(_config(data)))
    eqtl = Path("results") / COHORT / "eqtl"
    targets = [str(eqtl / m / p) for m in ("fastqtl", "tensorqtl")
               for p in ("nominal/chr22.parquet", "permutations/chr22.tsv.gz")]
    cores = os.environ.get("KGPEX_TEST_CORES", "2")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(run_dir),
         "--cores", cores, *targets],
        cwd=ROOT, env=CLEAN_ENV, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"kgpex on FastQTL's example failed:\n{proc.stderr[-6000:]}")
    kgpex_s = time.perf_counter() - start
    start = time.perf_counter()
    direct = work / "direct.nominal.txt.gz"
    cmd = ["fastQTL", "--vcf", str(data / "genotypes.vcf.gz"),
           "--bed", str(data / "phenotypes.bed.gz"), "--cov", str(data / "covariates.txt.gz"),
           "--window", str(WINDOW), "--maf-threshold", repr(MAF), "--seed", str(SEED),
           "--chunk", "1", "1", "--out", str(direct), "--log", str(work / "direct.log")]
    fq = subprocess.run(cmd, env=CLEAN_ENV, capture_output=True, text=True, check=False)
    assert fq.returncode == 0 and direct.exists(), fq.stdout[-2000:] + fq.stderr[-2000:]
    direct_s = time.perf_counter() - start
    return {"data": data, "results": run_dir / eqtl, "direct": direct,
            "seconds": {"kgpex": kgpex_s, "direct fastQTL": direct_s}}


def _positions(vcf: Path) -> pd.Series:
    """The example VCF's variant ID -> position (its IDs and positions are unique)."""
    with gzip.open(vcf, "rt") as fh:
        ids = pd.read_csv(fh, sep="\t", comment="#", header=None, usecols=[1, 2],
                          names=["pos", "id"], dtype={"id": str})  # fmt: skip
    return ids.set_index("id")["pos"]


def _direct_nominal(example) -> pd.DataFrame:
    df = pd.read_csv(example["direct"], sep=r"\s+", header=None,
                     names=["phenotype_id", "vid", "distance", "ma_samples", "ma_count", "maf",
                            "pval_nominal", "slope", "slope_se"])  # fmt: skip
    df["pos"] = df["vid"].map(_positions(example["data"] / "genotypes.vcf.gz"))
    assert df["pos"].notna().all()
    return df.set_index(["phenotype_id", "pos"]).sort_index()


def _kgpex_nominal(example, mapper: str) -> pd.DataFrame:
    df = pd.read_parquet(example["results"] / mapper / "nominal" / "chr22.parquet")
    df["pos"] = df["variant_id"].str.split(":").str[1].astype(int)
    return df.set_index(["phenotype_id", "pos"]).sort_index()


FIGURES: dict[str, object] = {}


def test_fastqtl_backend_reproduces_direct_run(example):
    direct = _direct_nominal(example)
    ours = _kgpex_nominal(example, "fastqtl")
    FIGURES["pairs (direct fastQTL, kgpex fastqtl)"] = (len(direct), len(ours))
    assert set(direct.index) == set(ours.index), "kgpex's FastQTL pairs differ from the direct run"
    ours = ours.loc[direct.index]
    rel_p = np.abs(ours["pval_nominal"] / direct["pval_nominal"] - 1)
    diff_slope = np.abs(ours["slope"] - direct["slope"])
    FIGURES["fastqtl vs direct: max rel dp, max |dslope|"] = (rel_p.max(), diff_slope.max())
    print(FIGURES)
    # Six significant digits printed by FastQTL: differences only in the last one.
    assert rel_p.max() < 1e-4
    assert diff_slope.max() <= 1e-5 * max(1.0, np.abs(direct["slope"]).max())
    assert (ours["ma_samples"] == direct["ma_samples"]).all()


def test_tensorqtl_backend_agrees_with_fastqtl(example):
    direct = _direct_nominal(example)
    tq = _kgpex_nominal(example, "tensorqtl")
    shared = direct.index.intersection(tq.index)
    FIGURES["pairs (direct, tensorqtl, shared)"] = (len(direct), len(tq), len(shared))
    assert len(shared) >= 0.99 * len(direct)
    a = -np.log10(direct.loc[shared, "pval_nominal"].to_numpy())
    b = -np.log10(tq.loc[shared, "pval_nominal"].to_numpy())
    r = float(np.corrcoef(a, b)[0, 1])
    top_direct = direct["pval_nominal"].groupby(level=0).idxmin().map(lambda i: i[1])
    top_tq = tq["pval_nominal"].groupby(level=0).idxmin().map(lambda i: i[1])
    genes = top_direct.index.intersection(top_tq.index)
    same = float((top_direct[genes] == top_tq[genes]).mean())
    FIGURES["tensorqtl vs fastQTL: -log10 p r, same top variant"] = (r, same, len(genes))
    print(FIGURES)
    assert r >= 0.999
    assert same >= 0.95


def test_permutation_pval_beta_agrees_between_backends(example):
    fq = pd.read_csv(example["results"] / "fastqtl" / "permutations" / "chr22.tsv.gz", sep="\t",
                     index_col="phenotype_id")
    tq = pd.read_csv(example["results"] / "tensorqtl" / "permutations" / "chr22.tsv.gz",
                     sep="\t", index_col="phenotype_id")
    genes = fq.index.intersection(tq.index)
    assert len(genes) >= 0.99 * max(len(fq), len(tq))
    x, y = fq.loc[genes, "pval_beta"].to_numpy(), tq.loc[genes, "pval_beta"].to_numpy()
    r = float(np.corrcoef(x, y)[0, 1])
    r_log = float(np.corrcoef(-np.log10(x), -np.log10(y))[0, 1])
    # Genes whose cis windows hold the same variants in both: FastQTL's MAF counts rounded
    # dosages (its maf = ma_count / 2n), tensorQTL's the mean dosage, so near eqtl.maf the two
    # keep different variants, and a rare strong one changes a gene's permutation test.
    same = (fq.loc[genes, "num_var"] == tq.loc[genes, "num_var"]).to_numpy()
    r_same = float(np.corrcoef(x[same], y[same])[0, 1])
    FIGURES["pval_beta fastqtl vs tensorqtl: r, -log10 r, genes"] = (r, r_log, len(genes))
    FIGURES["pval_beta r on genes with the same variants, genes"] = (r_same, int(same.sum()))
    FIGURES["seconds"] = example["seconds"]
    print(FIGURES)
    assert r_same >= 0.99
    assert r_log >= 0.99
    assert r >= 0.98
