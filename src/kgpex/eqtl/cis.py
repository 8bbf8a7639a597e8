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
                     seed: int) -> pd.DataFrame:
    """tensorQTL ``cis.map_cis``: the top variant and permutation p-values for each gene."""
    from tensorqtl import cis

    genes = _genes_with_cis_variants(inputs, window)
    if len(genes) == 0:
        log.warning("%s: no gene with variants in its cis window", inputs.chrom)
        return empty_table(CIS_COLUMNS)
    phenotype_df, pos_df = _subset(inputs, genes)
    with fast_permutations():
        res = cis.map_cis(inputs.genotype_df, inputs.variant_df, phenotype_df, pos_df,
                          covariates_df=inputs.covariates_df, maf_threshold=maf, nperm=nperm,
                          window=window, seed=seed, logger=_TensorqtlLog(), verbose=False,
                          warn_monomorphic=False)  # one line per gene otherwise; dropped
    res = res.reset_index()
    _log_untested(inputs, res["phenotype_id"], "permutation pass")
    return res[CIS_COLUMNS]


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
