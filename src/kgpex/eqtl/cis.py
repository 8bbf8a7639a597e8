"""tensorQTL's cis passes: permutations (beta-approximated gene p-values), nominal pairs, and
conditionally independent eQTLs."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.eqtl.inputs import (
    CisInputs,
    _genes_with_cis_variants,
    _log_untested,
    _subset,
    _TensorqtlLog,
)
from kgpex.eqtl.permutation_kernel import fast_permutations
from kgpex.eqtl.tables import (
    CIS_COLUMNS,
    INDEPENDENT_COLUMNS,
    NOMINAL_COLUMNS,
    egenes,
    empty_table,
)

log = logging.getLogger(__name__)


def map_permutations(inputs: CisInputs, window: int, maf: float, nperm: int,
                     seed: int, groups: pd.Series | None = None) -> pd.DataFrame:
    """tensorQTL ``cis.map_cis``: the top variant and permutation p-values for each gene.

    With ``groups`` (phenotype ID -> group ID, e.g. introns -> gene: sQTLs) one row per group:
    each permutation's statistic is the best over the group's phenotypes, and the row names the
    group's best phenotype, plus group_id and group_size (tensorQTL's grouped mode, as FastQTL
    --grp). A group's phenotypes must share one position (the gene's TSS)."""
    from tensorqtl import cis

    genes = _genes_with_cis_variants(inputs, window)
    columns = CIS_COLUMNS if groups is None else CIS_COLUMNS + ["group_id", "group_size"]
    if len(genes) == 0:
        log.warning("%s: no gene with variants in its cis window", inputs.chrom)
        return empty_table(columns)
    phenotype_df, pos_df = _subset(inputs, genes)
    group_s = None
    if groups is not None:
        group_s = _group_series(groups, pos_df)
    with fast_permutations():
        res = cis.map_cis(inputs.genotype_df, inputs.variant_df, phenotype_df, pos_df,
                          covariates_df=inputs.covariates_df, group_s=group_s,
                          maf_threshold=maf, nperm=nperm, window=window, seed=seed,
                          logger=_TensorqtlLog(), verbose=False,
                          warn_monomorphic=False)  # one line per gene otherwise; dropped
    res = res.reset_index()
    if group_s is not None:
        res["group_size"] = res["group_size"].astype("int64")
        _log_untested_groups(inputs, group_s, res["group_id"])
    else:
        _log_untested(inputs, res["phenotype_id"], "permutation pass")
    return res[columns]


def _group_series(groups: pd.Series, pos_df: pd.DataFrame) -> pd.Series:
    """The groups of the phenotypes to map, in their order; checks what tensorQTL assumes."""
    missing = pos_df.index.difference(groups.index)
    if len(missing):
        raise KgpexError(f"phenotype groups: phenotype {missing[0]} has no group")
    group_s = groups.loc[pos_df.index]
    # tensorQTL walks the groups in file order and takes the first member's position for all.
    starts = (group_s != group_s.shift()).cumsum()
    if starts.groupby(group_s).nunique().max() > 1:
        split = starts.groupby(group_s).nunique().idxmax()
        raise KgpexError(f"phenotype groups: the phenotypes of group {split} are not contiguous "
                         "in the phenotype BED")
    spread = pos_df["pos"].groupby(group_s).nunique()
    if (spread > 1).any():
        raise KgpexError(f"phenotype groups: the phenotypes of group {spread.idxmax()} are at "
                         "more than one position")
    return group_s


def _log_untested_groups(inputs: CisInputs, group_s: pd.Series, tested) -> None:
    all_groups = pd.Index(group_s.unique())
    untested = all_groups.difference(pd.Index(tested))
    if len(untested):
        log.warning("%s: %d of %d phenotype groups not tested in the permutation pass (no "
                    "variant left in the cis window), e.g. %s", inputs.chrom, len(untested),
                    len(all_groups), ", ".join(untested[:5]))


def map_nominal(inputs: CisInputs, window: int, maf: float) -> pd.DataFrame:
    """tensorQTL ``cis.map_nominal``: every variant-gene pair in the cis windows."""
    from tensorqtl import cis

    genes = _genes_with_cis_variants(inputs, window)
    if len(genes) == 0:
        log.warning("%s: no gene with variants in its cis window", inputs.chrom)
        return empty_table(NOMINAL_COLUMNS)
    phenotype_df, pos_df = _subset(inputs, genes)
    with tempfile.TemporaryDirectory(prefix="kgpex-nominal-") as tmp:
        cis.map_nominal(inputs.genotype_df, inputs.variant_df, phenotype_df, pos_df, "nominal",
                        covariates_df=inputs.covariates_df, maf_threshold=maf, window=window,
                        output_dir=tmp, logger=_TensorqtlLog(), verbose=False)
        files = sorted(Path(tmp).glob("nominal.cis_qtl_pairs.*.parquet"))
        pairs = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    # A variant without variation among the samples has no test statistic.
    untestable = pairs["pval_nominal"].isna()
    if untestable.any():
        log.info("%s: dropping %d untestable (monomorphic) pairs", inputs.chrom,
                 int(untestable.sum()))
        pairs = pairs[~untestable]
    _log_untested(inputs, pairs["phenotype_id"].unique(), "nominal pass")
    return pairs[NOMINAL_COLUMNS].reset_index(drop=True)


def map_independent(inputs: CisInputs, cis_genes: pd.DataFrame, fdr: float, window: int,
                    maf: float, nperm: int, seed: int) -> pd.DataFrame:
    """tensorQTL ``cis.map_independent`` (forward-backward stepwise) for this chromosome's eGenes.

    ``cis_genes`` must cover all chromosomes: the stepwise threshold is the largest pval_beta
    among all eGenes genome-wide, as when tensorQTL maps the whole genome at once.
    """
    from tensorqtl import cis

    signif = egenes(cis_genes, fdr)
    genes = _genes_with_cis_variants(inputs, window, gene_ids=signif["phenotype_id"])
    if len(genes) == 0:
        log.info("%s: no eGene to map conditionally", inputs.chrom)
        return empty_table(INDEPENDENT_COLUMNS)
    top = signif.set_index("phenotype_id").loc[genes, "variant_id"]
    absent = top[~top.isin(inputs.genotype_df.index)]
    if len(absent):
        raise KgpexError(f"cis gene table: top variant {absent.iloc[0]} of {absent.index[0]} "
                         f"is not among the {inputs.chrom} genotypes")
    cis_df = cis_genes.set_index("phenotype_id")
    # tensorQTL expects end_distance; a TSS phenotype has start == end.
    cis_df = cis_df.assign(end_distance=cis_df["start_distance"])
    phenotype_df, pos_df = _subset(inputs, genes)
    with fast_permutations():
        res = cis.map_independent(inputs.genotype_df, inputs.variant_df, cis_df, phenotype_df,
                                  pos_df, covariates_df=inputs.covariates_df, maf_threshold=maf,
                                  fdr=fdr, fdr_col="qval", nperm=nperm, window=window, seed=seed,
                                  logger=_TensorqtlLog(), verbose=False)
    log.info("%s: %d independent signals in %d eGenes", inputs.chrom, len(res), len(genes))
    return res[INDEPENDENT_COLUMNS].reset_index(drop=True)
