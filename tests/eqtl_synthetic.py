"""A tiny synthetic eQTL dataset for the eqtl unit tests: pgen trio, phenotype BED, covariates.

Genotypes come from pgenlib's writer; expression is noise plus planted cis effects, so mapping
results can be checked against a known truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pgenlib


@dataclass
class SyntheticEqtl:
    root: Path
    pgen_prefix: Path
    phenotype_bed: Path
    covariates: Path
    genes: Path
    samples: list[str]
    chrom: str
    variant_ids: list[str]
    causal: dict[str, list[str]] = field(default_factory=dict)  # gene -> causal variant IDs


def write_pgen(prefix: Path, chrom: str, positions, refs, alts, samples, dosages) -> list[str]:
    """Write a biallelic pgen/pvar/psam trio; IDs are chrom:pos:ref:alt."""
    dosages = np.asarray(dosages, dtype=np.int8)
    writer = pgenlib.PgenWriter(f"{prefix}.pgen".encode(), len(samples), dosages.shape[0], False)
    for row in dosages:
        writer.append_biallelic(np.ascontiguousarray(row))
    writer.close()
    ids = [f"{chrom}:{p}:{r}:{a}" for p, r, a in zip(positions, refs, alts)]
    with open(f"{prefix}.pvar", "w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n")
        for p, i, r, a in zip(positions, ids, refs, alts):
            fh.write(f"{chrom}\t{p}\t{i}\t{r}\t{a}\n")
    with open(f"{prefix}.psam", "w") as fh:
        fh.write("#IID\tSEX\n")
        for s in samples:
            fh.write(f"{s}\tNA\n")
    return ids


def make_dataset(root: Path, n_samples: int = 80, n_variants: int = 1000, n_genes: int = 60,
                 seed: int = 7, chrom: str = "chr21", window: int = 100_000,
                 effect: float = 1.0) -> SyntheticEqtl:
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    samples = sorted(f"HG{i:05d}" for i in range(100, 100 + n_samples))
    positions = np.sort(rng.choice(np.arange(10_000, 10_000 + 30 * window), n_variants,
                                   replace=False))
    refs = rng.choice(list("ACGT"), n_variants)
    alts = np.array([rng.choice([b for b in "ACGT" if b != r]) for r in refs])
    freqs = rng.uniform(0.05, 0.6, n_variants)
    # Some ALT alleles are the major allele, so ref_factor is -1 for some variants.
    dosages = rng.binomial(2, freqs[:, None], size=(n_variants, n_samples))
    dosages[0] = 0  # a monomorphic variant, which tensorQTL drops
    prefix = root / chrom
    variant_ids = write_pgen(prefix, chrom, positions, refs, alts, samples, dosages)

    tss = np.sort(rng.choice(np.arange(positions[5], positions[-5]), n_genes, replace=False))
    gene_ids = [f"ENSG{i:011d}.1" for i in range(1, n_genes + 1)]
    covar = pd.DataFrame({
        "PC1": rng.normal(size=n_samples), "PC2": rng.normal(size=n_samples),
        "sex": rng.integers(1, 3, n_samples).astype(float),
    }, index=samples)
    expr = rng.normal(size=(n_genes, n_samples)) + 0.3 * covar["PC1"].to_numpy()
    causal: dict[str, list[str]] = {}
    for k in range(0, n_genes, 3):  # genes 1, 4, 7, ...: one or two causal variants
        near = np.where(np.abs(positions - tss[k]) < window // 2)[0]
        near = near[(dosages[near].std(axis=1) > 0.3)]
        picks = rng.choice(near, 2 if k % 2 == 0 else 1, replace=False)
        for j in picks:
            g = dosages[j] - dosages[j].mean()
            expr[k] += effect * g / g.std()
        causal[gene_ids[k]] = [variant_ids[j] for j in picks]
    bed = pd.DataFrame({"#Chr": chrom, "start": tss - 1, "end": tss, "ID": gene_ids})
    bed = pd.concat([bed, pd.DataFrame(expr, columns=samples)], axis=1)
    bed_path = root / "phenotypes.bed.gz"
    bed.to_csv(bed_path, sep="\t", index=False, compression="gzip")
    cov_path = root / "covariates.tab.gz"
    covar.T.rename_axis("id").reset_index().to_csv(cov_path, sep="\t", index=False,
                                                   compression="gzip")
    genes = pd.DataFrame({
        "gene_id": gene_ids, "gene_name": [f"GENE{i}" for i in range(1, n_genes + 1)],
        "gene_type": "protein_coding", "chrom": chrom, "start": tss - 500, "end": tss + 500,
        "strand": "+", "tss": tss,
    })
    genes.loc[1, ["start", "end", "strand"]] = [tss[1] - 1000, tss[1], "-"]
    genes_path = root / "genes.tsv"
    genes.to_csv(genes_path, sep="\t", index=False)
    return SyntheticEqtl(root, prefix, bed_path, cov_path, genes_path, samples, chrom,
                         variant_ids, causal)
