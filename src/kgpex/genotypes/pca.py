"""Genotype PCs with plink2 (MAF filter and optional LD pruning set by the config) and their plot."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.genotypes.plink import read_psam_ids, run_plink2

log = logging.getLogger(__name__)


PCA_MIN_SAMPLES_FOR_LD = 50  # plink2 refuses LD and frequency estimates below this without flags


def genotype_pcs(
    pfile_prefixes: list[str | os.PathLike],
    individuals: list[str],
    out_tsv: str | os.PathLike,
    n_pcs: int = 20,
    maf: float = 0.05,
    indep_pairwise: tuple[float, float, float] | None = (200, 50, 0.2),
    threads: int = 1,
    memory_mb: int = 4000,
):
    """PCs of common autosomal variants; write ``sample_id PC1..PCk``, return the table.

    Per chromosome: ``plink2 --maf`` then ``--indep-pairwise`` (window in variants, step, r²);
    with ``indep_pairwise=None`` no pruning, every variant with MAF >= ``maf`` (MAGE's
    ``plink --pca 20 --maf 0.01``). The kept sets are merged and ``plink2 --pca k`` runs. k is
    ``n_pcs`` clamped to samples - 1 and to the number of kept variants (logged). Returns
    (table, eigenvalues).
    """
    import pandas as pd

    from kgpex.common.io import write_table

    if not pfile_prefixes:
        raise KgpexError("genotype PCs need at least one autosome (genotypes.chromosomes)")
    samples = sorted(individuals)
    out_tsv = Path(out_tsv)
    out_tsv.parent.mkdir(parents=True, exist_ok=True)
    prune = indep_pairwise is not None
    if prune:
        window, step, r2 = indep_pairwise
        window, step = int(window), int(step)
    kept_by = "MAF >= %s and LD pruning" if prune else "MAF >= %s (no LD pruning)"
    small = len(samples) < PCA_MIN_SAMPLES_FOR_LD
    if small:
        log.warning(
            "%d samples (< %d): LD and allele frequencies are estimated anyway (--bad-ld, --bad-freqs)",
            len(samples),
            PCA_MIN_SAMPLES_FOR_LD,
        )
    small_flags = ["--bad-ld"] if small else []
    with tempfile.TemporaryDirectory(prefix=".genotype_pcs.", dir=out_tsv.parent) as tmp:
        tmp = Path(tmp)
        pruned = []
        n_kept = 0
        for prefix in pfile_prefixes:
            name = Path(prefix).name
            psam_ids = read_psam_ids(Path(f"{prefix}.psam"))
            if psam_ids != samples:
                raise KgpexError(f"{prefix}.psam: samples differ from the cohort's individuals")
            if not prune:
                run_plink2(
                    ["--pfile", str(prefix), "--maf", repr(maf), "--make-pgen"],
                    tmp / f"pruned_{name}",
                    threads,
                    memory_mb,
                )
                pvar = tmp / f"pruned_{name}.pvar"
                n_in = sum(1 for line in open(pvar) if not line.startswith("#"))
                log.info("%s: %d variants kept after " + kept_by, name, n_in, maf)
                if n_in == 0:
                    continue
            else:
                run_plink2(
                    [
                        "--pfile",
                        str(prefix),
                        "--maf",
                        repr(maf),
                        "--indep-pairwise",
                        str(window),
                        str(step),
                        repr(float(r2)),
                        *small_flags,
                    ],
                    tmp / name,
                    threads,
                    memory_mb,
                )
                prune_in = tmp / f"{name}.prune.in"
                n_in = sum(1 for _ in open(prune_in)) if prune_in.exists() else 0
                log.info("%s: %d variants kept after " + kept_by, name, n_in, maf)
                if n_in == 0:
                    continue
                run_plink2(
                    ["--pfile", str(prefix), "--extract", str(prune_in), "--make-pgen"],
                    tmp / f"pruned_{name}",
                    threads,
                    memory_mb,
                )
            pruned.append(tmp / f"pruned_{name}")
            n_kept += n_in
        if n_kept < 2:
            raise KgpexError(
                f"genotype PCs: only {n_kept} variant(s) with MAF >= {maf} left"
                + (" after LD pruning" if prune else "")
            )
        merged = pruned[0]
        if len(pruned) > 1:
            merge_list = tmp / "merge_list.txt"
            merge_list.write_text("".join(f"{p}\n" for p in pruned))
            merged = tmp / "merged"
            run_plink2(
                ["--pmerge-list", str(merge_list), "pfile", "--make-pgen"],
                merged,
                threads,
                memory_mb,
            )
        k = min(n_pcs, len(samples) - 1, n_kept - 1)
        if k < n_pcs:
            log.warning(
                "genotype PCs: %d requested, %d computed (%d samples, %d variants)",
                n_pcs,
                k,
                len(samples),
                n_kept,
            )
        if k < 1:
            raise KgpexError(f"genotype PCs: {len(samples)} samples are too few for a PCA")
        freq_flags = ["--bad-freqs"] if small else []
        run_plink2(
            ["--pfile", str(merged), "--pca", str(k), *freq_flags], tmp / "pca", threads, memory_mb
        )
        vec = pd.read_csv(tmp / "pca.eigenvec", sep="\t", dtype={"#IID": str, "IID": str})
        id_col = "IID" if "IID" in vec.columns else "#IID"
        table = vec.rename(columns={id_col: "sample_id"}).set_index("sample_id")
        table = table[[f"PC{i}" for i in range(1, k + 1)]]
        if sorted(table.index) != samples:
            raise KgpexError(
                f"{tmp / 'pca.eigenvec'}: samples differ from the cohort's individuals"
            )
        table = table.loc[samples]
        eigenvalues = [float(x) for x in (tmp / "pca.eigenval").read_text().split()]
    total = sum(eigenvalues)
    log.info(
        "genotype PCs from %d variants: eigenvalues %s",
        n_kept,
        ", ".join(f"PC{i + 1}={v:.3g}" for i, v in enumerate(eigenvalues)),
    )
    if total <= 0:
        raise KgpexError("genotype PCs: all eigenvalues are zero (no genetic variation)")
    write_table(table, out_tsv, float_format="%.6g")
    return table, eigenvalues


def plot_genotype_pcs(
    table,
    populations: dict[str, str],
    dest: str | os.PathLike,
    eigenvalues=None,
    groups: dict[str, str] | None = None,
):
    """PC1 against PC2, one colour per population, written atomically to ``dest`` (PNG).

    Populations are shades of their continental group's colour (kgpex.common.plotting);
    ``groups`` maps population -> continental group (individuals.tsv), else 1000 Genomes' own
    table places them. With ``eigenvalues``, axis labels give each PC's share of the variance
    among those computed.
    """
    from kgpex.common import plotting

    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    pops = [str(populations.get(s, plotting.UNKNOWN)) for s in table.index]
    colours = plotting.population_colours(groups, pops)
    markers = plotting.population_markers(groups, pops)
    y = table["PC2"] if "PC2" in table.columns else [0.0] * len(table)
    group_of = plotting.population_groups(groups, pops)
    for pop in plotting.population_order(groups, pops):
        mask = [p == pop for p in pops]
        if not any(mask):
            continue
        ax.scatter(
            table["PC1"][mask],
            [v for v, m in zip(y, mask) if m],
            s=16,
            alpha=0.9,
            color=colours[pop],
            marker=markers[pop],
            label=f"{group_of[pop]} · {pop} ({sum(mask)})",
        )
    share = (
        [100 * v / sum(eigenvalues) for v in eigenvalues]
        if eigenvalues and sum(eigenvalues) > 0
        else []
    )
    # A PC score has no unit: its share of the variance is what the axis can say.
    labels = [
        (f"PC{i + 1}", f"{share[i]:.1f} % of variance" if i < len(share) else "")
        for i in range(2)
    ]
    plotting.label_axes(
        ax,
        x=labels[0],
        y=labels[1] if "PC2" in table.columns else ("(no PC2)", ""),
        title=f"Genotype PCs, {len(table)} individuals",
    )
    plotting.legend_outside(ax, title="population", ncol=2 if len(set(pops)) > 13 else 1)
    fig.tight_layout()
    plotting.save_figure(fig, dest)
