"""Gene-level sQTL fine-mapping: intron credible sets merged per gene (MAGE's
analysis_pipeline/06_sQTL_mapping/run_susie/scripts/get_gene_level_results.py, its intended rule).

Each (intron, credible set) of a gene is a set of variants. Sets sharing a variant are unioned,
repeatedly, until no two overlap: the merged sets are the connected components of the overlap
graph, named M1, M2, ... per gene.

Orders, as MAGE's script gives them:
- genes in order of first appearance in the significant associations;
- the (intron, credible set) list of a gene: introns in order of first appearance, then each
  intron's credible sets in order of first appearance (MAGE's nested ``unique()`` loops);
- merged sets: numbered in the order MAGE's ``merge_sets`` leaves them (``merge_overlapping``).
  Mostly that is the place of a merged set's first member in that list, but not always: a set
  that absorbs a later superset of itself moves to the superset's place;
- variants of a merged set by position (the second ":" field of ``chrom:pos:ref:alt``), as MAGE;
  MAGE leaves variants at one position in set order (arbitrary), here they follow their ID;
- ``intronIDs`` and ``mergedIntronSets``: ``intronID,credibleSet`` keys, sorted as text,
  ";"-joined.

Lead variant: the member intron credible set with the highest coverage, then its highest-PIP
variant. MAGE takes the last row after ``sort_values`` (numpy's unstable quicksort), so its ties
depend on the platform; here ties break as a stable sort would break them: the coverage tie goes
to the key last in text order, the PIP tie to the variant last in the input's row order.

MAGE's published collate step (collate_snp_results.py) wrote the intron ID into geneID, so as
published the merge ran per intron. Here the gene is the intron's phenotype group (pass
``groups``, or a geneID column already filled from it), which is the rule MAGE describes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError

MERGED_ASSOCIATION_COLUMNS = ["geneID", "variantID", "mergedCredibleSet", "intronIDs"]

LEAD_VARIANT_COLUMNS = [
    "geneID", "variantID", "mergedCredibleSet", "intronID", "intronCredibleSet",
    "intronCS_coverage", "intronCS_variantPIP", "mergedIntronSets",
]


def merge_overlapping(sets: list[set]) -> list[list[int]]:
    """Connected components of ``sets`` linked by shared members, as lists of set indices
    (ascending), in the order MAGE's ``merge_sets`` leaves the merged sets.

    That order comes from its passes over the list: each set absorbs the first later set it
    overlaps, then the first set *equal* to the absorbed one is removed. When the absorbing set
    was a subset of the absorbed one, the two are then equal and the absorbing (earlier) one is
    removed, so the merged set moves to the later place. Passes repeat until nothing merges.
    """
    pooled = [set(s) for s in sets]
    merging = True
    while merging:
        merging = False
        i = 0
        while i < len(pooled):
            group = pooled[i]
            j = next((k for k in range(i + 1, len(pooled)) if pooled[k] & group), None)
            if j is not None:
                absorbed = pooled[j]
                group |= absorbed
                # list.remove semantics: the first set equal in value, wherever it is.
                del pooled[next(k for k, s in enumerate(pooled) if s == absorbed)]
                merging = True
            i += 1
    return [[i for i, s in enumerate(sets) if s & merged] for merged in pooled]


def _position(variant_id: str) -> int:
    parts = variant_id.split(":")
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        raise KgpexError(f"variant ID '{variant_id}' is not chrom:pos:ref:alt") from None


def _has_credible_set(cs: pd.Series) -> pd.Series:
    # Either a missing value or MAGE's written "NA".
    return cs.notna() & (cs.astype(str) != "NA") & (cs.astype(str) != "")


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KgpexError(f"{what}: column '{missing[0]}' missing (expected {' '.join(columns)})")


def gene_merged_tables(significant: pd.DataFrame, credible_sets: pd.DataFrame,
                       groups: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """geneMerged.significantAssociations and geneMerged.leadVariant of MAGE's sQTL fine-mapping.

    ``significant``: introns.significantAssociations (intronID, geneID, variantID, variantPIP,
    variantCredibleSet); rows without a credible set are ignored. ``credible_sets``:
    introns.credibleSet_summary (intronID, credibleSet, coverage). ``groups`` (intron ID ->
    gene ID), when given, replaces the geneID column (MAGE's published files hold intron IDs
    there). Returns (MERGED_ASSOCIATION_COLUMNS table, LEAD_VARIANT_COLUMNS table).
    """
    needed = ["intronID", "variantID", "variantPIP", "variantCredibleSet"]
    _require(significant, needed if groups is not None else ["geneID", *needed],
             "significant associations")
    _require(credible_sets, ["intronID", "credibleSet", "coverage"], "credible-set summary")
    rows = significant[_has_credible_set(significant["variantCredibleSet"])]
    introns = rows["intronID"].astype(str)
    if groups is not None:
        genes = introns.map(groups)
        if genes.isna().any():
            raise KgpexError(f"significant associations: intron '{introns[genes.isna()].iloc[0]}'"
                             " is not in the phenotype groups")
    else:
        genes = rows["geneID"].astype(str)
    try:
        pips = rows["variantPIP"].astype(float).to_numpy()
    except (TypeError, ValueError) as err:
        raise KgpexError(f"significant associations: variantPIP is not numeric ({err})") from None
    keys = (introns + "," + rows["variantCredibleSet"].astype(str)).to_numpy()
    coverage = _coverage_by_key(credible_sets)
    unknown = [k for k in pd.unique(keys) if k not in coverage]
    if unknown:
        intron, cs = unknown[0].rsplit(",", 1)
        raise KgpexError(f"credible set {cs} of {intron} is in the significant associations but "
                         "not in the credible-set summary")
    table = pd.DataFrame({"gene": genes.to_numpy(), "intron": introns.to_numpy(),
                          "variant": rows["variantID"].astype(str).to_numpy(), "key": keys,
                          "pip": pips})
    merged, lead = [], []
    for gene, gene_rows in table.groupby("gene", sort=False):
        _merge_gene(gene, gene_rows, coverage, merged, lead)
    return (pd.DataFrame(merged, columns=MERGED_ASSOCIATION_COLUMNS),
            pd.DataFrame(lead, columns=LEAD_VARIANT_COLUMNS).astype(
                {"intronCS_coverage": float, "intronCS_variantPIP": float}))


def _coverage_by_key(credible_sets: pd.DataFrame) -> dict[str, float]:
    keys = credible_sets["intronID"].astype(str) + "," + credible_sets["credibleSet"].astype(str)
    dup = keys[keys.duplicated()]
    if len(dup):
        raise KgpexError(f"credible-set summary: credible set '{dup.iloc[0]}' appears twice")
    try:
        values = credible_sets["coverage"].astype(float).to_numpy()
    except (TypeError, ValueError) as err:
        raise KgpexError(f"credible-set summary: coverage is not numeric ({err})") from None
    return dict(zip(keys, values))


def _merge_gene(gene: str, rows: pd.DataFrame, coverage: dict[str, float], merged: list,
                lead: list) -> None:
    # MAGE's set list: introns by first appearance, then each intron's sets by first appearance.
    intron_rank = {k: i for i, k in enumerate(pd.unique(rows["intron"]))}
    set_keys = sorted(pd.unique(rows["key"]),
                      key=lambda k: intron_rank[k.rsplit(",", 1)[0]])
    members = {k: set() for k in set_keys}
    keys_of_variant: dict[str, set] = {}
    for variant, key in zip(rows["variant"], rows["key"]):
        members[key].add(variant)
        keys_of_variant.setdefault(variant, set()).add(key)
    for n, component in enumerate(merge_overlapping([members[k] for k in set_keys]), 1):
        name = f"M{n}"
        variants = set().union(*(members[set_keys[i]] for i in component))
        for variant in sorted(variants, key=lambda v: (_position(v), v)):
            merged.append((gene, variant, name, ";".join(sorted(keys_of_variant[variant]))))
        merged_keys = sorted(set_keys[i] for i in component)
        lead_key = _lead_key(merged_keys, coverage)
        lead_rows = rows[rows["key"] == lead_key]
        pip = lead_rows["pip"].to_numpy()
        # Last of the maxima: what a stable ascending sort's last row gives.
        best = len(pip) - 1 - int(np.nanargmax(pip[::-1])) if not np.isnan(pip).all() \
            else len(pip) - 1
        intron, cs = lead_key.rsplit(",", 1)
        lead.append((gene, lead_rows["variant"].iloc[best], name, intron, cs,
                     coverage[lead_key], pip[best], ";".join(merged_keys)))


def _lead_key(sorted_keys: list[str], coverage: dict[str, float]) -> str:
    """The key with the highest coverage; ties to the last in text order; NaN ranks lowest."""
    best, best_cov = sorted_keys[0], -math.inf
    for key in sorted_keys:
        cov = coverage[key]
        cov = -math.inf if math.isnan(cov) else cov
        if cov >= best_cov:
            best, best_cov = key, cov
    return best
