"""eQTL covariates: genotype PCs, hidden expression factors and sex, joined by sample ID.

MAGE used sex, genotype PCs 1-5 and 60 PEER factors. PEER is unmaintained; principal components
of the normalised expression matrix are the accepted substitute (Zhou et al., Genome Biology 2022:
PCA matches or beats PEER for QTL discovery and is far faster). The factors are therefore named
``InvNorm_PC1..k`` (PCs of the inverse-normal matrix), not ``PEER1..k``, so nobody mistakes them
for PEER output. Their number follows GTEx's sample-size rule unless the config fixes it.

Output (``eQTL_covariates.tab.gz``, MAGE's layout): header ``id <sample IDs sorted>``, one row per
covariate in the order genotype PCs, hidden factors, sex. Sex is coded as in PLINK: 1 = male,
2 = female. Covariates that are linear combinations of earlier ones (or constant, e.g. a one-sex
cohort) are dropped and logged: FastQTL and tensorQTL would count them as degrees of freedom.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.errors import KgpexError
from kgpex.io import atomic_path, gzip_text_writer, phenotype_bed_header

log = logging.getLogger(__name__)

HIDDEN_FACTOR_PREFIX = "InvNorm_PC"
SEX_CODES = {"male": 1, "female": 2}  # PLINK's coding
# Relative norm below which a covariate counts as a linear combination of the earlier ones.
# Exact collinearity leaves ~1e-15; values written with 10 significant digits leave ~1e-10.
COLLINEARITY_TOLERANCE = 1e-6
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


def read_sample_table(path: str | Path, label: str) -> pd.DataFrame:
    """A ``sample_id <covariates...>`` table (genotype PCs, hidden factors) indexed by sample."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: {label} table not found")
    df = pd.read_csv(path, sep="\t", dtype={"sample_id": str})
    if "sample_id" not in df.columns:
        raise KgpexError(f"{path} line 1: no 'sample_id' column")
    _check_unique(df["sample_id"].tolist(), f"{path}: sample_id")
    df = df.set_index("sample_id")
    try:
        df = df.astype(float)
    except ValueError as err:
        raise KgpexError(f"{path}: non-numeric {label} value ({err})") from None
    if not np.isfinite(df.to_numpy()).all():
        row = int(np.where(~np.isfinite(df.to_numpy()).all(axis=1))[0][0])
        raise KgpexError(f"{path} line {row + 2}: missing or infinite value")
    return df


def genotype_pc_covariates(path: str | Path, n_pcs: int) -> pd.DataFrame:
    """The first ``n_pcs`` genotype PCs (``PC1..``) of ``{R}/covariates/genotype_pcs.tsv``."""
    table = read_sample_table(path, "genotype PC")
    wanted = [f"PC{i}" for i in range(1, n_pcs + 1)]
    present = [c for c in wanted if c in table.columns]
    if present != wanted[: len(present)]:
        raise KgpexError(f"{path} line 1: PC columns must run PC1, PC2, ... without gaps")
    if len(present) < n_pcs:
        # The genotype stage computes fewer PCs than asked when a cohort is tiny.
        log.warning("%s: %d genotype PCs requested, only %d available; using those",
                    path, n_pcs, len(present))  # fmt: skip
    return table[present]


def sex_covariate(individuals: dict[str, dict], source: str) -> pd.DataFrame:
    """Sex coded 1 = male, 2 = female from individual rows (``{id: {"sex": ...}}``)."""
    codes = {}
    for individual, row in individuals.items():
        sex = row.get("sex")
        if sex not in SEX_CODES:
            raise KgpexError(
                f"{source}: individual {individual}: sex must be male or female, got {sex!r}"
            )
        codes[individual] = SEX_CODES[sex]
    df = pd.DataFrame({"sex": pd.Series(codes, dtype=float)})
    df.index.name = "sample_id"
    return df


def join_by_sample(samples: list[str], sources: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Samples x covariates, each source (samples x covariates) aligned by sample ID.

    ``sources`` maps a label (the file) to its table; their order is the covariate order.
    A sample missing from any source is an error naming the sample and the source. Sample rows
    that a source has beyond ``samples`` are ignored (logged).
    """
    _check_unique(list(samples), "sample")
    parts = []
    for label, table in sources.items():
        missing = [s for s in samples if s not in table.index]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise KgpexError(f"{label}: sample {missing[0]}{more} missing")
        extra = len(set(table.index) - set(samples))
        if extra:
            log.info("%s: %d samples not in the expression matrix ignored", label, extra)
        clash = [c for c in table.columns if any(c in p.columns for p in parts)]
        if clash:
            raise KgpexError(f"{label}: covariate {clash[0]} already comes from another source")
        parts.append(table.loc[list(samples)])
    joined = pd.concat(parts, axis=1)
    joined.index.name = "sample_id"
    return joined


def drop_collinear(
    covariates: pd.DataFrame, tolerance: float = COLLINEARITY_TOLERANCE
) -> tuple[pd.DataFrame, list[str]]:
    """Drop covariates that are constant or linear combinations of earlier ones.

    Columns are centred (the intercept every mapper adds) and scaled to unit norm; in the
    QR decomposition of that matrix, |R[j, j]| is the part of column j the earlier columns do not
    explain. Columns below ``tolerance`` are dropped, earlier columns take priority, so the
    order PCs, hidden factors, sex decides what goes. Returns (kept covariates, dropped names).
    """
    from scipy.linalg import qr

    raw = covariates.to_numpy(dtype=float)
    if raw.shape[1] == 0:
        return covariates, []
    centred = raw - raw.mean(axis=0)
    norms = np.linalg.norm(centred, axis=0)
    constant = norms <= tolerance * np.maximum(np.linalg.norm(raw, axis=0), np.finfo(float).tiny)
    x = np.where(constant, 0.0, centred / np.where(constant, 1.0, norms))
    r = qr(x, mode="r")[0]
    diag = np.zeros(x.shape[1])
    n_diag = min(r.shape)
    diag[:n_diag] = np.abs(np.diag(r))[
        :n_diag
    ]  # more covariates than samples: the rest are dependent
    keep = diag > tolerance
    dropped = [c for c, k in zip(covariates.columns, keep) if not k]
    if dropped:
        log.warning(
            "dropped %d collinear or constant covariates: %s", len(dropped), ", ".join(dropped)
        )
    return covariates.loc[:, keep], dropped


def covariates_table(covariates: pd.DataFrame) -> pd.DataFrame:
    """MAGE's layout: column ``id`` (covariate names), then one column per sample, sorted."""
    samples = sorted(covariates.index)
    table = covariates.loc[samples].T
    table.index.name = "id"
    return table.reset_index()


def write_covariates(table: pd.DataFrame, dest: str | Path) -> None:
    """Write the covariates table gzip-compressed, atomically; 10 significant digits."""
    with atomic_path(dest) as tmp, gzip_text_writer(tmp) as fh:
        table.to_csv(fh, sep="\t", index=False, float_format="%.10g")


def read_covariates_table(path: str | Path) -> pd.DataFrame:
    """Read ``eQTL_covariates.tab.gz`` back as samples x covariates (tensorQTL's orientation)."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: covariates file not found")
    df = pd.read_csv(path, sep="\t", dtype={"id": str})
    if df.columns[0] != "id":
        raise KgpexError(f"{path} line 1: first column must be 'id', got {df.columns[0]!r}")
    return df.set_index("id").T.astype(float)


def plot_variance_explained(explained: pd.Series, n_used: int, dest: str | Path) -> None:
    """Bar plot of the variance explained by the expression PCs, the ones used highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = explained.iloc[: max(min(len(explained), 2 * max(n_used, 10)), 1)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colours = ["tab:blue" if i < n_used else "lightgrey" for i in range(len(shown))]
    ax.bar(np.arange(1, len(shown) + 1), shown.to_numpy() * 100, color=colours)
    ax.set_xlabel("PC of the inverse-normal expression matrix")
    ax.set_ylabel("variance explained (%)")
    ax.set_title(f"Hidden factors: {n_used} expression PCs used as covariates (blue)")
    fig.tight_layout()
    with atomic_path(dest, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


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


def assemble_covariates(
    expression_bed: str | Path,
    genotype_pcs: str | Path,
    n_genotype_pcs: int,
    factors: str | Path,
    individuals: dict[str, dict],
    individuals_source: str,
    dest: str | Path,
) -> pd.DataFrame:
    """Rule ``assemble_covariates``: genotype PCs, hidden factors and sex -> MAGE's file."""
    samples = phenotype_bed_header(expression_bed)[4:]
    sources = {
        str(genotype_pcs): genotype_pc_covariates(genotype_pcs, n_genotype_pcs),
        str(factors): read_sample_table(factors, "hidden factor"),
        str(individuals_source): sex_covariate(
            {i: row for i, row in individuals.items() if i in set(samples)}, individuals_source
        ),
    }
    joined = join_by_sample(samples, sources)
    kept, _ = drop_collinear(joined)
    table = covariates_table(kept)
    write_covariates(table, dest)
    log.info("%s: %d covariates x %d samples", dest, len(table), len(table.columns) - 1)
    return table
