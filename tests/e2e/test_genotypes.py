"""Genotype stage on the demo cohort: pgen samples and order, genotypes against the VCF, PCs."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kgpex.common import config as common_config
from kgpex.genotypes.variants import variant_id
from kgpex.samples import sheets

ROOT = Path(__file__).resolve().parents[2]
CONFIG = common_config.validate_config(
    copy.deepcopy(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
)
GENOTYPES = CONFIG["genotypes"]
INDIVIDUALS = sheets.load_sheets(ROOT / CONFIG["samples"]["individuals"], ROOT / CONFIG["samples"]["runs"]).individuals
COHORT = sorted(INDIVIDUALS)

pytestmark = pytest.mark.e2e


def read_pvar(prefix: Path) -> pd.DataFrame:
    with open(f"{prefix}.pvar") as fh:
        skip = sum(1 for line in fh if line.startswith("##"))
    return pd.read_csv(f"{prefix}.pvar", sep="\t", skiprows=skip, dtype={"POS": int})


def read_dosages(prefix: Path, n_variants: int) -> np.ndarray:
    import pgenlib

    reader = pgenlib.PgenReader(f"{prefix}.pgen".encode())
    assert reader.get_variant_ct() == n_variants
    geno = np.empty((n_variants, reader.get_raw_sample_ct()), dtype=np.int32)
    reader.read_range(0, n_variants, geno)
    return geno


@pytest.mark.parametrize("chrom", GENOTYPES["chromosomes"])
def test_pgen_holds_exactly_the_cohort_sorted(demo_run, chrom):
    psam = pd.read_csv(demo_run / "genotypes" / f"{chrom}.psam", sep="\t", dtype=str)
    assert psam["#IID"].tolist() == COHORT
    sex = {"male": "1", "female": "2"}
    assert psam["SEX"].tolist() == [sex[INDIVIDUALS[i]["sex"]] for i in COHORT]


@pytest.mark.parametrize("chrom", GENOTYPES["chromosomes"])
def test_genotypes_match_the_vcf(demo_run, chrom):
    import pysam

    prefix = demo_run / "genotypes" / chrom
    pvar = read_pvar(prefix)
    assert len(pvar) > 100
    assert (pvar["#CHROM"] == chrom).all()
    assert pvar["ID"].is_unique
    max_len = GENOTYPES["id_max_allele_len"]
    assert pvar["ID"].tolist() == [
        variant_id(c, p, r, a, max_len)
        for c, p, r, a in pvar[["#CHROM", "POS", "REF", "ALT"]].itertuples(index=False)
    ]
    geno = read_dosages(prefix, len(pvar))
    # In-sample MAF filter held on every variant written.
    af = geno.sum(axis=1) / (2 * geno.shape[1])
    assert (np.minimum(af, 1 - af) >= GENOTYPES["maf"] - 1e-12).all()

    rng = np.random.default_rng(0)
    picked = sorted(rng.choice(len(pvar), size=min(300, len(pvar)), replace=False))
    with pysam.VariantFile(str(demo_run / "genotypes" / "vcf" / f"{chrom}.vcf.gz")) as vcf:
        vcf.subset_samples(COHORT)
        order = [list(vcf.header.samples).index(s) for s in COHORT]
        for i in picked:
            row = pvar.iloc[i]
            records = [
                r
                for r in vcf.fetch(chrom, row["POS"] - 1, row["POS"])
                if r.pos == row["POS"] and r.ref == row["REF"] and r.alts == (row["ALT"],)
            ]
            assert len(records) == 1, row["ID"]
            samples = list(records[0].samples.values())
            expected = []
            for j in order:
                alleles = samples[j]["GT"]
                assert samples[j].phased
                if chrom == "chrX" and len(alleles) == 1:
                    alleles = alleles * 2  # males outside the PARs: diploid homozygous
                expected.append(sum(alleles))
            assert geno[i].tolist() == expected, row["ID"]


def test_genotype_pcs_table(demo_run):
    pcs = pd.read_csv(
        demo_run / "covariates" / "genotype_pcs.tsv", sep="\t", dtype={"sample_id": str}
    )
    n_pcs = min(GENOTYPES["pca"]["n_pcs"], len(COHORT) - 1)
    assert pcs.columns.tolist() == ["sample_id"] + [f"PC{i}" for i in range(1, n_pcs + 1)]
    assert pcs["sample_id"].tolist() == COHORT
    values = pcs.drop(columns="sample_id").to_numpy()
    assert np.isfinite(values).all()
    # plink2 PCs are orthogonal unit-length sample vectors (up to rounding to 6 digits).
    gram = values.T @ values
    assert np.allclose(np.diag(gram), 1, atol=1e-3)
    assert np.allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-3)
    assert (demo_run / "covariates" / "genotype_pcs.png").read_bytes()[:4] == b"\x89PNG"
