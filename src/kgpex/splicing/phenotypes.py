"""Splicing phenotypes for sQTL mapping from LeafCutter's ``*_perind.counts.gz``, as MAGE's
filter_quants.py made them (mccoy-lab/MAGE, analysis_pipeline/01_data_preparation/
splicing_quantification/02_intron_usage/workflow/bin/filter_quants.py, run with ``--pct_cutoff 10
--autosomes_chrX --keep_samples``), in its order:

1. Read the counts; a column is a library when its name, or its name cut at the first "."
   (MAGE: ``i.split('.')[0]``), is a key of the {library: individual} mapping. Mapped columns
   are kept and renamed to the individual; the others are dropped.
2. Introns on chr1..chr22, chrX; MAGE's count filters and low-complexity filter (filters.py).
3. LeafCutter's prepare_phenotype_table.py ``-p 0`` on the survivors (normalize.py); its values
   are computed over every surviving intron, including those that steps 4-5 then drop.
4. Introns dropped by the normalisation go, then clusters left with one intron (MAGE counts
   introns per ``clu_N_strand``; LeafCutter numbers clusters genome-wide, so that is the same as
   per ``chr:clu_N_strand`` used here).
5. Genes: clusters_to_genes comes from every intron of the file (genes.py, as MAGE ran
   map_clusters_to_genes.R on the whole perind file). One BED row per (intron, gene) with ID
   ``chr:start:end:clu_N_strand:gene`` at the gene's TSS (pyqtl ``gtf_to_tss_bed``: start = TSS - 1,
   end = TSS; TSS = gene start on '+', end on '-'); introns of unmapped clusters are discarded.
6. Sorted by chromosome (chr1..22, chrX), then TSS start, gene, ID (MAGE: per chromosome
   ``sort_values(['start', 'gene', 'ID'])``), which keeps each gene's rows together for
   FastQTL ``--grp``.

Outputs (``write_splicing_phenotypes``):

* phenotype BED, bgzip + tabix: ``#Chr start end ID <individuals, sorted>``. MAGE's header
  cell is ``#chr`` (pyqtl write_bed); kgpex's BED readers (common.io.phenotype_bed_header) want
  ``#Chr``, and FastQTL and tabix ignore the name.
* phenotype groups: no header, ``<BED ID>\\t<gene>``, sorted by gene (MAGE:
  ``pd.Series(group_s).sort_values()``, an unstable sort whose order within a gene is not
  defined; here it is by ID, the BED's order within the gene).
* filtered counts (tab, gzip): ``intron:cluster`` (the intron ID), ``cluster``
  (``chr:clu_N_strand``), then each individual's raw ``num/den``; the introns left after step 4,
  unmapped ones included, sorted by cluster then intron ID as text, as MAGE wrote them for Manta.
  MAGE's columns follow its keep_samples file; here they are sorted, like the BED's.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.genome import sort_by_position
from kgpex.common.io import open_text, write_bgzip_indexed, write_table
from kgpex.splicing.filters import MAGE_PCT_CUTOFF, filter_table, on_autosomes_chrx, usage_ratios
from kgpex.splicing.genes import cluster_of, map_clusters_to_genes, read_exons, split_intron_id
from kgpex.splicing.normalize import prepare_phenotype_table

BED_ID_COLUMNS = ["#Chr", "start", "end", "ID"]
COUNTS_ID_COLUMNS = ["intron:cluster", "cluster"]
_CHUNK_ROWS = 20_000
_NUM_DEN = re.compile(r"\d+/\d+")


@dataclass
class PerindCounts:
    """The kept libraries of a perind.counts file: numerators and denominators as introns x
    individuals (individuals sorted), every intron of the file in file order."""

    path: str
    num: pd.DataFrame
    den: pd.DataFrame


@dataclass
class SplicingPhenotypes:
    bed: pd.DataFrame  # #Chr start end ID <individuals>
    groups: pd.DataFrame  # ID gene
    counts: pd.DataFrame  # intron:cluster cluster <individuals> (raw num/den)
    summary: dict[str, int] = field(default_factory=dict)


class _SlashAsSpace:
    """A text stream with '/' read as ' ', so pandas parses ``num/den`` as two integer fields."""

    def __init__(self, fh):
        self._fh = fh

    def read(self, size: int = -1) -> str:
        return self._fh.read(size).replace("/", " ")

    def __iter__(self):
        return (line.replace("/", " ") for line in self._fh)


def _library_columns(path: str, header: list[str], libraries: Mapping[str, str]) -> list[int]:
    """0-based indexes (among the count columns) of the mapped libraries, in mapping order."""
    found: dict[str, int] = {}
    for j, name in enumerate(header):
        key = name if name in libraries else name.split(".", 1)[0]
        if key in libraries:
            if key in found:
                raise KgpexError(
                    f"{path} line 1: columns {header[found[key]]!r} and {name!r} are both "
                    f"library {key}"
                )
            found[key] = j
    for library in libraries:
        if library not in found:
            raise KgpexError(f"{path} line 1: library {library} has no column in the header")
    return [found[library] for library in libraries]


def _scan_for_error(path: str, header: list[str]) -> None:
    """Find the first malformed row or field of a perind file and raise it as one line."""
    width = len(header) + 1
    with open_text(path, what="LeafCutter perind counts") as fh:
        fh.readline()
        for n, line in enumerate(fh, start=2):
            fields = line.split()
            if len(fields) != width:
                raise KgpexError(
                    f"{path} line {n}: expected {width} space-separated fields, found {len(fields)}"
                )
            for name, value in zip(header, fields[1:]):
                if not _NUM_DEN.fullmatch(value):
                    raise KgpexError(
                        f"{path} line {n}, column {name}: {value!r} is not num/den"
                    )


def read_perind_counts(path: str | os.PathLike, libraries: Mapping[str, str]) -> PerindCounts:
    """LeafCutter's ``*_perind.counts.gz`` (space-separated, header ``chrom <names>``, rows
    ``chr:start:end:clu_N_strand num/den ...``), keeping the libraries of ``libraries``
    ({library: individual}) under their individual's name. One line naming the file and the
    row or field for a malformed file, a missing library or two libraries of one individual."""
    path = str(path)
    if not Path(path).is_file():
        raise KgpexError(f"{path}: LeafCutter perind counts not found")
    individuals = Counter(libraries.values())
    twice = sorted(i for i, k in individuals.items() if k > 1)
    if twice:
        raise KgpexError(f"{path}: individual {twice[0]} is given more than one library")
    if not libraries:
        raise KgpexError(f"{path}: no libraries to keep")
    names: list[str] = []
    ids: list[str] = []
    nums: list[np.ndarray] = []
    dens: list[np.ndarray] = []
    try:
        with open_text(path, what="LeafCutter perind counts") as fh, warnings.catch_warnings():
            # pandas only warns (ParserWarning) when the first row is longer than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            header = fh.readline().split()
            if not header or header[0] != "chrom":
                raise KgpexError(f"{path} line 1: header must start with 'chrom'")
            names = header[1:]
            cols = _library_columns(path, names, libraries)
            width = 1 + 2 * len(names)
            chunks = pd.read_csv(
                _SlashAsSpace(fh),
                sep=r"\s+",
                header=None,
                names=range(width),
                index_col=False,  # else a row one field too long silently becomes an index
                dtype={0: str, **{k: np.int64 for k in range(1, width)}},
                chunksize=_CHUNK_ROWS,
                engine="c",
            )
            for chunk in chunks:
                if (chunk.iloc[:, 1:].to_numpy() < 0).any():
                    raise ValueError("negative count")
                ids.extend(chunk[0].tolist())
                nums.append(chunk[[1 + 2 * j for j in cols]].to_numpy(dtype=np.int64))
                dens.append(chunk[[2 + 2 * j for j in cols]].to_numpy(dtype=np.int64))
    except pd.errors.EmptyDataError:
        pass  # a header and no introns
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise KgpexError(f"{path}: cannot read LeafCutter perind counts ({err})") from None
    except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning):
        # pandas says little about where; find the first bad row or field for the message.
        _scan_for_error(path, names)
        raise KgpexError(f"{path}: cannot parse the counts") from None
    index = pd.Index(ids, dtype=object, name="intron")
    for n, intron_id in enumerate(index, start=2):
        try:
            split_intron_id(intron_id)
        except KgpexError as err:
            raise KgpexError(f"{path} line {n}: {err}") from None
    dup = index.duplicated()
    if dup.any():
        n = int(np.flatnonzero(dup)[0])
        raise KgpexError(f"{path} line {n + 2}: intron {index[n]} listed twice")
    columns = [libraries[lib] for lib in libraries]
    num = np.concatenate(nums) if nums else np.zeros((0, len(columns)), dtype=np.int64)
    den = np.concatenate(dens) if dens else np.zeros((0, len(columns)), dtype=np.int64)
    over = num > den
    if over.any():
        i, j = (int(k[0]) for k in np.nonzero(over))
        raise KgpexError(
            f"{path} line {i + 2}, column {names[cols[j]]}: {num[i, j]}/{den[i, j]} has a "
            "numerator above its denominator"
        )
    order = sorted(columns)
    num_df = pd.DataFrame(num, index=index, columns=columns)[order]
    den_df = pd.DataFrame(den, index=index, columns=columns)[order]
    return PerindCounts(path, num_df, den_df)


def tss_table(genes: pd.DataFrame) -> pd.DataFrame:
    """gene_id -> chrom, tss (1-based: start on '+', end on '-') from a genes table indexed by
    gene_id (kgpex.reference.genes.read_genes) or with a gene_id column."""
    table = genes.set_index("gene_id") if "gene_id" in genes.columns else genes
    missing = [c for c in ("chrom", "start", "end", "strand") if c not in table.columns]
    if missing:
        raise KgpexError(f"genes table: columns missing: {', '.join(missing)}")
    bad = ~table["strand"].isin(["+", "-"])
    if bad.any():
        raise KgpexError(
            f"genes table: gene {table.index[bad][0]} has strand {table['strand'][bad].iloc[0]!r}"
        )
    tss = np.where(table["strand"] == "+", table["start"], table["end"]).astype(np.int64)
    return pd.DataFrame({"chrom": table["chrom"].astype(str).to_numpy(), "tss": tss},
                        index=table.index)


def _raw_counts(counts: PerindCounts, introns: pd.Index) -> pd.DataFrame:
    """The introns' ``num/den`` text table, sorted by cluster then intron as text."""
    num = counts.num.loc[introns].to_numpy(dtype=np.int64)
    den = counts.den.loc[introns].to_numpy(dtype=np.int64)
    # Format each distinct (num, den) pair once: far fewer pairs than cells.
    base = int(den.max()) + 1 if den.size else 1
    pairs, where = np.unique(num * base + den, return_inverse=True)
    labels = np.array([f"{p // base}/{p % base}" for p in pairs.tolist()], dtype=object)
    text = pd.DataFrame(labels[where.reshape(num.shape)], columns=counts.num.columns)
    ids = pd.DataFrame(
        {"intron:cluster": introns.to_numpy(), "cluster": [cluster_of(i) for i in introns]}
    )
    table = pd.concat([ids, text], axis=1)
    return table.sort_values(["cluster", "intron:cluster"], kind="mergesort").reset_index(
        drop=True
    )


def build_splicing_phenotypes(
    counts: PerindCounts,
    cluster_genes: Mapping[str, Sequence[str]],
    genes: pd.DataFrame,
    pct_cutoff: int = MAGE_PCT_CUTOFF,
) -> SplicingPhenotypes:
    """filter_quants.py's steps 2-6 on read counts; ``cluster_genes`` maps ``chr:clu_N_strand``
    to gene IDs (genes.map_clusters_to_genes over every intron of the file)."""
    path = counts.path
    summary: dict[str, int] = {
        "samples": counts.num.shape[1],
        "introns": counts.num.shape[0],
        "clusters": len({cluster_of(i) for i in counts.num.index}),
    }
    auto = on_autosomes_chrx(counts.num.index)
    num, den = counts.num[auto], counts.den[auto]
    summary["introns_autosomes_chrx"] = int(auto.sum())

    table = filter_table(usage_ratios(num, den), pct_cutoff)
    summary["removed_zero_fraction"] = int((~table["pass_nonzero"]).sum())
    summary["removed_few_distinct"] = int((table["pass_nonzero"] & ~table["pass_distinct"]).sum())
    summary["removed_low_complexity"] = int(
        (table["pass_nonzero"] & table["pass_distinct"] & table["low_complexity"]).sum()
    )
    keep = table["keep"].to_numpy()
    num, den = num[keep], den[keep]
    summary["introns_filtered"] = int(keep.sum())

    normed, reason = prepare_phenotype_table(num, den)
    summary["removed_missing"] = int((reason == "missing").sum())
    summary["removed_low_sd"] = int((reason == "low_sd").sum())
    summary["introns_normalised"] = normed.shape[0]

    clusters = pd.Series([cluster_of(i) for i in normed.index], index=normed.index, dtype=object)
    multi = clusters.duplicated(keep=False).to_numpy()
    final = normed.index[multi]
    summary["introns_multi_intron_clusters"] = len(final)
    summary["clusters_multi_intron"] = int(clusters[multi].nunique())

    tss = tss_table(genes)
    rows, unmapped = [], 0
    for intron in final:
        gene_ids = cluster_genes.get(cluster_of(intron))
        if not gene_ids:
            unmapped += 1
            continue
        for gene in gene_ids:
            if gene not in tss.index:
                raise KgpexError(
                    f"{path}: intron {intron} maps to gene {gene}, which is not in the genes "
                    "table (the GTF and the genes table must be the same annotation)"
                )
            rows.append((tss.at[gene, "chrom"], tss.at[gene, "tss"], intron, gene))
    summary["introns_unmapped"] = unmapped
    summary["introns_mapped"] = len(final) - unmapped
    if not rows:
        raise KgpexError(
            f"{path}: no intron is left for sQTL mapping ({len(final)} after filtering and "
            f"normalisation, {unmapped} of them in clusters without a gene)"
        )

    chrom, tss_pos, intron_ids, gene_ids = (list(x) for x in zip(*rows))
    bed = pd.DataFrame(
        {
            "#Chr": chrom,
            "start": np.asarray(tss_pos, dtype=np.int64) - 1,
            "end": np.asarray(tss_pos, dtype=np.int64),
            "ID": [f"{i}:{g}" for i, g in zip(intron_ids, gene_ids)],
            "gene": gene_ids,
        }
    )
    bed = pd.concat([bed, normed.loc[intron_ids].reset_index(drop=True)], axis=1)
    bed = sort_by_position(bed, "#Chr", "start", then=["gene", "ID"])
    groups = (
        bed[["ID", "gene"]].sort_values(["gene", "ID"], kind="mergesort").reset_index(drop=True)
    )
    bed = bed.drop(columns="gene")
    summary["phenotypes"] = bed.shape[0]
    summary["genes"] = int(groups["gene"].nunique())
    return SplicingPhenotypes(bed, groups, _raw_counts(counts, final), summary)


def write_splicing_phenotypes(
    result: SplicingPhenotypes,
    bed_out: str | os.PathLike,
    groups_out: str | os.PathLike,
    counts_out: str | os.PathLike,
) -> None:
    """The phenotype BED (bgzip + .tbi), the groups file and the filtered counts, each atomic."""
    write_bgzip_indexed(result.bed, bed_out, seq_col=0, start_col=1, end_col=2, zerobased=True,
                        header_prefix="#")
    write_table(result.groups, groups_out, header=False, index=False)
    write_table(result.counts, counts_out, index=False)


def splicing_phenotypes(
    perind: str | os.PathLike,
    libraries: Mapping[str, str],
    gtf: str | os.PathLike,
    genes: pd.DataFrame,
    bed_out: str | os.PathLike,
    groups_out: str | os.PathLike,
    counts_out: str | os.PathLike,
    pct_cutoff: int = MAGE_PCT_CUTOFF,
) -> dict[str, int]:
    """The whole of MAGE's filter_quants.py: read, map clusters to genes from the GTF's exons,
    filter, normalise, write the three outputs. Returns the counts at each step for the log."""
    counts = read_perind_counts(perind, libraries)
    cluster_genes = map_clusters_to_genes(counts.num.index, read_exons(gtf))
    result = build_splicing_phenotypes(counts, cluster_genes, genes, pct_cutoff)
    write_splicing_phenotypes(result, bed_out, groups_out, counts_out)
    return result.summary
