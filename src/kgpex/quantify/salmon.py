"""salmon quant's reads for one run, by the run's layout in run_sources.tsv (kgpex.samples.runtable).

A paired run is quantified from its two mates (``-1 {run}_1.fastq.gz -2 {run}_2.fastq.gz``), a
single-end run from its one file (``-r single/{run}.fastq.gz``: a folder of its own, so that no
run's file name can be taken for another run's mate). The library type follows the layout: the
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


def fastq_inputs(download_dir: str, run: str, layout: str) -> dict[str, str]:
    """The run's FASTQs as salmon_quant's named inputs: ``r1``/``r2`` or ``reads``."""
    if layout == PAIRED:
        return {"r1": f"{download_dir}/{run}_1.fastq.gz", "r2": f"{download_dir}/{run}_2.fastq.gz"}
    if layout == SINGLE:
        return {"reads": f"{download_dir}/single/{run}.fastq.gz"}
    raise KgpexError(f"run {run}: layout '{layout}' is not {' or '.join(LAYOUTS)}")


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


def read_options(requested: str, files: Mapping[str, str]) -> str:
    """salmon quant's ``-l`` and read options for one run's inputs (quoted for the shell):
    ``-l T -1 r1 -2 r2`` for a paired run, ``-l T -r reads`` for a single-end run."""
    reads, r1, r2 = files.get("reads"), files.get("r1"), files.get("r2")
    if reads and not (r1 or r2):
        return f"-l {library_type(requested, SINGLE)} -r {shlex.quote(str(reads))}"
    if r1 and r2 and not reads:
        return (
            f"-l {library_type(requested, PAIRED)} "
            f"-1 {shlex.quote(str(r1))} -2 {shlex.quote(str(r2))}"
        )
    raise KgpexError(
        f"salmon quant needs 'reads' (single-end) or 'r1' and 'r2' (paired), got: "
        f"{', '.join(k for k in ('reads', 'r1', 'r2') if files.get(k)) or 'none'}"
    )
