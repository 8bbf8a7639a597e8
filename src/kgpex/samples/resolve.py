"""Sample resolution: the cohort's individuals and runs, and one source of reads per run.

Rule ``resolve_samples`` (a checkpoint) calls :func:`resolve` and writes four tables under
``results/{cohort}/samples/`` that every later stage reads instead of the config's sheets:

- ``individuals.tsv``: ``individual population continental_group sex`` (the individuals schema);
- ``runs.tsv``: ``run_accession individual batch library`` (the runs schema), one row per run
  kept, with the library salmon quantifies it in (kgpex.samples.libraries: lanes of one
  library together; ``samples.replicates: pool`` one library per individual);
- ``run_sources.tsv``: kgpex.samples.runtable's checked table (where each run's reads come from);
- ``run_mapping.tsv``: every run of the run table, ``run_accession status individual library
  read_count evidence``, ``status`` one of kgpex.samples.libraries.STATUSES (used, pooled,
  replicate, excluded): how each run got its individual and library, or why it is left out.

Methods (``samples.method``): ``sheets`` (the user's two sheets; with ``samples.runs: ""`` the
individuals sheet alone, for the matrix entry point: the three run tables are then a header
without rows and no run table is read), ``mage`` (MAGE's library
table joined to ENA's run table, kgpex.samples.mage), ``sdrf`` (an ArrayExpress SDRF names each
run's individual) and ``ena`` (ENA's sample fields name each run's individual). When a join
leaves runs unmapped, nothing is written but ``unmapped_runs.tsv`` beside the outputs, and the
error lists every such run.

Resolution runs in a job, not at parse time, because a real cohort's run table is itself a
download; a dry-run before it shows the jobs up to the checkpoint.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from kgpex.common.config import SCHEMAS
from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, sha256_of
from kgpex.samples import libraries as samples_libraries
from kgpex.samples import mage as samples_mage
from kgpex.samples import metadata as samples_metadata
from kgpex.samples import panel as samples_panel
from kgpex.samples.runtable import check_run_table, read_run_table, write_checked
from kgpex.samples.sheets import Sheets, load_individuals, load_sheets, read_tsv

INDIVIDUAL_COLUMNS = ("individual", "population", "continental_group", "sex")

RUN_COLUMNS = ("run_accession", "individual", "batch", "library")


@dataclass(frozen=True)
class ResolvedPaths:
    individuals: str
    runs: str
    sources: str
    mapping: str

    @property
    def unmapped(self) -> Path:
        """Every run's evidence when a join fails (not an output: it survives the failure)."""
        return Path(self.mapping).with_name("unmapped_runs.tsv")


def _write_rows(rows, columns, dest) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])


def write_sheets(sheets: Sheets, individuals_dest, runs_dest) -> None:
    """The resolved sheets, sorted by ID so that reruns write the same bytes."""
    _write_rows([sheets.individuals[i] for i in sorted(sheets.individuals)], INDIVIDUAL_COLUMNS, individuals_dest)
    _write_rows([sheets.runs[r] for r in sorted(sheets.runs)], RUN_COLUMNS, runs_dest)


def _write_mapping(rows, dest) -> None:
    _write_rows(rows, samples_metadata.MAPPING_COLUMNS, dest)


def _read_counts(run_table) -> dict[str, str]:
    return {
        run: (entry.row.get("read_count") or "").strip()
        for run, entry in read_run_table(run_table).items()
    }


def resolve_from_sheets(
    individuals: str | os.PathLike,
    runs: str | os.PathLike,
    run_table: str | os.PathLike,
    out: ResolvedPaths,
    scheme: str = "https",
    expected_individuals: int = 0,
    replicates: str = samples_libraries.MOST_READS,
    populations: tuple[str, ...] = (),
) -> Sheets:
    """Method ``sheets``: the user's two sheets, each run checked against the run table."""
    sheets = load_sheets(individuals, runs)
    counts = _read_counts(run_table)
    result = samples_metadata.CohortSamples(str(runs))
    result.individuals = {k: dict(v) for k, v in sheets.individuals.items()}
    result.runs = [
        {"run_accession": r, "individual": row["individual"], "batch": row["batch"]}
        for r, row in sorted(sheets.runs.items())
    ]
    result.mapping = [
        {
            "run_accession": run,
            "status": "mapped",
            "individual": sheets.runs[run]["individual"],
            # The sheet's optional library column: runs naming one library are its lanes.
            "library": (sheets.runs[run].get("library") or "").strip(),
            "read_count": counts.get(run, ""),
            "evidence": f"runs sheet {runs}",
        }
        for run in sorted(sheets.runs)
    ]
    return _finish(result, run_table, out, scheme, expected_individuals, replicates, populations)


def resolve_individuals_only(
    individuals: str | os.PathLike,
    out: ResolvedPaths,
    expected_individuals: int = 0,
) -> Sheets:
    """Method ``sheets`` without a runs sheet (``samples.runs: ""``): a matrix cohort, whose
    expression comes from a gene x individual matrix. The individuals sheet is checked as with
    runs; runs.tsv, run_sources.tsv and run_mapping.tsv are written with their headers only."""
    sheets = load_individuals(individuals)
    _check_expected(len(sheets.individuals), expected_individuals, str(individuals))
    write_sheets(sheets, out.individuals, out.runs)
    write_checked([], out.sources)
    _write_mapping([], out.mapping)
    return sheets


def _check_expected(found: int, expected: int, label: str) -> None:
    # A preset's cohort size: a wrong accession or a changed archive stops here, not at the end.
    if expected and found != expected:
        raise KgpexError(
            f"{label}: {found} individuals, but samples.expected_individuals is {expected}"
        )


@functools.cache
def _row_validator(schema_name: str):
    # Loaded once: a YAML parse per row costs seconds at MAGE's 1,500 rows.
    schema = yaml.safe_load((SCHEMAS / schema_name).read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def _validate_row(row: dict, schema_name: str, label: str) -> None:
    """One line naming the row and field, as kgpex.sheets does for the user's sheets."""
    errors = sorted(_row_validator(schema_name).iter_errors(row), key=lambda e: list(e.absolute_path))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise KgpexError(f"{label}: field '{where}': {errors[0].message}")


def _library_keys(run_table: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Each run's library identity fields in the run table (those it has)."""
    return {
        run: {k: entry.row[k] for k in samples_libraries.LIBRARY_KEYS if k in entry.row}
        for run, entry in read_run_table(run_table).items()
    }


def _finish(
    result: samples_metadata.CohortSamples,
    run_table: str | os.PathLike,
    out: ResolvedPaths,
    scheme: str,
    expected_individuals: int,
    replicates: str = samples_libraries.MOST_READS,
    populations: tuple[str, ...] = (),
) -> Sheets:
    """Check a join's result (problems, schemas, cohort size, sources of reads), give its runs
    their libraries and statuses (kgpex.samples.libraries); write it."""
    if not result.problems:
        samples_libraries.assign_libraries(
            result, _library_keys(run_table), replicates, populations
        )
        _account_for_run_table(result, run_table)
    if result.problems:
        _write_mapping(result.mapping, out.unmapped)
        raise KgpexError(
            f"{result.label}: " + "; ".join(result.problems) + f" (every run's evidence: {out.unmapped})"
        )
    for ident, row in result.individuals.items():
        _validate_row(row, "individuals.schema.yaml", f"{result.label}: individual {ident}")
    for row in result.runs:
        _validate_row(row, "runs.schema.yaml", f"{result.label}: run {row['run_accession']}")
    if not result.runs:
        raise KgpexError(f"{result.label}: no runs kept")
    _check_expected(len(result.individuals), expected_individuals, result.label)
    sheets = Sheets(
        individuals=dict(result.individuals),
        runs={row["run_accession"]: row for row in result.runs},
    )
    sources = check_run_table(run_table, sheets.runs, scheme=scheme, runs_label=result.label)
    samples_libraries.check_layouts(
        result.runs, {source.run_accession: source.layout for source in sources}
    )
    write_sheets(sheets, out.individuals, out.runs)
    write_checked(sources, out.sources)
    _write_mapping(sorted(result.mapping, key=lambda r: r["run_accession"]), out.mapping)
    out.unmapped.unlink(missing_ok=True)
    return sheets


def _account_for_run_table(result: samples_metadata.CohortSamples, run_table) -> None:
    """Every run of the run table gets a row: a run no join considered is excluded, saying so
    (a runs sheet lists only the runs it wants)."""
    seen = {row["run_accession"] for row in result.mapping}
    for run, entry in sorted(read_run_table(run_table).items()):
        if run not in seen:
            result.mapping.append(
                {
                    "run_accession": run,
                    "status": samples_libraries.EXCLUDED,
                    "individual": "",
                    "library": "",
                    "read_count": (entry.row.get("read_count") or "").strip(),
                    "evidence": f"in the run table but not in {result.label}",
                }
            )


def resolve_mage(
    metadata: str | os.PathLike,
    run_table: str | os.PathLike,
    out: ResolvedPaths,
    overrides: str | os.PathLike | None = None,
    scheme: str = "https",
    expected_individuals: int = 0,
    replicates: str = samples_libraries.MOST_READS,
    populations: tuple[str, ...] = (),
) -> Sheets:
    """Method ``mage``: ENA's run table joined to MAGE's library table (kgpex.samples.mage)."""
    meta = samples_mage.read_metadata(metadata)
    runs = samples_metadata.read_runs(run_table)
    fixes = samples_mage.read_overrides(overrides, meta) if overrides else {}
    result = samples_mage.mage_samples(meta, runs, fixes, str(run_table))
    return _finish(result, run_table, out, scheme, expected_individuals, replicates, populations)


def resolve_from_sdrf(
    sdrf: str | os.PathLike,
    run_table: str | os.PathLike,
    panel: str | os.PathLike,
    out: ResolvedPaths,
    individual_column: str = "Source Name",
    batch_column: str = "",
    default_batch: str = "1",
    overrides: str | os.PathLike | None = None,
    scheme: str = "https",
    expected_individuals: int = 0,
    replicates: str = samples_libraries.MOST_READS,
    populations: tuple[str, ...] = (),
) -> Sheets:
    """Method ``sdrf``: the SDRF's runs and individuals; reads from the run table (md5s)."""
    labelled = samples_panel.read_sdrf(sdrf, individual_column, batch_column, default_batch)
    counts = _read_counts(run_table)
    labelled = [
        samples_panel.LabelledRun(**{**lab.__dict__, "read_count": counts.get(lab.run, "")})
        for lab in labelled
    ]
    fixes = samples_panel.read_individual_overrides(overrides) if overrides else {}
    result = samples_panel.join_individuals(
        labelled, samples_panel.read_panel(panel), fixes, str(sdrf), str(panel)
    )
    return _finish(result, run_table, out, scheme, expected_individuals, replicates, populations)


def resolve_from_ena(
    run_table: str | os.PathLike,
    panel: str | os.PathLike,
    out: ResolvedPaths,
    batch_column: str = "",
    default_batch: str = "1",
    overrides: str | os.PathLike | None = None,
    scheme: str = "https",
    expected_individuals: int = 0,
    replicates: str = samples_libraries.MOST_READS,
    populations: tuple[str, ...] = (),
) -> Sheets:
    """Method ``ena``: every run of the run table, named by the IDs in its sample fields."""
    table = read_run_table(run_table)
    labelled = samples_panel.label_ena_runs(table, batch_column, default_batch, str(run_table))
    fixes = samples_panel.read_individual_overrides(overrides) if overrides else {}
    result = samples_panel.join_individuals(
        labelled, samples_panel.read_panel(panel), fixes, str(run_table), str(panel)
    )
    return _finish(result, run_table, out, scheme, expected_individuals, replicates, populations)


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
        "fetched_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": digest,
        "runs": len(read_run_table(table)),
    }
    with atomic_path(dest) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n")
    return record


def check_method(method: str) -> None:
    if method not in METHODS:
        raise KgpexError(f"samples.method: unknown method '{method}' (one of {', '.join(METHODS)})")


METHODS = ("sheets", "mage", "sdrf", "ena")

# The metadata files (config keys of samples:) each method reads beside the run table.
METHOD_METADATA = {"sheets": (), "mage": ("mage_metadata",), "sdrf": ("sdrf", "panel"), "ena": ("panel",)}


def check_metadata(kind: str, path: str | os.PathLike, sha256: str = "") -> None:
    """A downloaded metadata file, before it gets its final name: its sha256 where one is
    pinned, and that it parses."""
    if sha256:
        actual = sha256_of(path)
        if actual != sha256:
            raise KgpexError(f"{path}: sha256 {actual}, expected {sha256}")
    if kind == "mage_metadata":
        samples_mage.read_metadata(path)
    elif kind == "panel":
        samples_panel.read_panel(path)
    elif kind == "sdrf":
        with open(path, newline="") as fh:
            if sum(1 for line in fh if line.strip()) < 2:
                raise KgpexError(f"{path}: SDRF has no rows")
    else:
        raise KgpexError(f"unknown sample metadata '{kind}'")


def resolve(method: str, inputs, out: ResolvedPaths, settings: dict, default_batch: str, scheme: str) -> Sheets:
    """Dispatch on ``samples.method``; ``inputs`` maps names to files (rule resolve_samples'
    input: method ``sheets`` without ``runs`` is a cohort of individuals alone), ``settings``
    is the config's ``samples`` section."""
    check_method(method)
    overrides = inputs.get("overrides") or None
    expected = settings.get("expected_individuals", 0)
    grouping = {
        "replicates": settings.get("replicates", samples_libraries.MOST_READS),
        "populations": tuple(settings.get("populations") or ()),
    }
    if method == "sheets" and not inputs.get("runs"):
        return resolve_individuals_only(inputs["individuals"], out, expected)
    if method == "sheets":
        return resolve_from_sheets(
            inputs["individuals"], inputs["runs"], inputs["run_table"], out, scheme, expected,
            **grouping,
        )
    if method == "mage":
        return resolve_mage(
            inputs["mage_metadata"], inputs["run_table"], out, overrides, scheme, expected,
            **grouping,
        )
    if method == "sdrf":
        return resolve_from_sdrf(
            inputs["sdrf"],
            inputs["run_table"],
            inputs["panel"],
            out,
            individual_column=settings["individual_column"],
            batch_column=settings["batch_column"],
            default_batch=default_batch,
            overrides=overrides,
            scheme=scheme,
            expected_individuals=expected,
            **grouping,
        )
    return resolve_from_ena(
        inputs["run_table"],
        inputs["panel"],
        out,
        batch_column=settings["batch_column"],
        default_batch=default_batch,
        overrides=overrides,
        scheme=scheme,
        expected_individuals=expected,
        **grouping,
    )
