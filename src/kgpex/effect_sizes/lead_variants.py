"""The fine-mapping lead-variant table both effect-size arms read (eqtl.smk's
mage_finemapping_lead_variants: MAGE's 10 fine-mapping columns, one row per credible set)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import read_text_tsv
from kgpex.eqtl.mage_format import FINEMAPPING_COLUMNS

LEAD_VARIANT_COLUMNS = list(FINEMAPPING_COLUMNS)
# Fields a lead row cannot do without: where the variant is, which it is, and its gene.
REQUIRED_FIELDS = ("variantChrom", "variantPosition", "variant_kgpID", "ensemblID")


def read_lead_variants(path) -> pd.DataFrame:
    """The table (plain or gzip), checked, every field kept as its text so that a table built on
    it repeats the 10 columns byte for byte."""
    return check_lead_variants(read_text_tsv(path, "lead-variant table"), str(path))


def check_lead_variants(df: pd.DataFrame, label: str = "lead variants") -> pd.DataFrame:
    """``df``'s 10 columns, or one line naming the missing column or the first empty field."""
    missing = [c for c in LEAD_VARIANT_COLUMNS if c not in df.columns]
    if missing:
        raise KgpexError(f"{label}: column '{missing[0]}' missing")
    for column in REQUIRED_FIELDS:
        empty = df[column].isna() | df[column].astype(str).isin(["", "NA"])
        if empty.any():
            raise KgpexError(f"{label} line {int(np.flatnonzero(empty)[0]) + 2}: field {column} is empty")
    bad = ~df["variantPosition"].astype(str).str.fullmatch(r"\d+")
    if bad.any():
        raise KgpexError(f"{label} line {int(np.flatnonzero(bad)[0]) + 2}: "
                         "field variantPosition is not a positive integer")
    return df[LEAD_VARIANT_COLUMNS].reset_index(drop=True)
