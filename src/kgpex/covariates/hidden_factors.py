"""Hidden expression factors, the PEER substitute: PCs of the inverse-normal matrix, their count by
GTEx's rule or the config, and a plot of the variance they explain."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path

log = logging.getLogger(__name__)


HIDDEN_FACTOR_PREFIX = "InvNorm_PC"

# Below this many residual degrees of freedom the clamp still allows the model, but warns.
LOW_RESIDUAL_DOF = 10


def gtex_hidden_factor_count(n_samples: int) -> int:
    """GTEx's number of PEER factors for ``n_samples``: 15 (<150), 30 (<250), 45 (<350), 60."""
    if n_samples < 150:
        return 15
    if n_samples < 250:
        return 30
    if n_samples < 350:
        return 45
    return 60


def hidden_factor_count(setting, n_samples: int, n_genes: int, n_other_covariates: int) -> int:
    """How many expression PCs to use: the configured number, clamped to what the data allow.

    ``setting`` is "auto" (GTEx's rule) or an integer. PCA of a centred matrix has at most
    min(n_genes, n_samples - 1) components, and the regression of FastQTL/tensorQTL needs
    n_samples - 2 - n_covariates >= 1 residual degrees of freedom.
    """
    if setting == "auto":
        wanted = gtex_hidden_factor_count(n_samples)
        log.info("hidden factors: GTEx rule for %d samples gives %d", n_samples, wanted)
    elif isinstance(setting, int) and not isinstance(setting, bool) and setting >= 0:
        wanted = setting
    else:
        raise KgpexError(
            f"config covariates.hidden_factors: expected 'auto' or a count >= 0, got {setting!r}"
        )
    rank_limit = max(min(n_genes, n_samples - 1), 0)
    dof_limit = max(n_samples - 3 - n_other_covariates, 0)
    count = min(wanted, rank_limit, dof_limit)
    if count < wanted:
        log.warning(
            "hidden factors: %d wanted, clamped to %d (%d samples, %d genes, %d other covariates:"
            " at most %d expression PCs, at most %d covariates in total for 1 residual dof)",
            wanted, count, n_samples, n_genes, n_other_covariates, rank_limit,
            n_samples - 3,
        )  # fmt: skip
    if count > n_genes / 10:
        # PCs of few genes are close to the genes themselves: they absorb cis-genetic signal.
        log.warning("hidden factors: %d PCs of only %d genes may absorb cis-eQTL signal",
                    count, n_genes)  # fmt: skip
    dof = n_samples - 2 - n_other_covariates - count
    if dof < LOW_RESIDUAL_DOF:
        log.warning("only %d residual degrees of freedom left for the eQTL regression", dof)
    return count


def read_expression_bed(path: str | Path) -> pd.DataFrame:
    """The phenotype matrix of a ``#Chr start end ID <samples>`` BED as genes x samples."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: expression BED not found")
    df = pd.read_csv(path, sep="\t", dtype={0: str})
    if list(df.columns[:4]) != ["#Chr", "start", "end", "ID"]:
        raise KgpexError(
            f"{path} line 1: header must start '#Chr start end ID', got {list(df.columns[:4])}"
        )
    samples = list(df.columns[4:])
    if not samples:
        raise KgpexError(f"{path} line 1: no sample columns")
    _check_unique(samples, f"{path} line 1: sample")
    _check_unique(df["ID"].tolist(), f"{path}: gene ID")
    matrix = df.set_index("ID")[samples]
    try:
        matrix = matrix.astype(float)
    except ValueError as err:
        raise KgpexError(f"{path}: non-numeric expression value ({err})") from None
    bad = matrix.index[~np.isfinite(matrix.to_numpy()).all(axis=1)]
    if len(bad):
        raise KgpexError(f"{path}: gene {bad[0]} has missing or infinite values")
    return matrix


def _check_unique(values: list[str], what: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise KgpexError(f"{what} '{value}' appears twice")
        seen.add(value)


def expression_pcs(expression: pd.DataFrame, n_factors: int) -> tuple[pd.DataFrame, pd.Series]:
    """Principal components of a genes x samples matrix, genes centred and scaled.

    Returns the scores of the first ``n_factors`` PCs (samples x factors, columns
    ``InvNorm_PC1..``) and the fraction of variance explained by every PC. Signs are fixed
    so that each PC's largest gene loading is positive: the same input gives the same factors.
    """
    x = expression.to_numpy(dtype=float).T  # samples x genes
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    x = x / np.where(sd > 0, sd, 1.0)  # constant genes stay 0 instead of dividing by 0
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1.0
    scores = u * s * signs
    total = float((s**2).sum())
    explained = (s**2) / total if total > 0 else np.zeros_like(s)
    names = [f"{HIDDEN_FACTOR_PREFIX}{i}" for i in range(1, len(s) + 1)]
    factors = pd.DataFrame(
        scores[:, :n_factors], index=expression.columns, columns=names[:n_factors]
    )
    factors.index.name = "sample_id"
    return factors, pd.Series(explained, index=names, name="variance_explained")


def plot_variance_explained(explained: pd.Series, n_used: int, dest: str | Path) -> None:
    """Bar plot of the variance explained by the expression PCs, the ones used highlighted."""
    from kgpex.common import plotting

    plt = plotting.pyplot()
    shown = explained.iloc[: max(min(len(explained), 2 * max(n_used, 10)), 1)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colours = [plotting.ACCENT if i < n_used else plotting.MUTED for i in range(len(shown))]
    ax.bar(np.arange(1, len(shown) + 1), shown.to_numpy() * 100, color=colours)
    plotting.label_axes(
        ax,
        x=("PC of the inverse-normal expression matrix", "rank"),
        y=("variance explained", "%"),
        title=f"Hidden factors: {n_used} expression PCs used as covariates (dark)",
    )
    fig.tight_layout()
    plotting.save_figure(fig, dest)


def hidden_factors(
    expression_bed: str | Path,
    setting,
    n_other_covariates: int,
    factors_out: str | Path,
    variance_out: str | Path,
    plot_out: str | Path | None = None,
) -> pd.DataFrame:
    """Rule ``hidden_factors``: expression PCs (``sample_id InvNorm_PC1..k``) and their variance."""
    expression = read_expression_bed(expression_bed)
    n_genes, n_samples = expression.shape
    log.info("%s: %d genes x %d samples", expression_bed, n_genes, n_samples)
    count = hidden_factor_count(setting, n_samples, n_genes, n_other_covariates)
    factors, explained = expression_pcs(expression, count)
    log.info(
        "%d expression PCs explain %.1f%% of the variance",
        count, 100 * float(explained.iloc[:count].sum()),
    )  # fmt: skip
    with atomic_path(factors_out) as tmp:
        factors.to_csv(tmp, sep="\t", float_format="%.10g")
    variance = explained.rename_axis("factor").reset_index()
    variance["used"] = np.arange(len(variance)) < count
    with atomic_path(variance_out) as tmp:
        variance.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    if plot_out is not None:
        plot_variance_explained(explained, count, plot_out)
    return factors
