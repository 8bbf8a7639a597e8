"""The cis-mapping inputs as tensorQTL reads them, checked before any mapping starts:
- phenotypes: ``#Chr start end ID <individuals>`` BED (one row per gene at its TSS);
- covariates: ``id <individuals>`` (FastQTL layout: one row per covariate);
- genotypes: a PLINK 2 pgen/pvar/psam trio of one chromosome, read with tensorQTL's
  ``pgen.PgenReader``.
Samples are matched by ID, never by position. tensorQTL runs on CUDA when torch sees a GPU; torch's
thread settings are set here. Heavy imports (torch, tensorqtl) are deferred so that importing
this module stays cheap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.genotypes.plink import has_dosages

log = logging.getLogger(__name__)


class _TensorqtlLog:
    """tensorQTL writes progress through ``logger.write``; send it to the rule's log."""

    def write(self, message: str) -> None:
        log.info("tensorqtl: %s", message)


def configure_torch(threads: int) -> str:
    """Use ``threads`` CPU threads; return (and log) the device tensorQTL will run on."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({torch.get_num_threads()} threads)"
    log.info("tensorQTL device: %s", device)
    return device


def read_phenotype_bed(path, chrom: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Phenotypes (genes x samples) and positions (``chr``, ``pos`` = 1-based TSS) of a BED.

    Only rows on ``chrom`` are kept when it is given.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype={0: str, 3: str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read phenotype BED ({err})") from err
    head = [str(c) for c in df.columns[:4]]
    if len(head) < 4 or head[0].lower() != "#chr" or head[1:] != ["start", "end", "ID"]:
        raise KgpexError(f"{path}: header must start with '#Chr start end ID', found {head}")
    samples = list(df.columns[4:])
    if not samples:
        raise KgpexError(f"{path}: no sample columns after '#Chr start end ID'")
    dup = pd.Index(samples)[pd.Index(samples).duplicated()]
    if len(dup):
        raise KgpexError(f"{path}: sample column '{dup[0]}' appears twice")
    dup = df["ID"][df["ID"].duplicated()]
    if len(dup):
        raise KgpexError(f"{path} line {dup.index[0] + 2}: field ID: '{dup.iloc[0]}' appears twice")
    for column in ("start", "end"):
        if not pd.api.types.is_integer_dtype(df[column]):
            bad = pd.to_numeric(df[column], errors="coerce").isna().idxmax()
            raise KgpexError(f"{path} line {bad + 2}: field {column} is not an integer")
    values = df[samples]
    if not all(pd.api.types.is_numeric_dtype(t) for t in values.dtypes):
        bad = next(c for c in samples if not pd.api.types.is_numeric_dtype(values[c]))
        raise KgpexError(f"{path}: column {bad} holds non-numeric values")
    if values.isna().any().any():
        row = int(np.where(values.isna().any(axis=1))[0][0])
        raise KgpexError(f"{path} line {row + 2}: gene {df['ID'].iloc[row]} has missing values")
    if chrom is not None:
        df = df[df.iloc[:, 0] == chrom]
    phenotype_df = df[samples].set_axis(df["ID"].tolist(), axis=0).astype(np.float32)
    phenotype_df.index.name = "phenotype_id"
    pos_df = pd.DataFrame(
        {"chr": df.iloc[:, 0].to_numpy(), "pos": df["end"].to_numpy(dtype=np.int64)},
        index=phenotype_df.index,
    )
    return phenotype_df, pos_df


def read_covariates(path, samples: list[str]) -> pd.DataFrame:
    """Covariates as samples x covariates, rows in the order of ``samples``.

    Constant covariates (for example sex in a single-sex cohort) are dropped with a log line:
    a zero column would make the residualizer's QR basis arbitrary.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype={0: str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read covariates ({err})") from err
    if df.columns[0] != "id":
        raise KgpexError(f"{path}: first header field must be 'id', found '{df.columns[0]}'")
    df = df.set_index("id")
    dup = df.index[df.index.duplicated()]
    if len(dup):
        raise KgpexError(f"{path}: covariate '{dup[0]}' appears twice")
    missing = [s for s in samples if s not in df.columns]
    if missing:
        raise KgpexError(
            f"{path}: no covariates for {len(missing)} phenotype samples, first {missing[0]}"
        )
    cov = df[samples].apply(pd.to_numeric, errors="coerce")
    if cov.isna().any().any():
        name = cov.index[cov.isna().any(axis=1)][0]
        raise KgpexError(f"{path}: covariate '{name}' has missing or non-numeric values")
    constant = cov.index[cov.nunique(axis=1) <= 1].tolist()
    if constant:
        log.warning("%s: dropping constant covariates %s", path, ", ".join(constant))
        cov = cov.drop(index=constant)
    out = cov.T.astype(np.float32)
    out.index.name = None
    return out


def load_genotypes(pgen_prefix, samples: list[str], chrom: str | None = None):
    """Genotypes (variants x samples, int8 ALT counts, or float32 ALT dosages when the pgen holds
    dosages; -9 missing) and ``variant_df``.

    ``variant_df`` maps variant IDs to ``chrom`` and ``pos``; only ``chrom`` is kept when given.
    """
    from tensorqtl import pgen

    prefix = str(pgen_prefix)
    for ext in (".pgen", ".pvar", ".psam"):
        if not Path(prefix + ext).exists():
            raise KgpexError(f"{prefix}{ext}: genotype file not found")
    reader = pgen.PgenReader(prefix)
    psam_ids = reader.sample_id_list
    missing = [s for s in samples if s not in set(psam_ids)]
    if missing:
        raise KgpexError(
            f"{prefix}.psam: no genotypes for {len(missing)} phenotype samples, first {missing[0]}"
        )
    ids = reader.pvar_df["id"]
    if ids.duplicated().any():
        raise KgpexError(f"{prefix}.pvar: variant ID '{ids[ids.duplicated()].iloc[0]}' repeats")
    reader.set_samples(list(samples))
    variant_df = reader.pvar_df.set_index("id")[["chrom", "pos"]]
    variant_df.index.name = None
    if chrom is not None:
        keep = np.where(variant_df["chrom"].to_numpy() == chrom)[0]
    else:
        keep = np.arange(len(variant_df))
    if len(keep) == 0:
        genotype_df = pd.DataFrame(np.empty((0, len(reader.sample_ids)), dtype=np.int8),
                                   columns=reader.sample_ids)
    else:
        if not np.array_equal(keep, np.arange(keep[0], keep[-1] + 1)):
            raise KgpexError(f"{prefix}.pvar: variants of {chrom} are not contiguous")
        # Dosages (float32, -9 missing) when the pgen holds them (imported user genotypes).
        read = pgen.read_dosages_range if has_dosages(prefix) else pgen.read_range
        geno = read(reader.pgen_file, int(keep[0]), int(keep[-1]),
                    sample_subset=reader.sample_idxs)
        genotype_df = pd.DataFrame(geno, index=variant_df.index[keep], columns=reader.sample_ids)
    variant_df = variant_df.iloc[keep]
    pos = variant_df["pos"].to_numpy()
    if len(pos) and (np.diff(pos) < 0).any():
        raise KgpexError(f"{prefix}.pvar: variants of {chrom} are not sorted by position")
    return genotype_df, variant_df


@dataclass
class CisInputs:
    """Everything tensorQTL needs for one chromosome, samples aligned by ID."""

    phenotype_df: pd.DataFrame
    phenotype_pos_df: pd.DataFrame
    covariates_df: pd.DataFrame
    genotype_df: pd.DataFrame
    variant_df: pd.DataFrame
    chrom: str


def load_inputs(phenotype_bed, covariates, pgen_prefix, chrom: str) -> CisInputs:
    phenotype_df, pos_df = read_phenotype_bed(phenotype_bed, chrom)
    samples = list(phenotype_df.columns)
    covariates_df = read_covariates(covariates, samples)
    if len(samples) - 2 - covariates_df.shape[1] < 1:
        raise KgpexError(
            f"{covariates}: {covariates_df.shape[1]} covariates leave no degrees of freedom "
            f"for {len(samples)} samples"
        )
    genotype_df, variant_df = load_genotypes(pgen_prefix, samples, chrom)
    log.info("%s: %d genes, %d samples, %d covariates, %d variants", chrom, len(phenotype_df),
             len(samples), covariates_df.shape[1], len(variant_df))
    return CisInputs(phenotype_df, pos_df, covariates_df, genotype_df, variant_df, chrom)


def _genes_with_cis_variants(inputs: CisInputs, window: int, gene_ids=None) -> pd.Index:
    """Genes with at least one variant within ``window`` of the TSS and a non-constant phenotype."""
    pos_df = inputs.phenotype_pos_df
    if gene_ids is not None:
        pos_df = pos_df.loc[pos_df.index.isin(gene_ids)]
    variant_pos = np.sort(inputs.variant_df["pos"].to_numpy())
    lo = np.searchsorted(variant_pos, pos_df["pos"].to_numpy() - window, side="left")
    hi = np.searchsorted(variant_pos, pos_df["pos"].to_numpy() + window, side="right")
    values = inputs.phenotype_df.loc[pos_df.index].to_numpy()
    varying = (values != values[:, [0]]).any(axis=1) if len(values) else np.zeros(0, bool)
    return pos_df.index[(hi > lo) & varying]


def _subset(inputs: CisInputs, genes: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    return inputs.phenotype_df.loc[genes], inputs.phenotype_pos_df.loc[genes]


def _log_untested(inputs: CisInputs, tested, what: str) -> None:
    untested = inputs.phenotype_df.index.difference(pd.Index(tested))
    if len(untested):
        log.warning("%s: %d of %d genes not tested in the %s (no variant left in the cis "
                    "window after filters, or constant expression), e.g. %s", inputs.chrom,
                    len(untested), len(inputs.phenotype_df), what, ", ".join(untested[:5]))


def read_phenotype_groups(path) -> pd.Series:
    """Phenotype groups as FastQTL's --grp reads them: two tab-separated columns, no header,
    phenotype ID then group ID (MAGE's sQTL phenotype_groups.txt: intron -> gene). Returns the
    group of each phenotype, in file order; a repeated line counts once. One line naming the row
    for a malformed file or a phenotype in two groups."""
    from kgpex.common.io import open_text

    groups: dict[str, str] = {}
    with open_text(path, what="phenotype groups file") as fh:
        for n, line in enumerate(fh, start=1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 2:
                raise KgpexError(f"{path}: row {n} has {len(fields)} fields; phenotype groups "
                                 "need 2 tab-separated columns (phenotype, group)")
            if not all(fields):
                raise KgpexError(f"{path}: row {n} has an empty field")
            phenotype, group = fields
            if groups.setdefault(phenotype, group) != group:
                raise KgpexError(f"{path}: row {n}: phenotype {phenotype} is in more than one "
                                 f"group ({groups[phenotype]} and {group})")
    return pd.Series(groups, name="group_id", dtype=object).rename_axis("phenotype_id")


def pgen_prefix(pgen_path) -> str:
    """``results/x/chr1`` from ``results/x/chr1.pgen``."""
    path = str(pgen_path)
    if not path.endswith(".pgen"):
        raise KgpexError(f"{path}: expected a .pgen file")
    return path[: -len(".pgen")]


def pgen_prefixes_by_chrom(pgen_paths) -> dict[str, str]:
    """chromosome -> PLINK 2 prefix for the cohort's per-chromosome ``{chrom}.pgen`` files."""
    prefixes: dict[str, str] = {}
    for path in pgen_paths:
        chrom = Path(str(path)).stem
        if chrom in prefixes:
            raise KgpexError(f"{path}: a second genotype file for chromosome {chrom}")
        prefixes[chrom] = pgen_prefix(path)
    return prefixes
