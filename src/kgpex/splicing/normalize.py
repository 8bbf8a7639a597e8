"""LeafCutter's phenotype normalisation, ``scripts/prepare_phenotype_table.py -p 0``.

Checked against davidaknowles/leafcutter master 2c9907e, scripts/prepare_phenotype_table.py
(MAGE clones master at run time and runs it from filter_quants.py with ``-p 0``):

1. Per intron and sample: NA if ``float(den) < 1``, else ``(num + 0.5) / (den + 0.5)``.
2. The intron is skipped if its NA count is ``> len * 0.4`` (strictly more than 40%); otherwise
   each NA becomes ``np.mean`` of the intron's non-NA ratios.
3. Skipped if ``np.std`` (population, ddof 0) of the imputed row is ``< 0.005``.
4. ``sklearn.preprocessing.scale`` of the row: (x - mean) / std, ddof 0. (sklearn re-centres
   once more when the result's mean is not ``allclose`` to 0; that needs ratios far outside
   [0, 1.5] and is left out. The SD's ddof does not matter downstream: it scales every row by
   the same factor, which leaves the ranks of step 5 as they are.)
5. ``qqnorm`` on each column (sample) across all kept introns: ``norm.ppf((rankdata(x) - a) /
   (n + 1 - 2a))``, ranks averaged over ties, ``a = 3/8`` if n <= 10 else 0.5, n = introns.
6. Introns on a blacklisted chromosome (the ID's first field) are skipped before step 1; the
   default list is "X", "Y", which does not match "chrX", so MAGE's chrX introns stay in.
``-p 0`` writes no PCs. The per-chromosome output split and its sort do not change the values.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from kgpex.common.errors import KgpexError

MAX_NA_FRACTION = 0.4
MIN_SD = 0.005
PSEUDOCOUNT = 0.5
DEFAULT_BLACKLIST = ("X", "Y")  # LeafCutter's default --ChromosomeBlackList


def leafcutter_ratios(num: pd.DataFrame, den: pd.DataFrame) -> pd.DataFrame:
    """(num + 0.5) / (den + 0.5) per intron and sample; NaN where den < 1."""
    if num.shape != den.shape:
        raise KgpexError("LeafCutter ratios: numerator and denominator tables differ in shape")
    n = num.to_numpy(dtype=float)
    d = den.to_numpy(dtype=float)
    ratios = (n + PSEUDOCOUNT) / (d + PSEUDOCOUNT)
    ratios[d < 1] = np.nan
    return pd.DataFrame(ratios, index=num.index, columns=num.columns)


def qqnorm(column: np.ndarray) -> np.ndarray:
    """LeafCutter's qqnorm: norm.ppf((rank - a) / (n + 1 - 2a)), a = 3/8 for n <= 10 else 1/2."""
    n = len(column)
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return stats.norm.ppf((stats.rankdata(column) - a) / (n + 1.0 - 2.0 * a))


def impute_and_screen(ratios: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Steps 2-3: the imputed ratio rows that survive, and per intron why one was dropped
    ("" kept, "missing" for > 40% NA, "low_sd" for population SD < 0.005)."""
    values = ratios.to_numpy(dtype=float, copy=True)
    n_samples = values.shape[1]
    na = np.isnan(values)
    reason = np.full(values.shape[0], "", dtype=object)
    reason[na.sum(axis=1) > n_samples * MAX_NA_FRACTION] = "missing"
    for i in np.flatnonzero(na.any(axis=1) & (reason == "")):
        row = values[i]
        row[na[i]] = np.mean(row[~na[i]])
    with np.errstate(invalid="ignore"):
        sd = values.std(axis=1)
    reason[(reason == "") & ~(sd >= MIN_SD)] = "low_sd"
    keep = reason == ""
    imputed = pd.DataFrame(values[keep], index=ratios.index[keep], columns=ratios.columns)
    return imputed, pd.Series(reason, index=ratios.index, name="dropped")


def prepare_phenotype_table(
    num: pd.DataFrame,
    den: pd.DataFrame,
    blacklist: Iterable[str] = DEFAULT_BLACKLIST,
) -> tuple[pd.DataFrame, pd.Series]:
    """LeafCutter's normalised phenotypes of an introns x samples count table (num, den).

    Returns the qqnormed introns x samples table of the introns kept (input order) and, per input
    intron, why it was dropped ("" kept, "blacklist", "missing", "low_sd").
    """
    if num.shape[1] == 0:
        raise KgpexError("LeafCutter normalisation: no samples")
    black = set(blacklist)
    listed = np.array([i.split(":", 1)[0] in black for i in num.index], dtype=bool)
    imputed, reason = impute_and_screen(leafcutter_ratios(num[~listed], den[~listed]))
    reason = pd.concat(
        [reason, pd.Series("blacklist", index=num.index[listed], name="dropped")]
    ).reindex(num.index)
    values = imputed.to_numpy(dtype=float)
    scaled = (values - values.mean(axis=1, keepdims=True)) / values.std(axis=1, keepdims=True)
    normed = np.empty_like(scaled)
    for j in range(scaled.shape[1]):
        normed[:, j] = qqnorm(scaled[:, j]) if scaled.shape[0] else scaled[:, j]
    return pd.DataFrame(normed, index=imputed.index, columns=imputed.columns), reason
