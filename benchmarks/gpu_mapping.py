"""tensorQTL's cis permutation pass on a MAGE-sized synthetic set, on CUDA when torch sees one
(issue 18, item 4). Never run by the tests or CI.

The set is built in memory: --samples individuals (731, as MAGE), --genes genes on one
chromosome (one TSS every 20 kb), --variants-per-window variants in each TSS +- window (1 Mb, the
rule's default), ALT counts 0/1/2 with MAF ~ U(0.01, 0.5), phenotypes with a planted cis effect
for one gene in four, and 20 covariates (5 genotype-like PCs, 15 PEER-like factors). tensorQTL
maps it as rule map_cis_permutations does (kgpex.eqtl.cis.map_permutations): ``cis.map_cis``
with ``maf_threshold`` 0.01, ``nperm`` --permutations (10,000, MAGE's maximum), ``window``,
``seed``, ``warn_monomorphic=False``, ``verbose=False``, torch threads set by
``kgpex.eqtl.inputs.configure_torch``, and the permutation kernel of
``kgpex.eqtl.permutation_kernel`` (``--kernel tensorqtl``: tensorQTL's own). A short warm-up (2 genes, 100 permutations) runs first, so
CUDA start-up and kernel selection are not timed. --genes-subset maps only the first genes and
projects the time to --genes (the per-gene work does not depend on how many genes there are).

Floor. For each gene tensorQTL computes, after residualising on the covariates, the correlations
of the gene's V cis variants with the phenotype and with its P permutations: one product of
(V x N) by (N x (P + 1)) matrices (N samples). In FP32 that is

    ops per gene = 2 x N x V x (P + 1)        (one multiply and one add per term)

(731 x 7,000 x 10,001 x 2 = 102.4 GFLOP). The residualisation (about 4 x N x C x (V + P) with C
covariates), the centring and the max over variants are left out: the floor is what the
correlations alone cost at the card's peak,

    floor per gene = ops per gene / peak FP32 FLOP/s

with the peak from --peak-tflops or from the table PEAK_FP32_TFLOPS (dense FP32 without tensor
cores: torch keeps TF32 off for matmul by default, so FP32 is the right peak) matched against
``torch.cuda.get_device_name``. It prints the time per gene, the floor per gene and their ratio
(how many times the floor tensorQTL takes). On the CPU it needs --peak-tflops for a ratio.

    .venv/bin/python benchmarks/gpu_mapping.py                      # CUDA if torch sees one
    .venv/bin/python benchmarks/gpu_mapping.py --device cpu --genes-subset 10 --threads 2
    python benchmarks/gpu_mapping.py --genes-subset 0               # all 2,000 genes

Environment: torch with CUDA (``torch.version.cuda`` not None) plus tensorqtl and pandas-plink,
e.g. the tensorQTL container (envs/containers.yaml) with kgpex on PYTHONPATH; the .venv's torch is
the CPU wheel.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Peak dense FP32 (non-tensor-core) TFLOP/s, vendor data sheets, boost clock. First match wins:
# longer names first.
PEAK_FP32_TFLOPS = [
    ("H100 PCIe", 51.2),
    ("H100 NVL", 60.0),
    ("H100", 66.9),  # SXM5
    ("H200", 66.9),
    ("H800", 66.9),
    ("GH200", 66.9),
    ("B200", 80.0),
    ("A100", 19.5),
    ("A800", 19.5),
    ("A40", 37.4),
    ("A30", 10.3),
    ("A10G", 31.2),
    ("A10", 31.2),
    ("L40S", 91.6),
    ("L40", 90.5),
    ("L4", 30.3),
    ("RTX 6000 Ada", 91.1),
    ("RTX A6000", 38.7),
    ("RTX 4090", 82.6),
    ("RTX 3090", 35.6),
    ("V100", 15.7),
    ("T4", 8.1),
    ("P100", 9.3),
]

GENE_SPACING = 20_000
N_COVARIATES = 20


def peak_tflops_for(name: str) -> float | None:
    for key, tflops in PEAK_FP32_TFLOPS:
        if key.lower() in name.lower():
            return tflops
    return None


def synthetic_set(
    n_samples: int, n_genes: int, variants_per_window: int, window: int, seed: int
):
    """genotype_df (variants x samples, int8), variant_df, phenotype_df, pos_df, covariates_df."""
    rng = np.random.default_rng(seed)
    chrom = "chr1"
    samples = [f"HG{i:05d}" for i in range(n_samples)]
    first_tss = window + 1
    tss = first_tss + GENE_SPACING * np.arange(n_genes)
    end = int(tss[-1]) + window + 1
    density = variants_per_window / (2 * window)
    n_variants = int(density * end)
    pos = np.sort(rng.choice(np.arange(1, end), n_variants, replace=False))
    maf = rng.uniform(0.01, 0.5, n_variants)
    dosages = (
        rng.random((n_variants, n_samples), dtype=np.float32) < maf[:, None]
    ).astype(np.int8)
    dosages += rng.random((n_variants, n_samples), dtype=np.float32) < maf[:, None]
    variant_ids = [f"{chrom}:{p}:A:G" for p in pos]
    genotype_df = pd.DataFrame(dosages, index=variant_ids, columns=samples)
    variant_df = pd.DataFrame({"chrom": chrom, "pos": pos}, index=variant_ids)

    pcs = rng.standard_normal((n_samples, N_COVARIATES))
    covariates_df = pd.DataFrame(
        pcs, index=samples, columns=[f"C{i + 1}" for i in range(N_COVARIATES)]
    ).astype(np.float32)
    gene_ids = [f"ENSG{i:011d}" for i in range(n_genes)]
    noise = rng.standard_normal((n_genes, n_samples))
    phenotypes = noise + 0.3 * pcs[:, :5].sum(axis=1)[None, :]
    # One gene in four: a cis eQTL at a random variant within 100 kb of the TSS.
    for g in range(0, n_genes, 4):
        lo, hi = np.searchsorted(pos, [tss[g] - 100_000, tss[g] + 100_000])
        v = rng.integers(lo, hi)
        d = dosages[v].astype(np.float64)
        if d.std() > 0:
            phenotypes[g] += 0.5 * (d - d.mean()) / d.std()
    phenotype_df = pd.DataFrame(phenotypes, index=gene_ids, columns=samples).astype(
        np.float32
    )
    pos_df = pd.DataFrame({"chr": chrom, "pos": tss}, index=gene_ids)
    return genotype_df, variant_df, phenotype_df, pos_df, covariates_df


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=731)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--variants-per-window", type=int, default=7000)
    parser.add_argument("--permutations", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=1_000_000)
    parser.add_argument("--maf", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument(
        "--genes-subset",
        type=int,
        default=None,
        help="map only this many genes and project to --genes (0: all; "
        "default: all on CUDA, 20 on the CPU)",
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="peak FP32 TFLOP/s"
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="torch CPU threads (rule: 4)"
    )
    parser.add_argument(
        "--kernel",
        choices=["kgpex", "tensorqtl"],
        default="kgpex",
        help="permutation kernel: kgpex.eqtl.permutation_kernel, as the rules use (default), "
        "or tensorQTL's own calculate_cis_permutations",
    )
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(
            f"--device cuda: torch {torch.__version__} sees no CUDA device "
            f"(torch.version.cuda = {torch.version.cuda})"
        )
    if args.device == "cpu":
        # tensorQTL picks its device itself (cuda whenever available): hide the GPUs.
        torch.cuda.is_available = lambda: False
    on_cuda = torch.cuda.is_available()

    from tensorqtl import cis

    from kgpex.eqtl.inputs import configure_torch
    from kgpex.eqtl.permutation_kernel import fast_permutations

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = configure_torch(args.threads)
    subset = args.genes_subset
    if subset is None:
        subset = 0 if on_cuda else 20
    n_mapped = min(subset, args.genes) if subset else args.genes

    t0 = time.perf_counter()
    genotype_df, variant_df, phenotype_df, pos_df, covariates_df = synthetic_set(
        args.samples, n_mapped, args.variants_per_window, args.window, args.seed
    )
    print(
        f"synthetic set: {args.samples} samples, {n_mapped} genes mapped (of {args.genes}), "
        f"{len(genotype_df):,} variants, {covariates_df.shape[1]} covariates "
        f"({time.perf_counter() - t0:.1f} s)",
        flush=True,
    )

    class Quiet:
        def write(self, message: str) -> None:
            pass

    def map_cis(n_genes: int, nperm: int) -> pd.DataFrame:
        kernel = fast_permutations() if args.kernel == "kgpex" else contextlib.nullcontext()
        with kernel:
            return _map_cis(n_genes, nperm)

    def _map_cis(n_genes: int, nperm: int) -> pd.DataFrame:
        return cis.map_cis(
            genotype_df,
            variant_df,
            phenotype_df.iloc[:n_genes],
            pos_df.iloc[:n_genes],
            covariates_df=covariates_df,
            maf_threshold=args.maf,
            nperm=nperm,
            window=args.window,
            seed=args.seed,
            logger=Quiet(),
            verbose=False,
            warn_monomorphic=False,
        )

    map_cis(min(2, n_mapped), 100)  # warm-up
    if on_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = map_cis(n_mapped, args.permutations)
    if on_cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0

    per_gene = elapsed / len(res)
    mean_variants = float(res["num_var"].mean())
    ops_per_gene = 2.0 * args.samples * mean_variants * (args.permutations + 1)
    peak = args.peak_tflops
    if peak is None and on_cuda:
        peak = peak_tflops_for(torch.cuda.get_device_name(0))
    hits = int((res["pval_beta"] < 0.05 / args.genes).sum())

    print(f"device: {device}; torch {torch.__version__}; permutation kernel: {args.kernel}")
    print(
        f"{len(res)} genes x {args.permutations:,} permutations: {elapsed:.1f} s; "
        f"{mean_variants:,.0f} variants per window tested (mean); "
        f"{hits} genes with pval_beta < 0.05/{args.genes} (planted: one in four)"
    )
    print(f"time per gene: {per_gene * 1e3:.1f} ms")
    print(
        f"projected to {args.genes:,} genes: {per_gene * args.genes:.0f} s "
        f"({per_gene * args.genes / 3600:.2f} h)"
    )
    print(
        f"FP32 ops of the permutation correlations per gene: 2 x {args.samples} x "
        f"{mean_variants:,.0f} x {args.permutations + 1:,} = {ops_per_gene / 1e9:.1f} GFLOP "
        f"(achieved {ops_per_gene / per_gene / 1e12:.2f} TFLOP/s)"
    )
    if peak:
        floor = ops_per_gene / (peak * 1e12)
        print(
            f"floor per gene at {peak:g} TFLOP/s FP32 peak: {floor * 1e3:.2f} ms; "
            f"ratio time / floor: {per_gene / floor:.1f}"
        )
    else:
        print(
            "no peak FP32 figure for this device: pass --peak-tflops for the floor and ratio"
        )


if __name__ == "__main__":
    main()
