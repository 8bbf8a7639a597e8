"""What every method's metadata shares: the fetched run table's rows, 1000 Genomes ID tokens, the
run-mapping columns, and the sha256 of a metadata file."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from kgpex.common.errors import KgpexError

SAMPLE_FIELDS = ("sample_alias", "sample_title", "library_name")

RUN_TABLE_COLUMNS = ("run_accession", *SAMPLE_FIELDS, "read_count")

_TOKEN = re.compile(r"(?<![A-Za-z0-9])((?:GM|HG|NA)\d{5})((?:[-_.]\d+){2})?(?![0-9])", re.I)

_KGP_ID = re.compile(r"^(HG|NA)\d{5}$")


@dataclass(frozen=True)
class Run:
    accession: str
    fields: dict[str, str]  # sample_alias, sample_title, library_name
    read_count: int | None
    line: int


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_table(
    path: Path, required: tuple[str, ...], what: str, label: str
) -> list[tuple[int, dict]]:
    """Rows with their line numbers; errors name ``label`` (the URL or path the user gave)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [c for c in required if c not in header]
        if missing:
            raise KgpexError(f"{label} line 1: {what} lacks column(s) {', '.join(missing)}")
        rows = []
        for n, row in enumerate(reader, start=2):
            if None in row or None in row.values():
                raise KgpexError(f"{label} line {n}: wrong number of columns")
            rows.append((n, {k: v.strip() for k, v in row.items()}))
    if not rows:
        raise KgpexError(f"{label}: {what} has no rows")
    return rows


def read_run_table(path: str | Path, label: str | None = None) -> dict[str, Run]:
    """ENA filereport rows by run accession, with the sample fields the mapping reads."""
    label = label or str(path)
    runs: dict[str, Run] = {}
    for n, row in _read_table(Path(path), RUN_TABLE_COLUMNS, "ENA run table", label):
        acc = row["run_accession"]
        if not acc:
            raise KgpexError(f"{label} line {n}: empty run_accession")
        if acc in runs:
            raise KgpexError(
                f"{label} line {n}: duplicate run_accession '{acc}' "
                f"(first on line {runs[acc].line})"
            )
        count = row["read_count"]
        runs[acc] = Run(
            accession=acc,
            fields={f: row[f] for f in SAMPLE_FIELDS},
            read_count=int(count) if count.isdigit() else None,
            line=n,
        )
    return runs


MAPPING_COLUMNS = ("run_accession", "status", "individual", "library", "read_count", "evidence")


def kgp_ids(text: str) -> set[str]:
    """1000 Genomes IDs named in ``text``; Coriell's GM numbers are the NA IDs."""
    found = set()
    for m in _TOKEN.finditer(text or ""):
        ident = m.group(1).upper()
        found.add("NA" + ident[2:] if ident.startswith("GM") else ident)
    return found
