"""Sample resolution: the cohort's individuals and runs, and one source of reads per run.

Rule ``resolve_samples`` (a checkpoint) calls :func:`resolve` and writes three tables under
``results/{cohort}/samples/`` that every later stage reads instead of the config's sheets:

- ``individuals.tsv``: ``individual population continental_group sex`` (the individuals schema);
- ``runs.tsv``: ``run_accession individual batch`` (the runs schema), one row per run kept;
- ``run_sources.tsv``: kgpex.runtable's checked table (where each run's reads come from).

Resolution runs in a job, not at parse time, because a real cohort's run table is itself a
download; a dry-run before it shows the jobs up to the checkpoint.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from kgpex.errors import KgpexError
from kgpex.io import atomic_path
from kgpex.runtable import check_run_table, read_run_table, write_checked
from kgpex.sheets import Sheets, load_sheets, read_tsv

INDIVIDUAL_COLUMNS = ("individual", "population", "continental_group", "sex")
RUN_COLUMNS = ("run_accession", "individual", "batch")


@dataclass(frozen=True)
class ResolvedPaths:
    individuals: str
    runs: str
    sources: str


def _write_rows(rows, columns, dest) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[c] for c in columns])


def write_sheets(sheets: Sheets, individuals_dest, runs_dest) -> None:
    """The resolved sheets, sorted by ID so that reruns write the same bytes."""
    _write_rows([sheets.individuals[i] for i in sorted(sheets.individuals)], INDIVIDUAL_COLUMNS, individuals_dest)
    _write_rows([sheets.runs[r] for r in sorted(sheets.runs)], RUN_COLUMNS, runs_dest)


def resolve_from_sheets(
    individuals: str | os.PathLike,
    runs: str | os.PathLike,
    run_table: str | os.PathLike,
    out: ResolvedPaths,
    scheme: str = "https",
) -> Sheets:
    """Method ``sheets``: the user's two sheets, each run checked against the run table."""
    sheets = load_sheets(individuals, runs)
    sources = check_run_table(run_table, sheets.runs, scheme=scheme, runs_label=str(runs))
    write_sheets(sheets, out.individuals, out.runs)
    write_checked(sources, out.sources)
    return sheets


def read_resolved_runs(path: str | os.PathLike) -> dict[str, dict]:
    """resolve_samples' runs.tsv: run accession -> row."""
    return {row["run_accession"]: row for row in read_tsv(path)}


def read_resolved_individuals(path: str | os.PathLike) -> dict[str, dict]:
    """resolve_samples' individuals.tsv: individual -> row."""
    return {row["individual"]: row for row in read_tsv(path)}


def record_query(source: str, table: str | os.PathLike, dest: str | os.PathLike) -> dict:
    """Write where and when a run table came from, beside it (the cache's provenance)."""
    digest = hashlib.sha256(Path(table).read_bytes()).hexdigest()
    record = {
        "source": source,
        "fetched_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": digest,
        "runs": len(read_run_table(table)),
    }
    with atomic_path(dest) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n")
    return record


def check_method(method: str) -> None:
    if method not in METHODS:
        raise KgpexError(f"samples.method: unknown method '{method}' (one of {', '.join(METHODS)})")


METHODS = ("sheets",)
