"""LeafCutter clusters mapped to genes, as MAGE did it.

MAGE (mccoy-lab/MAGE, analysis_pipeline/01_data_preparation/splicing_quantification/
02_intron_usage/workflow/) ran bin/extract_exons_from_gtf.py on the GENCODE v38 GTF, then
bin/map_clusters_to_genes.R, which calls ``map_clusters_to_genes`` of the leafcutter R package
installed from branch psi_2019 (bin/leafcutter_install.R; davidaknowles/leafcutter psi_2019
d8bdce0, leafcutter/R/utils.R; the function is the same on master 2c9907e). Checked there:

* Exon table: the GTF's ``exon`` rows, '#' lines skipped, made unique on (chrom, start, end,
  strand, gene_id, gene_name); the R script then overwrites gene_name with gene_id, so the genes
  reported are gene IDs. Start and end stay the GTF's 1-based inclusive coordinates.
* Intron coordinates come from ``get_intron_meta``: the ID ``chr:start:end:clu_N_strand`` split
  on ':'. LeafCutter's clustering (clustering/leafcutter_cluster_regtools.py) sets start =
  chromStart + first blockSize and end = chromEnd - second blockSize + 1, i.e. 1-based the last
  base of the upstream exon and the first base of the downstream exon. Hence the two joins of
  ``map_clusters_to_genes`` compare GTF coordinates directly: intron end == exon start
  ("three_prime") or intron start == exon end ("five_prime"), within one chromosome; strand is
  not part of either join.
* A cluster (``chr:clu_N_strand``) gets the union of the genes of all its introns; clusters with
  no match are absent. MAGE ran it on the whole ``*_perind.counts.gz`` (every intron, before any
  filtering), so a cluster may owe a gene to an intron that filtering later removes.
* R joins the genes with ","; their order there is the join order. Here they are sorted, which
  changes nothing downstream (MAGE re-sorts the BED by gene and the groups file by gene).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.reference.annotation import gtf_records

EXON_COLUMNS = ["chrom", "start", "end", "strand", "gene_id"]

_GENE_ID = re.compile(r'(?:^|;)\s*gene_id "([^"]*)"')


def split_intron_id(intron_id: str) -> tuple[str, int, int, str]:
    """``chr:start:end:clu_N_strand`` as (chrom, start, end, "clu_N_strand"); a KgpexError
    naming the ID when it is not that shape (callers add the file and row)."""
    parts = intron_id.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit() or not parts[3]:
        raise KgpexError(f"intron ID {intron_id!r} is not chr:start:end:clu_N_strand")
    return parts[0], int(parts[1]), int(parts[2]), parts[3]


def cluster_of(intron_id: str) -> str:
    """The cluster ID ``chr:clu_N_strand`` of an intron ID ``chr:start:end:clu_N_strand``."""
    chrom, _, _, clu = split_intron_id(intron_id)
    return f"{chrom}:{clu}"


def read_exons(gtf: str | os.PathLike) -> pd.DataFrame:
    """The unique exons of a (gzipped) GTF: ``chrom start end strand gene_id`` (1-based GTF
    coordinates), sorted by chrom, start, end, strand, gene_id. One line naming the file and
    line for a row that is not 9 fields, has bad coordinates or no gene_id."""
    path = Path(gtf)
    exons: set[tuple[str, int, int, str, str]] = set()
    for n, fields in gtf_records(path):
        if fields[2] != "exon":
            continue
        start, end = fields[3], fields[4]
        if not (start.isdigit() and end.isdigit()):
            raise KgpexError(
                f"{path} line {n}: exon coordinates start={start} end={end} are not integers"
            )
        match = _GENE_ID.search(fields[8])
        if not match:
            raise KgpexError(f"{path} line {n}: exon row without gene_id")
        exons.add((fields[0], int(start), int(end), fields[6], match.group(1)))
    if not exons:
        raise KgpexError(f"{path}: no exon rows (feature 'exon') in the GTF")
    return pd.DataFrame(sorted(exons), columns=EXON_COLUMNS)


def map_clusters_to_genes(intron_ids: Iterable[str], exons: pd.DataFrame) -> dict[str, list[str]]:
    """Cluster ID ``chr:clu_N_strand`` -> sorted gene IDs, for every cluster with at least one
    intron whose end is an exon's start or whose start is an exon's end on the same chromosome
    (strand ignored). Clusters without a match are left out, as LeafCutter leaves them out."""
    # (chrom, coordinate) -> genes, for the two joins of leafcutter's map_clusters_to_genes.
    by_start: dict[tuple[str, int], set[str]] = {}
    by_end: dict[tuple[str, int], set[str]] = {}
    for chrom, start, end, gene in zip(
        exons["chrom"], exons["start"], exons["end"], exons["gene_id"]
    ):
        by_start.setdefault((chrom, int(start)), set()).add(gene)
        by_end.setdefault((chrom, int(end)), set()).add(gene)
    genes: dict[str, set[str]] = {}
    for intron_id in intron_ids:
        chrom, start, end, clu = split_intron_id(intron_id)
        hits = by_start.get((chrom, end), set()) | by_end.get((chrom, start), set())
        if hits:
            genes.setdefault(f"{chrom}:{clu}", set()).update(hits)
    return {clu: sorted(found) for clu, found in sorted(genes.items())}
