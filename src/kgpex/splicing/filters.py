"""MAGE's intron filters, run before LeafCutter's normalisation.

Checked against mccoy-lab/MAGE analysis_pipeline/01_data_preparation/splicing_quantification/
02_intron_usage/workflow/bin/filter_quants.py, as the Snakefile calls it (``--pct_cutoff 10
--autosomes_chrX --keep_samples``), in its order:

1. ``--autosomes_chrX``: rows whose ID ``str.startswith`` one of chr1..chr22, chrX. Here the
   chromosome field must equal one of them. The two differ only for contigs such as
   ``chr1_KI270706v1_random``, which never reach this step: LeafCutter's clustering keeps only
   chr1-22, chrX, chrY and their unprefixed names (leafcutter_cluster_regtools.py, chromLst).
2. ratio = float(num) / float(den) if den > 0 else 0, per sample (samples already subset).
3. ``pct_zero = (ratio == 0).sum(1) / N``; kept if ``pct_zero <= (100 - pct_cutoff) / 100``
   (0.9 at pct_cutoff 10: at most 90% zeros, so non-zero in at least 10% of samples).
4. ``n_unique`` = number of distinct ratios of the intron (``len(x.unique())``); kept if
   ``n_unique >= n`` with ``n = floor(N * 0.1)`` raised to 10 when below 10.
5. Low complexity: z = (ratio - mean) / std with pandas' default std (ddof=1) per intron;
   removed if ``(|z| < 0.25).sum() >= N - 3`` and ``(|z| > 6).sum() <= 3``. An intron with
   std 0 gets z = NaN everywhere, which counts in neither sum (so with N > 3 this rule does not
   remove it; rule 4 does). The second clause never decides: at least N - 3 samples with
   |z| < 0.25 leave at most 3 that could have |z| > 6. It is kept as MAGE wrote it.
6. An intron is kept if it passes 3 and 4 and is not removed by 5.

The arithmetic is MAGE's, in floating point, including ``N * 0.1`` and ``(100 - pct) / 100``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError

MAGE_PCT_CUTOFF = 10
AUTOSOMES_CHRX = frozenset([f"chr{i}" for i in range(1, 23)] + ["chrX"])
MIN_DISTINCT = 10  # MAGE's floor on the distinct-ratio count
DISTINCT_FRACTION = 0.1
LOW_Z, HIGH_Z, FEW_SAMPLES = 0.25, 6, 3


def on_autosomes_chrx(intron_ids) -> np.ndarray:
    """Boolean mask: the intron ID's chromosome (before the first ':') is chr1..chr22 or chrX."""
    return np.array([i.split(":", 1)[0] in AUTOSOMES_CHRX for i in intron_ids], dtype=bool)


def usage_ratios(num: pd.DataFrame, den: pd.DataFrame) -> pd.DataFrame:
    """num / den per intron and sample, 0 where den == 0 (MAGE's ``calculate_frac``)."""
    if num.shape != den.shape:
        raise KgpexError("usage ratios: numerator and denominator tables differ in shape")
    n = num.to_numpy(dtype=float)
    d = den.to_numpy(dtype=float)
    out = np.zeros_like(n)
    np.divide(n, d, out=out, where=d > 0)
    return pd.DataFrame(out, index=num.index, columns=num.columns)


def min_distinct_ratios(n_samples: int) -> int:
    """max(10, floor(0.1 * N)), computed as MAGE did (``np.floor(N * 0.1)``)."""
    return max(MIN_DISTINCT, math.floor(n_samples * DISTINCT_FRACTION))


def _distinct_per_row(values: np.ndarray) -> np.ndarray:
    if values.shape[1] == 0:
        return np.zeros(values.shape[0], dtype=int)
    ordered = np.sort(values, axis=1)
    return 1 + (np.diff(ordered, axis=1) != 0).sum(axis=1)


def filter_table(ratios: pd.DataFrame, pct_cutoff: int = MAGE_PCT_CUTOFF) -> pd.DataFrame:
    """MAGE's filters on an introns x samples ratio table (from ``usage_ratios``).

    Returns, per intron: ``zero_fraction``, ``n_distinct``, ``pass_nonzero`` (zero_fraction <=
    (100 - pct_cutoff) / 100), ``pass_distinct`` (n_distinct >= min_distinct_ratios(N)),
    ``low_complexity`` (the z-score rule) and ``keep`` = pass_nonzero & pass_distinct &
    ~low_complexity.
    """
    values = ratios.to_numpy(dtype=float)
    n_samples = values.shape[1]
    if n_samples == 0:
        raise KgpexError("intron filter: no samples")
    zero_fraction = (values == 0).sum(axis=1) / n_samples
    n_distinct = _distinct_per_row(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = values.mean(axis=1, keepdims=True)
        sd = values.std(axis=1, ddof=1, keepdims=True)
        absz = np.abs((values - mean) / sd)
    # NaN z (sd 0, or one sample) compares False both ways, as in pandas.
    low_complexity = ((absz < LOW_Z).sum(axis=1) >= n_samples - FEW_SAMPLES) & (
        (absz > HIGH_Z).sum(axis=1) <= FEW_SAMPLES
    )
    out = pd.DataFrame(
        {
            "zero_fraction": zero_fraction,
            "n_distinct": n_distinct,
            "pass_nonzero": zero_fraction <= (100 - pct_cutoff) / 100,
            "pass_distinct": n_distinct >= min_distinct_ratios(n_samples),
            "low_complexity": low_complexity,
        },
        index=ratios.index,
    )
    out["keep"] = out["pass_nonzero"] & out["pass_distinct"] & ~out["low_complexity"]
    return out
