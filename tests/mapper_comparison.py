"""Agreement of two mappers' permutation tables (tests and benchmarks/mapper_speed.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def compare_top_variants(reference: pd.DataFrame, other: pd.DataFrame, genes=None) -> dict:
    """How two mappers' permutation tables agree on ``genes`` (default: genes in both).

    Returns the number of genes compared, the fraction with the same top variant and the
    Pearson correlation of -log10 pval_beta.
    """
    a = reference.set_index("phenotype_id")
    b = other.set_index("phenotype_id")
    common = a.index.intersection(b.index)
    if genes is not None:
        common = common.intersection(pd.Index(genes))
    if len(common) == 0:
        return {
            "genes": 0,
            "same_top_variant": float("nan"),
            "pearson_log10_pval_beta": float("nan"),
        }
    same = float((a.loc[common, "variant_id"] == b.loc[common, "variant_id"]).mean())
    la = -np.log10(a.loc[common, "pval_beta"].astype(float).clip(lower=1e-300))
    lb = -np.log10(b.loc[common, "pval_beta"].astype(float).clip(lower=1e-300))
    r = float(np.corrcoef(la, lb)[0, 1]) if len(common) > 1 else float("nan")
    return {"genes": int(len(common)), "same_top_variant": same, "pearson_log10_pval_beta": r}
