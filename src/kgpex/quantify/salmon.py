"""salmon quant's reads for one library: its runs' FASTQs, by their layout in run_sources.tsv
(kgpex.samples.runtable; kgpex.samples.libraries groups runs into libraries).

A paired run gives its two mates (``-1 {run}_1.fastq.gz -2 {run}_2.fastq.gz``), a single-end run
its one file (``-r single/{run}.fastq.gz``: a folder of its own, so that no run's file name can be
taken for another run's mate). A library of several runs (lanes, or pooled replicates) gives
salmon every run's files in run order (``-1 a_1 b_1 -2 a_2 b_2``), mates in the same order. The library type follows the layout: the
default ``A`` (salmon detects it) serves both; a paired type such as MAGE's ``IU`` names the mates'
relative orientation (``I``, ``O``, ``M``), which a single-end run does not have, so it is
dropped (``IU`` -> ``U``, ``ISR`` -> ``SR``). Standard library only: parsed with the Snakefile.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from kgpex.common.errors import KgpexError
from kgpex.samples.runtable import LAYOUTS, PAIRED, SINGLE

# salmon's library types: A, or [I|O|M] then [S|U] then [F|R] with the strand (S) only.
_PAIRED_TYPE = re.compile(r"^[IOM](U|S[FR])$")

_SINGLE_TYPE = re.compile(r"^(U|S[FR])$")


def fastq_inputs(download_dir: str, runs: str | list[str], layout: str) -> dict[str, list[str]]:
    """A library's FASTQs as salmon_quant's named inputs: ``r1``/``r2`` or ``reads``, each a
    list in run order (one run: lists of one)."""
    runs = [runs] if isinstance(runs, str) else sorted(runs)
    if not runs:
        raise KgpexError("salmon quant: a library without runs")
    if layout == PAIRED:
        return {
            "r1": [f"{download_dir}/{run}_1.fastq.gz" for run in runs],
            "r2": [f"{download_dir}/{run}_2.fastq.gz" for run in runs],
        }
    if layout == SINGLE:
        return {"reads": [f"{download_dir}/single/{run}.fastq.gz" for run in runs]}
    raise KgpexError(f"run {runs[0]}: layout '{layout}' is not {' or '.join(LAYOUTS)}")


def library_type(requested: str, layout: str) -> str:
    """The ``-l`` value for a run of ``layout`` when the config asks for ``requested``."""
    if requested == "A":
        return "A"
    if layout == PAIRED:
        if not _PAIRED_TYPE.match(requested):
            raise KgpexError(f"salmon library type '{requested}' is not a paired-end type")
        return requested
    if layout == SINGLE:
        single = requested[1:] if _PAIRED_TYPE.match(requested) else requested
        if not _SINGLE_TYPE.match(single):
            raise KgpexError(f"salmon library type '{requested}' has no single-end form")
        return single
    raise KgpexError(f"layout '{layout}' is not {' or '.join(LAYOUTS)}")


def _files(value) -> list[str]:
    """One path or a list of paths (fastq_inputs' lists) as a list."""
    if not value:
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def read_options(requested: str, files: Mapping[str, object]) -> str:
    """salmon quant's ``-l`` and read options for one library's inputs (quoted for the shell):
    ``-l T -1 r1... -2 r2...`` for paired runs, ``-l T -r reads...`` for single-end runs."""
    reads, r1, r2 = (_files(files.get(k)) for k in ("reads", "r1", "r2"))
    quoted = lambda paths: " ".join(shlex.quote(p) for p in paths)
    if reads and not (r1 or r2):
        return f"-l {library_type(requested, SINGLE)} -r {quoted(reads)}"
    if r1 and r2 and not reads:
        if len(r1) != len(r2):
            raise KgpexError(f"salmon quant: {len(r1)} first-mate files but {len(r2)} second-mate files")
        return f"-l {library_type(requested, PAIRED)} -1 {quoted(r1)} -2 {quoted(r2)}"
    raise KgpexError(
        f"salmon quant needs 'reads' (single-end) or 'r1' and 'r2' (paired), got: "
        f"{', '.join(k for k in ('reads', 'r1', 'r2') if files.get(k)) or 'none'}"
    )
