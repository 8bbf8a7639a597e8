"""The run table: where each run's reads come from, checked against the runs sheet.

The input is an ENA filereport TSV (``run_accession``, ``fastq_ftp``, ``fastq_md5``,
``fastq_bytes``; the last three ``;``-separated, one entry per file, URLs without a scheme), or a
table of one's own reads in the simpler shape ``run_accession fastq_1 [fastq_2 md5_1 md5_2]``
(URLs or local paths; a runs sheet with these columns is its own run table).
The output, one row per run of the runs sheet, is the table every download job reads its own row
from: ``run_accession source url_1 url_2 md5_1 md5_2 bytes_1 bytes_2 layout`` with ``source``
``ena`` (FASTQ URLs) or ``sra`` (no FASTQ on ENA: fetched with sra-tools) and ``layout``
``paired`` or ``single``.

Layout: a paired run has two mates (``fastq_ftp`` with one ``_1`` and one ``_2`` file, or
``fastq_1`` and ``fastq_2``); a single-end run has one FASTQ (``fastq_ftp`` with one file,
``fastq_1`` alone) and only ``url_1 md5_1 bytes_1``. A run without FASTQ fetched from SRA is
single-end when the run table's ``library_layout`` says ``SINGLE``, paired otherwise. One FASTQ
file for a run whose ``library_layout`` says ``PAIRED`` (mates interleaved or concatenated, or
one lost) is not guessed at: the run has no source. Standard library only: the download jobs
import this in the sra-tools env.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path
from kgpex.common.sources import to_url, with_scheme

# Runs that SRA can serve (ENA and DDBJ runs are mirrored there).
SRA_RUN_ACCESSION = re.compile(r"^[SED]RR\d+$")

# One of the two shapes: ENA's filereport, or per-mate columns for one's own reads.
ENA_SHAPE = ("run_accession", "fastq_ftp")

MATES_SHAPE = ("run_accession", "fastq_1")  # fastq_2 optional: single-end reads

PAIRED, SINGLE = "paired", "single"

LAYOUTS = (PAIRED, SINGLE)

_MATE = re.compile(r"_([12])\.f(?:ast)?q(?:\.gz)?$")


@dataclass(frozen=True)
class RunSource:
    run_accession: str
    source: str  # "ena" or "sra"
    url_1: str = ""
    url_2: str = ""
    md5_1: str = ""
    md5_2: str = ""
    bytes_1: str = ""
    bytes_2: str = ""
    layout: str = PAIRED  # "paired" (url_1 and url_2) or "single" (url_1 only)


CHECKED_COLUMNS = tuple(f.name for f in fields(RunSource))

# run_sources.tsv written before the layout column: every run paired.
_LEGACY_COLUMNS = CHECKED_COLUMNS[:-1]

ENA_FILEREPORT = "https://www.ebi.ac.uk/ena/portal/api/filereport"

# Per-mate FASTQ locations and checksums, and the sample fields that name the individual.
ENA_FIELDS = (
    "run_accession",
    "study_accession",
    # Lanes of one library share their experiment (kgpex.samples.libraries).
    "experiment_accession",
    "sample_accession",
    "sample_alias",
    "sample_title",
    "library_name",
    "library_layout",
    "read_count",
    "base_count",
    "fastq_ftp",
    "fastq_md5",
    "fastq_bytes",
)


def ena_filereport_url(accession: str, fields: Iterable[str] = ENA_FIELDS) -> str:
    """ENA portal API query for every read run of a study, BioProject or sample accession."""
    if not re.fullmatch(r"[A-Z]+[0-9]+", accession):
        raise KgpexError(f"samples.accession: '{accession}' is not an ENA/SRA accession")
    return (
        f"{ENA_FILEREPORT}?accession={accession}&result=read_run"
        f"&fields={','.join(fields)}&format=tsv&limit=0"
    )


@dataclass(frozen=True)
class TableRow:
    line: int
    row: dict


def read_run_table(path: str | os.PathLike, columns: Iterable[str] = ()) -> dict[str, TableRow]:
    """Rows of a run table by run accession, values as in the file (header names stripped);
    duplicate accessions are an error. ``columns``: those the caller reads beyond the shape's,
    required too."""
    path = Path(path)
    if not path.is_file():
        raise KgpexError(f"{path}: run table not found")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        shape = MATES_SHAPE if "fastq_1" in header else ENA_SHAPE
        missing = [c for c in dict.fromkeys((*shape, *columns)) if c not in header]
        if missing:
            raise KgpexError(f"{path} line 1: missing column(s) {', '.join(missing)}")
        table: dict[str, TableRow] = {}
        for n, row in enumerate(reader, start=2):
            if None in row or None in row.values():
                raise KgpexError(f"{path} line {n}: wrong number of columns")
            run = row["run_accession"].strip()
            if not run:
                raise KgpexError(f"{path} line {n}: empty run_accession")
            if run in table:
                raise KgpexError(
                    f"{path} line {n}: duplicate run_accession '{run}' (first on line {table[run].line})"
                )
            table[run] = TableRow(n, row)
    return table


def check_fetched_run_table(path: str | os.PathLike) -> None:
    """A downloaded run table: parseable, and not empty (ENA answers an accession without runs
    with an empty body or a bare header, which must stop the run, not resolve zero runs)."""
    path = Path(path)
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) <= 1:
        raise KgpexError(f"{path}: no runs (an empty result: check samples.accession)")
    read_run_table(path)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


def _location(value: str, scheme: str) -> str:
    """A URL for a run table entry: absolute paths as file:// URLs, ENA's scheme-less
    ``host/path`` entries with ``scheme``, URLs unchanged."""
    if value.startswith("/"):
        return Path(value).as_uri()
    return with_scheme(value, scheme)


def _mates_shape_source(run: str, row: dict, path: Path, n: int) -> RunSource | str:
    """A row of the simple shape: ``fastq_1 [fastq_2]`` (URLs or paths), optional
    ``md5_1 md5_2``; ``fastq_1`` alone is a single-end run."""
    urls = [(row.get("fastq_1") or "").strip(), (row.get("fastq_2") or "").strip()]
    md5s = [(row.get("md5_1") or "").strip().lower(), (row.get("md5_2") or "").strip().lower()]
    if not any(urls):
        return "no fastq_1 or fastq_2"
    if not urls[0]:
        return "fastq_2 without fastq_1 (a single-end run's FASTQ goes in fastq_1)"
    for value in md5s:
        if value and not re.fullmatch(r"[0-9a-f]{32}", value):
            raise KgpexError(f"{path} line {n}: md5 '{value}' is not an md5")
    if not urls[1]:
        if md5s[1]:
            raise KgpexError(f"{path} line {n}: md5_2 given but no fastq_2")
        return RunSource(run, "ena", to_url(urls[0]), md5_1=md5s[0], layout=SINGLE)
    return RunSource(run, "ena", to_url(urls[0]), to_url(urls[1]), md5s[0], md5s[1])


def run_source(run: str, entry: TableRow, path: Path, scheme: str) -> RunSource | str:
    """The run's source of reads (paired or single-end), or why it has none (a short phrase)."""
    row, n = entry.row, entry.line
    if "fastq_1" in row:
        return _mates_shape_source(run, row, path, n)
    urls = _split(row.get("fastq_ftp"))
    md5s = _split(row.get("fastq_md5"))
    sizes = _split(row.get("fastq_bytes"))
    declared = (row.get("library_layout") or "").strip().upper()
    if not urls:
        if SRA_RUN_ACCESSION.match(run):
            # fasterq-dump writes one file for a single-end run, two for a paired one.
            return RunSource(run, "sra", layout=SINGLE if declared == "SINGLE" else PAIRED)
        return "no FASTQ and not an SRA/ENA/DDBJ run accession"
    for name, values in (("fastq_md5", md5s), ("fastq_bytes", sizes)):
        if values and len(values) != len(urls):
            raise KgpexError(
                f"{path} line {n}: {name} has {len(values)} entries but fastq_ftp has {len(urls)}"
            )
    for value in md5s:
        if not re.fullmatch(r"[0-9a-fA-F]{32}", value):
            raise KgpexError(f"{path} line {n}: fastq_md5 entry '{value}' is not an md5")
    for value in sizes:
        if not value.isdigit():
            raise KgpexError(f"{path} line {n}: fastq_bytes entry '{value}' is not a byte count")
    if len(urls) == 1:
        if declared == "PAIRED":
            return "library_layout PAIRED but 1 FASTQ file (mates interleaved, joined or lost)"
        return RunSource(
            run,
            "ena",
            _location(urls[0], scheme),
            md5_1=md5s[0].lower() if md5s else "",
            bytes_1=sizes[0] if sizes else "",
            layout=SINGLE,
        )
    mates: dict[str, list[int]] = {"1": [], "2": []}
    for i, url in enumerate(urls):
        match = _MATE.search(url.rsplit("/", 1)[-1])
        if match:
            mates[match.group(1)].append(i)
    if len(mates["1"]) == 1 and len(mates["2"]) == 1:
        i1, i2 = mates["1"][0], mates["2"][0]
    elif len(urls) == 2 and not mates["1"] and not mates["2"]:
        i1, i2 = 0, 1  # unnamed pair: ENA lists mate 1 first
    else:
        return f"{len(urls)} FASTQ files without exactly one _1 and one _2 file"

    def pick(values: list[str], i: int) -> str:
        return values[i] if values else ""

    return RunSource(
        run,
        "ena",
        _location(urls[i1], scheme),
        _location(urls[i2], scheme),
        pick(md5s, i1).lower(),
        pick(md5s, i2).lower(),
        pick(sizes, i1),
        pick(sizes, i2),
    )


def check_run_table(
    run_table: str | os.PathLike,
    runs: Iterable[str],
    scheme: str = "https",
    runs_label: str = "the runs sheet",
) -> list[RunSource]:
    """One RunSource per run (sorted); every run without a source of reads is listed in one
    error."""
    path = Path(run_table)
    table = read_run_table(path)
    checked: list[RunSource] = []
    problems: list[str] = []
    for run in sorted(runs):
        entry = table.get(run)
        if entry is None:
            problems.append(f"{run} (not in the run table)")
            continue
        found = run_source(run, entry, path, scheme)
        if isinstance(found, str):
            problems.append(f"{run} (line {entry.line}: {found})")
        else:
            checked.append(found)
    if problems:
        raise KgpexError(
            f"{path}: {len(problems)} run(s) of {runs_label} have no source of reads: "
            + "; ".join(problems)
        )
    return checked


def write_checked(sources: Iterable[RunSource], dest: str | os.PathLike) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(CHECKED_COLUMNS)
        for source in sources:
            writer.writerow(astuple(source))


def _checked_rows(checked: str | os.PathLike) -> Iterable[tuple[int, RunSource]]:
    """The checked table's rows (a table without the layout column: every run paired)."""
    with open(checked, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        if tuple(reader.fieldnames or ()) not in (CHECKED_COLUMNS, _LEGACY_COLUMNS):
            raise KgpexError(f"{checked} line 1: expected columns {' '.join(CHECKED_COLUMNS)}")
        for n, row in enumerate(reader, start=2):
            source = RunSource(**row)
            if source.layout not in LAYOUTS:
                raise KgpexError(
                    f"{checked} line {n}: field 'layout': '{source.layout}' is not "
                    f"{' or '.join(LAYOUTS)}"
                )
            if source.source == "ena" and not (source.url_1 and (source.url_2 or source.layout == SINGLE)):
                raise KgpexError(f"{checked} line {n}: a {source.layout} run without its URL(s)")
            yield n, source


def read_checked_row(checked: str | os.PathLike, run: str) -> RunSource:
    """A download job's own row of the checked table."""
    for _, source in _checked_rows(checked):
        if source.run_accession == run:
            return source
    raise KgpexError(f"{checked}: no row for run {run}")


def read_layouts(checked: str | os.PathLike) -> dict[str, str]:
    """Each run's layout (``paired`` or ``single``) in the checked table."""
    return {source.run_accession: source.layout for _, source in _checked_rows(checked)}
