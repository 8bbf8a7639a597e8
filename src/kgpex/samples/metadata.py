"""What every method's metadata shares: the run table's runs with their sample fields, 1000 Genomes
ID tokens, the reader of metadata tables, the run-mapping columns and what each join returns
(a metadata file's sha256: kgpex.common.io.sha256_of)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.samples.runtable import read_run_table

SAMPLE_FIELDS = ("sample_alias", "sample_title", "library_name")

RUN_TABLE_COLUMNS = ("run_accession", *SAMPLE_FIELDS, "read_count")

KGP_TOKEN = re.compile(r"(?<![A-Za-z0-9])((?:GM|HG|NA)\d{5})((?:[-_.]\d+){2})?(?![0-9])", re.IGNORECASE)

KGP_ID = re.compile(r"^(HG|NA)\d{5}$")


@dataclass(frozen=True)
class Run:
    accession: str
    fields: dict[str, str]  # sample_alias, sample_title, library_name
    read_count: int | None
    line: int


def read_table(
    path: Path, required: tuple[str, ...], what: str, label: str
) -> list[tuple[int, dict]]:
    """A metadata TSV's rows (values stripped) with their line numbers; errors name ``label``
    (the URL or path the user gave) and ``what`` the table is."""
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


def read_runs(path: str | Path) -> dict[str, Run]:
    """The run table (kgpex.samples.runtable.read_run_table) as the sample fields the MAGE join
    reads, by run accession; values stripped."""
    table = read_run_table(path, columns=RUN_TABLE_COLUMNS)
    if not table:
        raise KgpexError(f"{path}: ENA run table has no rows")
    runs: dict[str, Run] = {}
    for acc, entry in table.items():
        row = {k: v.strip() for k, v in entry.row.items()}
        count = row["read_count"]
        runs[acc] = Run(
            accession=acc,
            fields={f: row[f] for f in SAMPLE_FIELDS},
            read_count=int(count) if count.isdigit() else None,
            line=entry.line,
        )
    return runs


MAPPING_COLUMNS = (
    "run_accession", "status", "individual", "library", "read_count", "evidence", "library_evidence",
)

# An overrides table's value for a run to leave out (column library of mage's, individual of the
# others').
EXCLUDE = "exclude"


@dataclass
class CohortSamples:
    """What a join found: the individuals and runs kept, every run's evidence (``mapping``),
    and every problem (nothing may be written while ``problems`` is not empty)."""

    label: str  # the table the problems are about, for the error line
    individuals: dict[str, dict] = field(default_factory=dict)  # ID -> individuals-sheet row
    runs: list[dict] = field(default_factory=list)  # run_accession individual batch
    mapping: list[dict] = field(default_factory=list)  # MAPPING_COLUMNS
    problems: list[str] = field(default_factory=list)


def kgp_ids(text: str) -> set[str]:
    """1000 Genomes IDs named in ``text``; Coriell's GM numbers are the NA IDs."""
    found = set()
    for m in KGP_TOKEN.finditer(text or ""):
        ident = m.group(1).upper()
        found.add("NA" + ident[2:] if ident.startswith("GM") else ident)
    return found
