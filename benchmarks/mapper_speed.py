"""Time the cis-mapping stage of both backends (tensorQTL, FastQTL) on the same inputs.

Datasets:
- ``demo``: the demo cohort's inputs under results/DEMO (run ``make demo`` first);
- ``synthetic``: generated here with numpy (default 500 samples, 2,000 genes, about 5,000
  variants in each TSS +- window, 66 covariates like MAGE-sized GTEx settings), written as a
  pgen trio (pgenlib), a tabixed phenotype BED and a covariates file.

Each backend maps the permutation pass (tensorQTL: ``eqtl.permutations`` fixed permutations;
FastQTL: adaptive ``eqtl.fastqtl.permute``) and, unless ``--skip-nominal``, the nominal pass, with
the same core budget: tensorQTL with ``--threads`` torch threads, FastQTL as ``--threads``
parallel chunk jobs. FastQTL's input preparation (per-chromosome BED, VCF export) is timed apart.
The printed ratio is tensorQTL time / FastQTL time per pass (below 1: tensorQTL is faster).

    PYTHONPATH=src .venv/bin/python benchmarks/mapper_speed.py --dataset both --threads 1
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # mapper_comparison

import mapper_comparison  # noqa: E402

from kgpex.common.io import write_bgzip_indexed  # noqa: E402
from kgpex.covariates.assemble import write_covariates  # noqa: E402
from kgpex.eqtl import cis as eqtl_cis
from kgpex.eqtl import inputs as eqtl_inputs  # noqa: E402
from kgpex.fastqtl import run as fastqtl_run

log = logging.getLogger("mapper_speed")

TARGET_SPEEDUP = 10.0
MAGE_SCALE = {"samples": 731, "genes": 20_000, "variants": 7_000}


def mage_thread_hours(seconds: float, genes: int, threads: int, samples: int,
                      variants: int) -> float:
    """Thread-hours of a pass at MAGE's scale, from ``seconds`` for ``genes`` genes on
    ``threads`` threads: both mappers' permutation work grows as samples x variants per gene."""
    per_gene = seconds * threads / genes
    scale = (MAGE_SCALE["samples"] / samples) * (MAGE_SCALE["variants"] / variants)
    return per_gene * scale * MAGE_SCALE["genes"] / 3600


def synthetic_dataset(
    out: Path, n_samples: int, n_genes: int, variants_per_window: int, window: int, seed: int
) -> dict:
    """One chromosome of random genotypes, genes with planted cis effects, 66 covariates."""
    import pgenlib

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    chrom = "chr1"
    samples = sorted(f"HG{i:05d}" for i in range(n_samples))
    gene_span = 20_000 * n_genes  # one TSS per 20 kb
    length = gene_span + 2 * window
    n_variants = int(variants_per_window / (2 * window) * length)
    pos = np.sort(rng.choice(np.arange(1, length), n_variants, replace=False))
    maf = rng.uniform(0.01, 0.5, n_variants)
    alt_major = rng.random(n_variants) < 0.3
    af = np.where(alt_major, 1 - maf, maf)
    prefix = out / chrom
    writer = pgenlib.PgenWriter(f"{prefix}.pgen".encode(), n_samples, n_variants, False)
    geno = np.empty((n_variants, n_samples), dtype=np.int8)
    for start in range(0, n_variants, 10_000):
        block = rng.binomial(
            2, af[start : start + 10_000, None], (len(af[start : start + 10_000]), n_samples)
        )
        geno[start : start + len(block)] = block
        for row in block.astype(np.int8):
            writer.append_biallelic(np.ascontiguousarray(row))
    writer.close()
    ids = [f"{chrom}:{p}:A:G" for p in pos]
    with open(f"{prefix}.pvar", "w") as fh:
        fh.write("#CHROM\tPOS\tID\tREF\tALT\n")
        fh.writelines(f"{chrom}\t{p}\t{i}\tA\tG\n" for p, i in zip(pos, ids))
    with open(f"{prefix}.psam", "w") as fh:
        fh.write("#IID\tSEX\n")
        fh.writelines(f"{s}\t{1 + k % 2}\n" for k, s in enumerate(samples))

    covariates = pd.DataFrame(
        rng.normal(size=(n_samples, 66)),
        index=samples,
        columns=[f"PC{i}" for i in range(1, 6)]
        + [f"InvNorm_PC{i}" for i in range(1, 61)]
        + ["sex"],
    )
    covariates["sex"] = rng.integers(1, 3, n_samples)
    tss = window + 20_000 * np.arange(n_genes) + rng.integers(0, 20_000, n_genes)
    expr = (
        rng.normal(size=(n_genes, n_samples)) + 0.2 * covariates.iloc[:, :3].sum(axis=1).to_numpy()
    )
    # Half the genes carry a cis-eQTL explaining 2-20% of their variance.
    for g in np.flatnonzero(rng.random(n_genes) < 0.5):
        lo, hi = np.searchsorted(pos, [tss[g] - 100_000, tss[g] + 100_000])
        j = rng.integers(lo, hi)
        x = geno[j] - geno[j].mean()
        if x.std() > 0:
            r2 = rng.uniform(0.02, 0.2)
            expr[g] += np.sqrt(r2 / (1 - r2)) * x / x.std()
    genes = [f"ENSG{g:011d}.1" for g in range(n_genes)]
    bed = pd.DataFrame(expr, columns=samples)
    bed.insert(0, "ID", genes)
    bed.insert(0, "end", tss)
    bed.insert(0, "start", tss - 1)
    bed.insert(0, "#Chr", chrom)
    bed_path = out / "phenotypes.bed.gz"
    write_bgzip_indexed(bed, bed_path, 0, 1, 2, zerobased=True, header_prefix="#")
    cov_path = out / "covariates.tab.gz"
    table = covariates.T.rename_axis("id").reset_index()
    write_covariates(table, cov_path)
    in_windows = np.searchsorted(pos, tss + window, "right") - np.searchsorted(pos, tss - window)
    log.info("synthetic: %d samples, %d genes, %d variants, median %d variants per cis window",
             n_samples, n_genes, n_variants, int(np.median(in_windows)))  # fmt: skip
    return {"bed": bed_path, "covariates": cov_path, "chroms": {chrom: prefix},
            "median_cis_variants": int(np.median(in_windows))}  # fmt: skip


def demo_dataset() -> dict:
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    tag = f"{config['cohort']}.{config['release']}"
    results = ROOT / "results" / config["cohort"]
    quants = results / "QTL_results" / "eQTL_results" / "expression_quants"
    data = {
        "bed": quants / f"inverse_normal_TMM.filtered.TSS.{tag}.bed.gz",
        "covariates": quants / "eQTL_covariates.tab.gz",
        "chroms": {c: results / "genotypes" / c for c in config["genotypes"]["chromosomes"]},
    }
    needed = [data["bed"], data["covariates"]] + [
        Path(f"{p}.pgen") for p in data["chroms"].values()
    ]
    absent = [str(p) for p in needed if not p.exists()]
    if absent:
        raise SystemExit(f"demo inputs missing (run `make demo` first): {', '.join(absent)}")
    return data


def time_tensorqtl(
    data: dict, settings: dict, threads: int, nominal: bool
) -> tuple[dict, pd.DataFrame]:
    eqtl_inputs.configure_torch(threads)
    timings = {"permutations": 0.0, "nominal": 0.0}
    tables = []
    for chrom, prefix in data["chroms"].items():
        start = time.perf_counter()
        inputs = eqtl_inputs.load_inputs(data["bed"], data["covariates"], prefix, chrom)
        if len(inputs.phenotype_df) == 0:
            continue
        tables.append(eqtl_cis.map_permutations(inputs, settings["window"], settings["maf"],
                                           settings["nperm"], settings["seed"]))  # fmt: skip
        timings["permutations"] += time.perf_counter() - start
        if nominal:
            start = time.perf_counter()
            eqtl_cis.map_nominal(inputs, settings["window"], settings["maf"])
            timings["nominal"] += time.perf_counter() - start
    return timings, pd.concat(tables, ignore_index=True)


def time_fastqtl(data: dict, settings: dict, threads: int, nominal: bool, workdir: Path):
    timings = {"prepare": 0.0, "permutations": 0.0, "nominal": 0.0}
    tables = []
    for chrom, prefix in data["chroms"].items():
        if chrom not in set(pd.read_csv(data["bed"], sep="\t", usecols=[0]).iloc[:, 0]):
            continue
        step = {}
        out = fastqtl_run.map_chromosome(
            prefix, data["bed"], data["covariates"], chrom, workdir,
            window=settings["window"], maf=settings["maf"], seed=settings["seed"],
            permute=settings["permute"], n_chunks=settings["chunks"],
            workers=threads, nominal=nominal, timings=step,
        )  # fmt: skip
        for key, value in step.items():
            timings[key] += value
        tables.append(pd.read_csv(out["permutations"], sep="\t"))
    return timings, pd.concat(tables, ignore_index=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["demo", "synthetic", "both"], default="both")
    parser.add_argument("--threads", type=int, default=1, help="core budget of each backend")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "mapper_speed")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--variants-per-window", type=int, default=5000)
    parser.add_argument("--window", type=int, default=1_000_000)
    parser.add_argument("--maf", type=float, default=0.01)
    parser.add_argument("--nperm", type=int, default=10_000, help="tensorQTL permutations")
    parser.add_argument(
        "--permute", type=int, nargs=2, default=[1000, 10_000], help="FastQTL adaptive"
    )
    parser.add_argument(
        "--chunks", type=int, default=None, help="FastQTL chunks (default: threads)"
    )
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--skip-nominal", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("kgpex.eqtl", "kgpex.fastqtl"):  # tensorQTL progress, plink2 logs
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = {"window": args.window, "maf": args.maf, "nperm": args.nperm, "seed": args.seed,
                "permute": args.permute, "chunks": args.chunks or args.threads}  # fmt: skip
    datasets = ["demo", "synthetic"] if args.dataset == "both" else [args.dataset]
    report = {}
    for name in datasets:
        workdir = args.out / name
        if name == "demo":
            data = demo_dataset()
        else:
            data = synthetic_dataset(workdir / "inputs", args.samples, args.genes,
                                     args.variants_per_window, args.window, args.seed)  # fmt: skip
        t_tq, tab_tq = time_tensorqtl(data, settings, args.threads, not args.skip_nominal)
        t_fq, tab_fq = time_fastqtl(
            data, settings, args.threads, not args.skip_nominal, workdir / "fastqtl"
        )
        agreement = mapper_comparison.compare_top_variants(tab_tq, tab_fq)
        report[name] = {
            "tensorqtl_s": t_tq,
            "fastqtl_s": t_fq,
            "genes": len(tab_tq),
            "agreement": agreement,
        }
        print(f"\n== {name}: {len(tab_tq)} genes, {args.threads} thread(s); tensorQTL {args.nperm} "
              f"permutations, FastQTL adaptive {args.permute[0]}-{args.permute[1]}")  # fmt: skip
        print(f"{'pass':<14}{'tensorQTL s':>12}{'FastQTL s':>12}{'ratio tQ/FQ':>13}")
        for step in ["permutations"] + ([] if args.skip_nominal else ["nominal"]):
            ratio = t_tq[step] / t_fq[step] if t_fq[step] else float("nan")
            print(f"{step:<14}{t_tq[step]:>12.1f}{t_fq[step]:>12.1f}{ratio:>13.3f}")
        print(
            f"{'FastQTL prep':<14}{'':>12}{t_fq['prepare']:>12.1f}"
            "   (per-chromosome BED + VCF export)"
        )
        print(f"agreement: same top variant {agreement['same_top_variant']:.3f} of "
              f"{agreement['genes']} genes; Pearson r of -log10 pval_beta "
              f"{agreement['pearson_log10_pval_beta']:.4f}")  # fmt: skip
        speedup = t_fq["permutations"] / t_tq["permutations"]
        print(f"permutation pass: tensorQTL {speedup:.1f}x faster than FastQTL "
              f"(target >= {TARGET_SPEEDUP:.0f}x: {'met' if speedup >= TARGET_SPEEDUP else 'missed'})")
        if name == "synthetic":
            for mapper, seconds in (("tensorQTL", t_tq), ("FastQTL", t_fq)):
                hours = mage_thread_hours(seconds["permutations"], len(tab_tq), args.threads,
                                          args.samples, args.variants_per_window)
                print(f"projected MAGE permutation pass ({MAGE_SCALE['samples']} samples, "
                      f"{MAGE_SCALE['genes']:,} genes, {MAGE_SCALE['variants']:,} variants per "
                      f"window), {mapper}: {hours:.0f} thread-hours")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
