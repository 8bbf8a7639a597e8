"""The eQTL figure for the Snakemake report: p-value calibration and eGene counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kgpex.common import plotting
from kgpex.common.genome import chrom_rank


def plot_cis_overview(cis_genes: pd.DataFrame, gene_chroms: pd.Series, fdr: float, dest,
                      title: str = "") -> None:
    """QQ plot and histogram of pval_beta, and genes tested / eGenes per chromosome.

    ``gene_chroms`` maps phenotype_id to chromosome.
    """
    plt = plotting.pyplot()
    p = np.sort(cis_genes["pval_beta"].dropna().to_numpy())
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    plotting.draw_qq(ax, p)
    plotting.label_axes(ax, x=("expected -log10 p", ""), y=("observed -log10 pval_beta", ""),
                        title="QQ plot of gene-level p-values")
    ax.legend(loc="upper left")
    ax = axes[1]
    ax.hist(p, bins=np.linspace(0, 1, 21), color=plotting.ACCENT, edgecolor="white")
    plotting.label_axes(ax, x=("pval_beta", ""), y=("genes", "count"),
                        title="Gene-level p-values (uniform under null)")
    ax = axes[2]
    chroms = cis_genes["phenotype_id"].map(gene_chroms)
    counts = pd.DataFrame({
        "tested": chroms.value_counts(),
        "eGenes": chroms[cis_genes["qval"] <= fdr].value_counts(),
    }).fillna(0)
    counts = counts.iloc[np.argsort(chrom_rank(pd.Series(counts.index)).to_numpy())]
    x = np.arange(len(counts))
    ax.bar(x - 0.2, counts["tested"], width=0.4, color=plotting.MUTED, label="genes tested")
    ax.bar(x + 0.2, counts["eGenes"], width=0.4, color=plotting.ACCENT,
           label=f"eGenes (q <= {fdr:g})")
    ax.set_xticks(x, counts.index, rotation=90)
    plotting.label_axes(ax, x=("chromosome", ""), y=("genes", "count"),
                        title=f"{int(counts['eGenes'].sum())} eGenes of "
                              f"{int(counts['tested'].sum())} genes tested")
    ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plotting.save_figure(fig, dest)
