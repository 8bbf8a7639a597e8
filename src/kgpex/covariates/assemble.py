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

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, gzip_text_writer, phenotype_bed_header
from kgpex.covariates.hidden_factors import _check_unique

log = logging.getLogger(__name__)


SEX_CODES = {"male": 1, "female": 2}  # PLINK's coding

# Relative norm below which a covariate counts as a linear combination of the earlier ones.
# Exact collinearity leaves ~1e-15; values written with 10 significant digits leave ~1e-10.
COLLINEARITY_TOLERANCE = 1e-6


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
