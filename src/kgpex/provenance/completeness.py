"""The final-outputs guard: a run that ends must have every target of ``rule all`` whole.

Snakemake can end a run with "100% done" and exit 0 while jobs it should have run dropped out
of its plan (docs/architecture.md, "Snakemake workarounds"). Whatever the cause, the workflow's
``onsuccess`` hook (provenance.smk) calls :func:`check_final_outputs`, which turns a missing,
empty or incomplete-marked target into one line and a failed run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from kgpex.common.errors import KgpexError

# Targets named in the message; the rest are counted.
SHOWN = 8


def unfinished_outputs(
    paths: Iterable[str], marked_incomplete: Callable[[list[str]], set[str]] = lambda paths: set()
) -> list[tuple[str, str]]:
    """The targets that are not whole, as (path, why): missing, empty (no final output of this
    workflow is empty: tables have a header, compressed files a gzip header), or still marked
    incomplete by Snakemake (its job was running when it died)."""
    paths = list(dict.fromkeys(str(path) for path in paths))
    marked = marked_incomplete(paths)
    unfinished = []
    for path in paths:
        if not os.path.exists(path):
            unfinished.append((path, "missing"))
        elif os.path.isfile(path) and os.path.getsize(path) == 0:
            unfinished.append((path, "empty"))
        elif path in marked:
            unfinished.append((path, "incomplete"))
    return unfinished


def unfinished_message(unfinished: list[tuple[str, str]], total: int) -> str:
    """One line: how many of the targets are not whole, the first few, and what to do."""
    shown = ", ".join(f"{path} ({why})" for path, why in unfinished[:SHOWN])
    more = f" and {len(unfinished) - SHOWN} more" if len(unfinished) > SHOWN else ""
    return (
        f"the run ended with {len(unfinished)} of the {total} final outputs of rule all not "
        f"written: {shown}{more}; no job failed, so Snakemake left jobs out of this run: "
        "rerun the same command"
    )


def check_final_outputs(
    paths: Iterable[str], marked_incomplete: Callable[[list[str]], set[str]] = lambda paths: set()
) -> None:
    """Raise a one-line KgpexError if any of ``paths`` is not whole."""
    paths = list(dict.fromkeys(str(path) for path in paths))
    unfinished = unfinished_outputs(paths, marked_incomplete)
    if unfinished:
        raise KgpexError(unfinished_message(unfinished, len(paths)))
