"""The cis tables' contract: the columns and dtypes of the per-chromosome tables that both mappers
write (tensorQTL in kgpex.eqtl.cis, FastQTL in kgpex.fastqtl; docs/architecture.md), typed empty
tables, and the readers of the permutation tables and of the q-value table.
"""

from __future__ import annotations

import logging

import pandas as pd

from kgpex.common.errors import KgpexError

log = logging.getLogger(__name__)


# The shared intermediate layout both mappers (tensorQTL, FastQTL) write (docs/architecture.md).
CIS_COLUMNS = [
    "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
    "variant_id", "start_distance", "ma_samples", "ma_count", "af", "pval_nominal", "slope",
    "slope_se", "pval_perm", "pval_beta",
]

# A grouped permutation pass (FastQTL --grp: LeafCutter introns grouped by gene, MAGE's sQTLs):
# one row per group, its best phenotype, then the group and its number of phenotypes.
GROUPED_CIS_COLUMNS = CIS_COLUMNS + ["group_id", "group_size"]

NOMINAL_COLUMNS = [
    "phenotype_id", "variant_id", "start_distance", "af", "ma_samples", "ma_count",
    "pval_nominal", "slope", "slope_se",
]

INDEPENDENT_COLUMNS = CIS_COLUMNS + ["rank"]

PIP_COLUMNS = ["phenotype_id", "variant_id", "pip", "af", "cs_id", "converged"]

CREDIBLE_SET_COLUMNS = [
    "phenotype_id", "cs_id", "num_variants", "coverage", "min_abs_corr", "mean_abs_corr",
    "median_abs_corr",
]

# Integer and string columns of the tables above; every other column is float64 (converged: bool).
INT_COLUMNS = {"num_var", "start_distance", "ma_samples", "ma_count", "rank", "group_size"}

_STR_COLUMNS = {"phenotype_id", "variant_id", "cs_id", "group_id"}


def empty_table(columns: list[str]) -> pd.DataFrame:
    """A typed table with no rows (a chromosome without genes still gets its file)."""
    dtypes = {
        c: "int64" if c in INT_COLUMNS else object if c in _STR_COLUMNS else "float64"
        for c in columns
    }
    if "converged" in dtypes:
        dtypes["converged"] = bool
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})


_CIS_DTYPES = {"phenotype_id": str, "variant_id": str, "group_id": str}


def read_cis_table(path, columns: list[str] = CIS_COLUMNS) -> pd.DataFrame:
    """One permutation table of the shared layout, its columns checked and put in order."""
    try:
        df = pd.read_csv(path, sep="\t", dtype=_CIS_DTYPES, float_precision="round_trip")
    except (OSError, pd.errors.ParserError) as err:
        raise KgpexError(f"{path}: cannot read cis table ({err})") from err
    except pd.errors.EmptyDataError as err:
        raise KgpexError(f"{path}: empty file, expected at least a header") from err
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: column '{missing[0]}' missing (expected {' '.join(columns)})")
    return df[columns]


def read_cis_tables(paths, grouped: bool = False) -> pd.DataFrame:
    """Permutation tables of all chromosomes, concatenated; a gene may appear only once.
    ``grouped``: tables of a grouped pass (GROUPED_CIS_COLUMNS), one row per group."""
    columns = GROUPED_CIS_COLUMNS if grouped else CIS_COLUMNS
    tables = [read_cis_table(p, columns) for p in paths]
    tables = [t for t in tables if len(t)] or tables[:1]
    cis = pd.concat(tables, ignore_index=True)
    key = "group_id" if grouped else "phenotype_id"
    dup = cis[key][cis[key].duplicated()]
    if len(dup):
        raise KgpexError(f"permutation tables: gene '{dup.iloc[0]}' appears twice")
    log.info("%d genes from %d permutation tables", len(cis), len(paths))
    return cis


def read_cis_genes(path, grouped: bool = False) -> pd.DataFrame:
    """The all-genes table with q-values (compute_qvalues' output); ``grouped``: of a grouped
    pass, with group_id and group_size."""
    columns = GROUPED_CIS_COLUMNS if grouped else CIS_COLUMNS
    return read_cis_table(path, columns + ["qval", "pval_nominal_threshold"])


def egenes(cis_genes: pd.DataFrame, fdr: float) -> pd.DataFrame:
    """Rows of the q-value table whose gene is an eGene (qval <= fdr)."""
    if "qval" not in cis_genes.columns:
        raise KgpexError("cis gene table has no qval column: compute q-values first")
    return cis_genes[cis_genes["qval"] <= fdr]


def significant_phenotypes(cis_genes: pd.DataFrame, fdr: float,
                           groups: pd.Series | None = None) -> pd.Series:
    """The phenotypes to fine-map: the eGenes; with ``groups`` (phenotype -> group, a grouped
    pass) every phenotype of each significant group, each on its own (MAGE's sQTLs: every
    intron of an sGene)."""
    significant = egenes(cis_genes, fdr)
    if groups is None:
        return significant["phenotype_id"]
    return pd.Series(groups.index[groups.isin(significant["group_id"])], name="phenotype_id")
