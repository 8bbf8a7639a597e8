"""The eQTL figure for the Snakemake report: p-value calibration and eGene counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kgpex.common.genome import chrom_rank
from kgpex.common.io import atomic_path


def plot_cis_overview(cis_genes: pd.DataFrame, gene_chroms: pd.Series, fdr: float, dest,
                      title: str = "") -> None:
    """QQ plot and histogram of pval_beta, and genes tested / eGenes per chromosome.

    ``gene_chroms`` maps phenotype_id to chromosome.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = np.sort(cis_genes["pval_beta"].dropna().to_numpy())
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    if len(p):
        expected = -np.log10((np.arange(1, len(p) + 1) - 0.5) / len(p))
        observed = -np.log10(np.clip(p, 1e-300, 1))
        ax.scatter(expected, observed, s=6)
        lim = expected.max()
        ax.plot([0, lim], [0, lim], color="grey", lw=1)
    ax.set(xlabel="expected -log10 p", ylabel="observed -log10 pval_beta",
           title="QQ plot of gene-level p-values")
    ax = axes[1]
    ax.hist(p, bins=np.linspace(0, 1, 21), color="tab:blue", edgecolor="white")
    ax.set(xlabel="pval_beta", ylabel="genes", title="Gene-level p-values (uniform under null)")
    ax = axes[2]
    chroms = cis_genes["phenotype_id"].map(gene_chroms)
    counts = pd.DataFrame({
        "tested": chroms.value_counts(),
        "eGenes": chroms[cis_genes["qval"] <= fdr].value_counts(),
    }).fillna(0)
    counts = counts.iloc[np.argsort(chrom_rank(pd.Series(counts.index)).to_numpy())]
    x = np.arange(len(counts))
    ax.bar(x - 0.2, counts["tested"], width=0.4, label="genes tested")
    ax.bar(x + 0.2, counts["eGenes"], width=0.4, label=f"eGenes (q <= {fdr:g})")
    ax.set_xticks(x, counts.index, rotation=90)
    ax.set(ylabel="genes", title=f"{int(counts['eGenes'].sum())} eGenes of "
                                 f"{int(counts['tested'].sum())} genes tested")
    ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(dest, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
