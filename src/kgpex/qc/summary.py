"""The run's summary table (rule summarize_run): what went in and what came out, with reasons.

One row per item, ``item value detail``, from the run's own files:

- runs of the run table and their final statuses (``samples/run_mapping.tsv``, settled by
  ``expression/run_status.tsv``): used, pooled, replicate not chosen, excluded; each status with
  its reasons and their counts;
- libraries quantified (every library of a run not excluded, replicates included) and used (one
  per individual, ``expression/library_choice.tsv``);
- individuals: in the resolved sheet, with a library, mapped (the phenotype BED's samples);
- genes tested (the cis permutation table's genes) and eGenes (``qval <= eqtl.fdr``);
- genes tested for sQTLs and sGenes (the grouped sQTL permutation pass's genes, ``qval <=
  eqtl.fdr``) when the splicing arm ran; ``not run`` otherwise.

The matrix and BED entry points have no run table: their run and library rows say ``not
applicable (expression.input ...)``, as does the individuals sheet for a BED. :func:`write_html`
renders the table, and every run not used with its reason, as a small standalone HTML page.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, phenotype_bed_header, write_table
from kgpex.eqtl.tables import egenes, read_cis_genes
from kgpex.samples import libraries as samples_libraries
from kgpex.samples.sheets import read_tsv

COLUMNS = ("item", "value", "detail")
MAPPING_COLUMNS = ("run_accession", "status", "individual", "library", "evidence", "library_evidence")
STATUS_COLUMNS = samples_libraries.RUN_STATUS_COLUMNS
CHOICE_COLUMNS = ("individual", "library")
NOT_RUN = "not run"
SGENES_DETAIL = (
    "the splicing arm is off (splicing.enabled: false, or no alignment: alignment.enabled false "
    "or a matrix or BED entry point), so no sGenes are computed"
)
POOLED_REPLICATES = "an individual's runs pooled into one library (samples.replicates: pool)"
POOLED_LANES = "lanes of one library, quantified together"
NOT_CHOSEN_REASON = (
    "its library has fewer reads than the one kept for its individual "
    "(samples.replicates: most_reads)"
)


def not_applicable(expression_input: str) -> str:
    return f"not applicable (expression.input {expression_input})"


def _label(path: str | os.PathLike) -> str:
    """A results file as the summary names it: its folder and name."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}"


def _rows(path: str | os.PathLike, columns: tuple[str, ...]) -> list[dict]:
    rows = read_tsv(path)
    for field in columns:
        if field not in rows[0]:
            raise KgpexError(f"{path}: column '{field}' missing (expected {' '.join(columns)})")
    return rows


def _reasons(counts: Counter) -> str:
    """``reason (n)`` for each reason, most frequent first; ``none`` without any."""
    if not counts:
        return "none"
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "; ".join(f"{reason} ({n} run{'s' if n != 1 else ''})" for reason, n in ordered)


def _first_clause(text: str) -> str:
    """An exclusion's evidence up to its first ';' (the reason; the rest is how the run was
    found), or ``no reason recorded``."""
    return text.split("; ", 1)[0].strip() or "no reason recorded"


def run_statuses(run_mapping: str | os.PathLike, run_status: str | os.PathLike) -> pd.DataFrame:
    """run_status.tsv's rows (every run's final status) with run_mapping.tsv's library evidence;
    the two must hold the same runs."""
    mapping = {row["run_accession"]: row for row in _rows(run_mapping, MAPPING_COLUMNS)}
    rows = _rows(run_status, STATUS_COLUMNS)
    for n, row in enumerate(rows, start=2):
        run = row["run_accession"]
        if row["status"] not in samples_libraries.FINAL_STATUSES:
            raise KgpexError(
                f"{run_status} line {n}: status '{row['status']}' of run {run} is not one of "
                f"{', '.join(samples_libraries.FINAL_STATUSES)}"
            )
        if run not in mapping:
            raise KgpexError(f"{run_status} line {n}: run {run} is not in {run_mapping}")
    extra = sorted(set(mapping) - {row["run_accession"] for row in rows})
    if extra:
        raise KgpexError(f"{run_mapping}: run {extra[0]} has no final status in {run_status}")
    table = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
    table["library_evidence"] = [mapping[run]["library_evidence"] for run in table["run_accession"]]
    table["evidence"] = [mapping[run]["evidence"] for run in table["run_accession"]]
    return table


def _reason(row) -> str:
    """Why a run has its final status, in words shared by every run with the same reason."""
    if row.status == samples_libraries.EXCLUDED:
        return _first_clause(row.detail or row.evidence)
    if row.status == samples_libraries.NOT_CHOSEN:
        return NOT_CHOSEN_REASON
    if row.status == samples_libraries.POOLED:
        return POOLED_REPLICATES if "samples.replicates: pool" in row.library_evidence else POOLED_LANES
    return "the only run of a library kept for its individual"


def _run_rows(statuses: pd.DataFrame, choice: list[dict], mapping_label: str, choice_label: str) -> list[tuple]:
    reasons = {
        status: Counter(_reason(row) for row in statuses.itertuples() if row.status == status)
        for status in samples_libraries.FINAL_STATUSES
    }
    counts = statuses["status"].value_counts()
    quantified = statuses.loc[statuses["status"] != samples_libraries.EXCLUDED, "library"].nunique()
    not_chosen = statuses[statuses["status"] == samples_libraries.NOT_CHOSEN]
    return [
        ("runs in the run table", len(statuses), f"every run of the run table ({mapping_label})"),
        (
            "libraries quantified",
            quantified,
            "salmon's libraries: runs not excluded, lanes of one library together, replicates included",
        ),
        (
            "libraries used",
            len(choice),
            f"one per individual, the one with most fragments where there are several ({choice_label})",
        ),
        ("runs used", int(counts.get(samples_libraries.USED, 0)), _reasons(reasons[samples_libraries.USED])),
        ("runs pooled", int(counts.get(samples_libraries.POOLED, 0)), _reasons(reasons[samples_libraries.POOLED])),
        (
            "runs of replicates not chosen",
            len(not_chosen),
            _reasons(reasons[samples_libraries.NOT_CHOSEN])
            + (f", of {not_chosen['individual'].nunique()} individuals" if len(not_chosen) else ""),
        ),
        (
            "runs excluded",
            int(counts.get(samples_libraries.EXCLUDED, 0)),
            _reasons(reasons[samples_libraries.EXCLUDED]),
        ),
    ]


def summarize(
    expression_input: str,
    fdr: float,
    phenotypes: str | os.PathLike,
    cis_genes: str | os.PathLike,
    run_mapping: str | os.PathLike | None = None,
    run_status: str | os.PathLike | None = None,
    library_choice: str | os.PathLike | None = None,
    individuals: str | os.PathLike | None = None,
    sqtl_cis_genes: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary table (:data:`COLUMNS`) and the runs not used (excluded or replicates not
    chosen: run_status.tsv's columns and ``reason``; no rows without a run table).

    ``expression_input`` "reads" needs run_mapping, run_status, library_choice and individuals;
    "matrix" individuals; "bed" none of them. ``sqtl_cis_genes``: the sQTL arm's grouped
    permutation pass with q-values, when it ran."""
    na = not_applicable(expression_input)
    reads = expression_input == "reads"
    if reads and None in (run_mapping, run_status, library_choice, individuals):
        raise KgpexError("summary: expression.input reads needs run_mapping, run_status, library_choice and individuals")
    if expression_input == "matrix" and individuals is None:
        raise KgpexError("summary: expression.input matrix needs the individuals sheet")
    rows: list[tuple] = []
    not_used = pd.DataFrame(columns=[*STATUS_COLUMNS, "reason"])
    if reads:
        statuses = run_statuses(run_mapping, run_status)
        choice = _rows(library_choice, CHOICE_COLUMNS)
        used_libraries = set(
            statuses.loc[
                statuses["status"].isin([samples_libraries.USED, samples_libraries.POOLED]), "library"
            ]
        )
        unknown = sorted({row["library"] for row in choice} - used_libraries)
        if unknown:
            raise KgpexError(f"{library_choice}: library {unknown[0]} is not used or pooled in {run_status}")
        rows += _run_rows(statuses, choice, _label(run_mapping), _label(library_choice))
        mask = ~statuses["status"].isin([samples_libraries.USED, samples_libraries.POOLED])
        not_used = statuses.loc[mask, list(STATUS_COLUMNS)].copy()
        not_used["reason"] = [_reason(row) for row in statuses[mask].itertuples()]
    else:
        rows += [
            (item, na, "")
            for item in (
                "runs in the run table",
                "libraries quantified",
                "libraries used",
                "runs used",
                "runs pooled",
                "runs of replicates not chosen",
                "runs excluded",
            )
        ]
    if individuals is not None:
        rows.append(("individuals in the sheet", len(read_tsv(individuals)), _label(individuals)))
    else:
        rows.append(("individuals in the sheet", na, ""))
    if reads:
        with_library = len({row["individual"] for row in choice})
        rows.append(("individuals with a library", with_library, _label(library_choice)))
    else:
        rows.append(("individuals with a library", na, ""))
    samples = phenotype_bed_header(phenotypes)[4:]
    rows.append(("individuals mapped", len(samples), f"sample columns of {Path(phenotypes).name}"))
    cis = read_cis_genes(cis_genes)
    rows.append(("genes tested", len(cis), f"genes of the cis permutation pass ({_label(cis_genes)})"))
    rows.append(
        (
            "eGenes",
            len(egenes(cis, fdr)),
            f"Storey q-value <= {fdr} (eqtl.fdr), computed over the {len(cis)} genes tested",
        )
    )
    if sqtl_cis_genes is None:
        rows.append(("sGenes", NOT_RUN, SGENES_DETAIL))
    else:
        sqtl = read_cis_genes(sqtl_cis_genes, grouped=True)
        rows.append(("genes tested for sQTLs", len(sqtl),
                     f"genes with intron phenotypes, grouped pass ({_label(sqtl_cis_genes)})"))
        detail = (f"Storey q-value <= {fdr} (eqtl.fdr), computed over the {len(sqtl)} genes "
                  "tested for sQTLs")
        rows.append(("sGenes", len(egenes(sqtl, fdr)), detail))
    return pd.DataFrame(rows, columns=list(COLUMNS)), not_used.reset_index(drop=True)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1e293b; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border-bottom: 1px solid #cbd5e1; padding: 0.3em 0.8em; text-align: left; vertical-align: top; }
th { background: #f1f5f9; } td.value { text-align: right; font-variant-numeric: tabular-nums; }
"""


def _table_html(df: pd.DataFrame, value_column: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for column, value in zip(df.columns, row):
            cls = ' class="value"' if column == value_column else ""
            cells.append(f"<td{cls}>{html.escape(str(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def render_html(summary: pd.DataFrame, not_used: pd.DataFrame, title: str) -> str:
    """A standalone page: the summary table, then every run not used with its reason."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>',
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        _table_html(summary, value_column="value"),
    ]
    if len(not_used):
        # run_status.tsv's columns: its detail says more than the shared reason.
        parts += [
            f"<h2>Runs not used ({len(not_used)})</h2>",
            _table_html(not_used[list(STATUS_COLUMNS)]),
        ]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_summary(
    summary: pd.DataFrame, not_used: pd.DataFrame, tsv: str | os.PathLike, html_path: str | os.PathLike, title: str
) -> None:
    write_table(summary, tsv, index=False)
    with atomic_path(html_path) as tmp:
        Path(tmp).write_text(render_html(summary, not_used, title), encoding="utf-8")
