"""The run's closing summary: per stage, the jobs this invocation ran, their time, and the runs
the results leave out.

provenance.smk's ``onsuccess`` hook, after the final-outputs guard and only for a run of rule
all, passes the jobs Snakemake finished (with their times, :func:`job_times`) to
:func:`report_run`, which prints the table to stderr and writes it to
``logs/{cohort}/run_summary.tsv`` (:data:`COLUMNS`).

- A stage is the rule file a rule comes from (``workflow/rules/expression.smk``: ``expression``).
  Jobs of rules without outputs (rule all) did no work and are left out.
- A job's times are Snakemake's metadata records of its outputs: the earliest ``starttime``
  (when the job started; on a cluster, when it was submitted) and the latest ``endtime`` (the
  output's modification time). A job without both, or whose record is an older run's
  (``--drop-metadata`` keeps the last one), or whose output is older than its start, counts in
  ``jobs`` and ``untimed_jobs`` with time NA, never in the times.
- ``job_seconds``: the jobs' times summed; ``wall_seconds``: from the stage's first start to its
  last end (stages overlap). The total row's wall time is the invocation's, start to summary.
- Excluded: the runs of ``expression/run_status.tsv`` (final statuses), or where the entry point
  has none ``samples/run_mapping.tsv``, whose status is not used or pooled, counted by status;
  for ``excluded`` runs also the most common reasons (the first clause of the reason, run and
  individual IDs masked so that runs group). Entry points without either file: nothing.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kgpex.common.errors import KgpexError
from kgpex.common.fetch import clock_time
from kgpex.common.io import atomic_path

COLUMNS = (
    "stage",
    "jobs",
    "untimed_jobs",
    "job_seconds",
    "wall_seconds",
    "excluded_runs",
    "excluded",
)
TOTAL = "total"
# Statuses of runs that are in the results (kgpex.samples.libraries USED, POOLED).
KEPT = ("used", "pooled")
# The status whose rows carry a reason worth grouping; the others (a replicate not chosen) say
# why themselves.
EXCLUDED = "excluded"
TOP_REASONS = 3
REASON_CHARS = 80
# Run, sample and individual accessions (SRR123, ERS45, HG00096, NA19238): masked in reasons.
_ACCESSION = re.compile(r"\b[A-Z]{2,}[0-9]{3,}\b")


@dataclass(frozen=True)
class JobTimes:
    rule: str
    stage: str
    start: float | None = None  # seconds since the epoch
    end: float | None = None

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None or self.end < self.start:
            return None
        return self.end - self.start


def stage_of(snakefile) -> str:
    """The stage of a rule defined in ``snakefile``: its file name without ``.smk``."""
    return os.path.basename(str(snakefile)).removesuffix(".smk")


def job_times(
    job, metadata: Callable[[object], object], since: float | None = None
) -> JobTimes:
    """A finished Snakemake job's times. ``job``: ``job.rule.name``, ``job.rule.snakefile``,
    ``job.output``; ``metadata``: Snakemake's ``Persistence.metadata``, an output to its record
    (``starttime``, ``endtime``: seconds since the epoch, or None) or None. ``since``: the
    invocation's start; a record that started before it is an older run's (``--drop-metadata``
    leaves the last record in place), so the time is unknown."""
    starts, ends = [], []
    for output in job.output:
        try:
            record = metadata(output)
        except (OSError, ValueError):
            record = None  # an unreadable record: the time is unknown, not an error
        start, end = getattr(record, "starttime", None), getattr(record, "endtime", None)
        if start is None or end is None or (since is not None and start < since):
            continue
        starts.append(float(start))
        ends.append(float(end))
    return JobTimes(
        job.rule.name,
        stage_of(job.rule.snakefile),
        min(starts) if starts else None,
        max(ends) if ends else None,
    )


@dataclass
class Exclusions:
    """The runs of a run_status.tsv or run_mapping.tsv that are not in the results."""

    source: str
    counts: Counter = field(default_factory=Counter)  # status -> runs
    reasons: Counter = field(default_factory=Counter)  # reason of an excluded run -> runs

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def text(self) -> str:
        """E.g. "10 replicate not chosen; 3 excluded (2 population YRI is not in
        samples.populations (CEU), 1 in the run table but not in runs sheet runs.tsv)"."""
        parts = []
        for status, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])):
            part = f"{n} {status}"
            if status == EXCLUDED and self.reasons:
                ranked = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
                shown = [f"{k} {reason}" for reason, k in ranked[:TOP_REASONS]]
                more = len(ranked) - TOP_REASONS
                if more > 0:
                    shown.append(f"{more} other reason{'s' if more > 1 else ''}")
                part += f" ({', '.join(shown)})"
            parts.append(part)
        return "; ".join(parts)


def _reason(text: str) -> str:
    reason = _ACCESSION.sub("*", text.split(";")[0].strip()) or "no reason given"
    return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 3] + "..."


def read_exclusions(path: str | os.PathLike) -> Exclusions:
    """Count the runs of ``path`` (run_status.tsv: reasons in ``detail``; run_mapping.tsv: in
    ``evidence``) whose status is not used or pooled."""
    path = Path(path)
    found = Exclusions(str(path))
    try:
        with open(path, newline="") as fh:
            rows = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = rows.fieldnames or []
            for column in ("run_accession", "status"):
                if column not in header:
                    raise KgpexError(f"{path}: no column '{column}' in the header")
            why = next((c for c in ("detail", "evidence") if c in header), None)
            for n, row in enumerate(rows, start=2):
                status = (row["status"] or "").strip()
                if not status:
                    raise KgpexError(f"{path} line {n}: empty status")
                if status in KEPT:
                    continue
                found.counts[status] += 1
                if status == EXCLUDED and why:
                    found.reasons[_reason(row[why] or "")] += 1
    except OSError as err:
        raise KgpexError(f"{path}: cannot read ({err.strerror or err})") from None
    return found


@dataclass
class StageRow:
    stage: str
    jobs: int = 0
    untimed: int = 0
    job_seconds: float | None = None
    wall_seconds: float | None = None
    excluded_runs: int = 0
    excluded: str = ""


def summarize(
    jobs: Iterable[JobTimes],
    exclusions: tuple[str, Exclusions] | None = None,
    stage_order: Sequence[str] = (),
    started: float | None = None,
    finished: float | None = None,
) -> list[StageRow]:
    """One row per stage with jobs or exclusions (in ``stage_order``, others after it by name),
    then the total. ``exclusions``: (stage, its exclusions); ``started``/``finished``: the
    invocation's start and end (seconds since the epoch), for the total's wall time."""
    by_stage: dict[str, list[JobTimes]] = {}
    for job in jobs:
        by_stage.setdefault(job.stage, []).append(job)
    stages = set(by_stage) | ({exclusions[0]} if exclusions else set())
    order = {stage: i for i, stage in enumerate(stage_order)}
    rows = [
        _row(stage, by_stage.get(stage, []))
        for stage in sorted(stages, key=lambda s: (order.get(s, len(order)), s))
    ]
    if exclusions:
        row = next(r for r in rows if r.stage == exclusions[0])
        row.excluded_runs, row.excluded = exclusions[1].total, exclusions[1].text()
    total = _row(TOTAL, [job for stage_jobs in by_stage.values() for job in stage_jobs])
    if started is not None and finished is not None and finished >= started:
        total.wall_seconds = finished - started
    total.excluded_runs = sum(row.excluded_runs for row in rows)
    return [*rows, total]


def _row(stage: str, jobs: list[JobTimes]) -> StageRow:
    timed = [job for job in jobs if job.seconds is not None]
    row = StageRow(stage, jobs=len(jobs), untimed=len(jobs) - len(timed))
    if timed:
        row.job_seconds = sum(job.seconds for job in timed)
        row.wall_seconds = max(job.end for job in timed) - min(job.start for job in timed)
    return row


def _seconds(value: float | None) -> str:
    return "NA" if value is None else f"{value:.1f}"


def _duration(value: float | None) -> str:
    if value is None:
        return "NA"
    return f"{value:.1f} s" if value < 59.95 else clock_time(value)


def write_summary(rows: Sequence[StageRow], dest: str | os.PathLike) -> None:
    """The rows as tab-separated text (:data:`COLUMNS`; times in seconds or NA), atomically."""
    lines = ["\t".join(COLUMNS)]
    for row in rows:
        fields = (
            row.stage,
            str(row.jobs),
            str(row.untimed),
            _seconds(row.job_seconds),
            _seconds(row.wall_seconds),
            str(row.excluded_runs),
            # One line per row whatever a reason holds.
            " ".join(row.excluded.split()),
        )
        lines.append("\t".join(fields))
    with atomic_path(dest) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def format_table(rows: Sequence[StageRow]) -> str:
    """The rows as an aligned text table; job time "NA" when no job of the stage has times,
    "(+n NA)" when n of them lack times, "-" for a stage without jobs."""
    table = [("stage", "jobs", "job time", "wall time", "excluded")]
    for row in rows:
        job_time, wall_time = _duration(row.job_seconds), _duration(row.wall_seconds)
        if row.untimed and row.job_seconds is not None:
            job_time += f" (+{row.untimed} NA)"
        if not row.jobs:
            job_time = wall_time = "-"  # a stage listed for its exclusions alone
        excluded = row.excluded
        if row.stage == TOTAL and row.excluded_runs:
            excluded = f"{row.excluded_runs} run{'s' if row.excluded_runs != 1 else ''}"
        table.append((row.stage, str(row.jobs), job_time, wall_time, excluded))
    widths = [max(len(cells[i]) for cells in table) for i in range(4)]
    lines = []
    for cells in table:
        head = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:4], widths[1:])]
        lines.append("  ".join([*head, cells[4]]).rstrip())
    return "\n".join(lines)


def report_run(
    jobs: Iterable[JobTimes],
    summary_path: str | os.PathLike,
    exclusion_sources: Sequence[tuple[str, str | os.PathLike]] = (),
    stage_order: Sequence[str] = (),
    started: float | None = None,
    finished: float | None = None,
    stream: TextIO | None = None,
) -> list[StageRow]:
    """Summarize, write ``summary_path`` and print the table to ``stream`` (stderr).

    ``exclusion_sources``: (stage, path) candidates in order of preference, e.g. the stage of
    select_libraries with run_status.tsv, then resolve_samples' with run_mapping.tsv; the first
    that exists is read. On bad input the KgpexError goes up and no summary is left behind (an
    older one would describe another run)."""
    try:
        exclusions = next(
            ((stage, read_exclusions(path)) for stage, path in exclusion_sources
             if os.path.isfile(path)),
            None,
        )
        rows = summarize(jobs, exclusions, stage_order, started, finished)
        write_summary(rows, summary_path)
    except KgpexError:
        Path(summary_path).unlink(missing_ok=True)
        raise
    source = f"; excluded runs from {exclusions[1].source}" if exclusions else ""
    print(
        f"kgpex run summary: the jobs of this invocation{source} (also {summary_path})\n"
        + format_table(rows),
        file=stream or sys.stderr,
    )
    return rows
