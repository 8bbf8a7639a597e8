"""The user's own covariates (``covariates.input``), instead of genotype PCs + hidden factors + sex.

Formats (tab-separated, gzip fine), told apart by where the phenotype BED's samples are:
- FastQTL's (GTEx's, MAGE's): header ``id <sample>...``, one row per covariate;
- transposed: header ``<anything> <covariate>...``, one row per sample.
Every value must be a number (a categorical covariate must be coded by the user). Covariates
are taken for the BED's samples (extra samples ignored, logged), then checked as kgpex's own:
constant or collinear ones dropped (``kgpex.covariates.assemble.drop_collinear``, logged), and
written in MAGE's layout (``id`` then the samples, sorted) as the table both mappers read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import open_text, phenotype_bed_header
from kgpex.covariates.assemble import covariates_table, drop_collinear, write_covariates

log = logging.getLogger(__name__)


def _read_rows(path: Path, label: str) -> list[list[str]]:
    if not path.is_file():
        raise KgpexError(f"{label}: covariates file not found")
    with open_text(path, what="covariates file") as fh:
        rows = [line.rstrip("\r\n").split("\t") for line in fh if line.strip()]
    if len(rows) < 2:
        raise KgpexError(f"{label}: needs a header and at least one row")
    width = len(rows[0])
    for n, row in enumerate(rows, start=1):
        if len(row) != width:
            raise KgpexError(f"{label} line {n}: {len(row)} fields, the header has {width}")
    return rows


def read_user_covariates(path: str | Path, samples: list[str], label: str | None = None) -> pd.DataFrame:
    """Covariates as samples x covariates (float), rows in the order of ``samples``."""
    path = Path(path)
    label = label or str(path)
    rows = _read_rows(path, label)
    header, body = rows[0], rows[1:]
    wanted = set(samples)
    in_header = wanted & set(header[1:])
    in_column = wanted & {r[0] for r in body}
    transposed = len(in_column) > len(in_header)
    if transposed:
        names, ids = header[1:], [r[0] for r in body]
    else:
        names, ids = [r[0] for r in body], header[1:]
    for kind, values in (("covariate", names), ("sample", ids)):
        seen: set[str] = set()
        for v in values:
            if v in seen:
                raise KgpexError(f"{label}: {kind} {v} appears twice")
            seen.add(v)
    missing = [s for s in samples if s not in set(ids)]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise KgpexError(
            f"{label}: {len(missing)} of the {len(samples)} phenotype samples missing: {shown}"
        )
    values = np.empty((len(body), len(header) - 1))
    for i, row in enumerate(body):
        for j, cell in enumerate(row[1:]):
            try:
                values[i, j] = float(cell)
            except ValueError:
                values[i, j] = np.nan
            if not np.isfinite(values[i, j]):
                field = names[j] if transposed else ids[j]
                raise KgpexError(
                    f"{label} line {i + 2}: field {field}: {cell!r} is not a number "
                    "(code categorical covariates as numbers)"
                )
    table = pd.DataFrame(values, index=[r[0] for r in body], columns=header[1:])
    if not transposed:
        table = table.T
    extra = len(set(table.index) - wanted)
    if extra:
        log.info("%s: %d samples not in the phenotype BED ignored", label, extra)
    return table.loc[list(samples)]


def import_covariates(bed: str | Path, covariates: str | Path, dest: str | Path,
                      label: str | None = None) -> pd.DataFrame:
    """Rule ``import_covariates``: the user's covariates for the BED's samples, collinear or
    constant ones dropped, in MAGE's layout."""
    samples = phenotype_bed_header(bed)[4:]
    table = read_user_covariates(covariates, samples, label)
    kept, dropped = drop_collinear(table)
    if kept.shape[1] > len(samples) - 3:
        raise KgpexError(
            f"{label or covariates}: {kept.shape[1]} covariates leave no degrees of freedom "
            f"for {len(samples)} samples"
        )
    out = covariates_table(kept)
    write_covariates(out, dest)
    log.info("%s: %d covariates x %d samples (%d dropped)", dest, len(out), len(samples),
             len(dropped))
    return out
