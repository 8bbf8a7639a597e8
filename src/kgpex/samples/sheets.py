"""Config and sample sheets: loaded, checked against the JSON schemas, and cross-checked.

Every failure is a KgpexError whose message is one line naming the file, row and field.
The Snakefile calls these at parse time, so bad input stops the run before any job starts.
Only the standard library and jsonschema are imported: every dry-run pays for this module.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from kgpex.common.config import validate
from kgpex.common.errors import KgpexError


def read_tsv(path: str | Path) -> list[dict]:
    """Rows of a tab-separated sheet as dicts of strings (no type guessing: '01' stays '01')."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: sheet not found")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"))
    if not rows:
        raise KgpexError(f"{path}: sheet has no rows")
    return rows


def read_ids(path: str | Path, column: str) -> list[str]:
    """One column of a sheet that the pipeline wrote itself (already checked; a matrix
    cohort's runs.tsv is a header without rows)."""
    with open(path, newline="") as fh:
        return [row[column] for row in csv.DictReader(fh, delimiter="\t")]


def _check_rows(rows: list[dict], schema_name: str, path: Path, key: str) -> None:
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        for field, value in row.items():
            if field is None or value is None:
                raise KgpexError(f"{path} line {n}: wrong number of columns")
        validate(row, schema_name, f"{path} line {n} ({key}={row.get(key)!s})")
        if row[key] in seen:
            raise KgpexError(
                f"{path} line {n}: duplicate {key} '{row[key]}' (first on line {seen[row[key]]})"
            )
        seen[row[key]] = n


@dataclass(frozen=True)
class Sheets:
    individuals: dict[str, dict]  # individual ID -> row
    runs: dict[str, dict]  # run accession -> row

    def runs_of(self, individual: str) -> list[str]:
        return sorted(r for r, row in self.runs.items() if row["individual"] == individual)


def individuals_only(config: dict) -> bool:
    """Whether the cohort resolves from the individuals sheet alone: method ``sheets`` with
    ``samples.runs: ""`` (no sequencing runs, no run table). Only the matrix entry point
    (``expression.input: matrix``) accepts it (:func:`check_samples_config`)."""
    samples = config["samples"]
    return samples["method"] == "sheets" and not samples.get("runs")


def check_samples_config(config: dict) -> None:
    """The samples settings against the expression input (after :func:`validate_config`):
    reads need runs, so an individuals-only cohort stops a reads run with one line."""
    if individuals_only(config) and config["expression"]["input"] != "matrix":
        raise KgpexError(
            "config: field 'samples.runs': no runs sheet, but expression.input is "
            f"'{config['expression']['input']}' and salmon needs sequencing runs (give a runs "
            "sheet; only expression.input: matrix resolves a cohort from the individuals sheet alone)"
        )


def _load_individuals(individuals_path: Path) -> dict[str, dict]:
    rows = read_tsv(individuals_path)
    _check_rows(rows, "individuals.schema.yaml", individuals_path, "individual")
    return {r["individual"]: r for r in rows}


def load_individuals(individuals_path: str | Path) -> Sheets:
    """The individuals sheet alone, checked as :func:`load_sheets` checks it, with no runs
    (a matrix cohort: :func:`individuals_only`)."""
    return Sheets(individuals=_load_individuals(Path(individuals_path)), runs={})


def load_sheets(individuals_path: str | Path, runs_path: str | Path) -> Sheets:
    """Load and cross-check the individuals and runs sheets."""
    individuals_path, runs_path = Path(individuals_path), Path(runs_path)
    individuals = _load_individuals(individuals_path)
    run_rows = read_tsv(runs_path)
    _check_rows(run_rows, "runs.schema.yaml", runs_path, "run_accession")
    for n, row in enumerate(run_rows, start=2):
        if row["individual"] not in individuals:
            raise KgpexError(
                f"{runs_path} line {n}: run {row['run_accession']} belongs to individual "
                f"{row['individual']}, who is not in {individuals_path}"
            )
    runs = {r["run_accession"]: r for r in run_rows}
    without_runs = sorted(set(individuals) - {r["individual"] for r in run_rows})
    if without_runs:
        raise KgpexError(
            f"{individuals_path}: individuals without any run in {runs_path}: {', '.join(without_runs)}"
        )
    return Sheets(individuals=individuals, runs=runs)
