"""A run's FASTQs: gzip and FASTQ structure checks, and the SRA fallback (prefetch,
fasterq-dump, pigz)."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

from kgpex.common import fetch as kgpex_fetch
from kgpex.common.diskspace import no_space_error, tool_ran_out_of_space
from kgpex.common.errors import KgpexError
from kgpex.common.fetch import CHUNK, Progress, _describe

log = logging.getLogger(__name__)


STRUCTURE_CHECKED_RECORDS = 10_000


def check_fastq_gz(
    path: str | os.PathLike, records_checked: int = STRUCTURE_CHECKED_RECORDS
) -> int:
    """Check a gzipped FASTQ; return its number of records.

    The whole file is decompressed (a truncated or corrupt gzip stream fails), the first
    ``records_checked`` records are checked for structure ('@' header, '+' separator, sequence
    and quality of the same non-zero length), and the line count must be a multiple of 4.
    """
    path = Path(path)
    lines = 0
    head: list[bytes] = []
    tail = b""
    last_byte = b"\n"
    want_head = 4 * records_checked
    try:
        with gzip.open(path, "rb") as fh:
            for block in iter(lambda: fh.read(4 * CHUNK), b""):
                if len(head) < want_head:
                    text = tail + block
                    parts = text.split(b"\n")
                    tail = parts.pop()
                    head.extend(parts[: want_head - len(head)])
                    if len(head) >= want_head:
                        tail = b""
                lines += block.count(b"\n")
                last_byte = block[-1:]
    except (OSError, EOFError, zlib.error) as err:
        raise KgpexError(f"{path}: not a complete gzip file ({_describe(err)})") from None
    if lines == 0 and not head:
        raise KgpexError(f"{path}: FASTQ has no reads")
    if last_byte != b"\n":
        lines += 1  # a last line without a newline still counts
        if len(head) < want_head and tail:
            head.append(tail)
    _check_fastq_records(path, head)
    if lines % 4:
        raise KgpexError(
            f"{path}: record {lines // 4 + 1}: incomplete FASTQ record at the end of the file "
            f"({lines} lines is not a multiple of 4)"
        )
    return lines // 4


def _check_fastq_records(path: Path, lines: list[bytes]) -> None:
    for i in range(0, len(lines) - len(lines) % 4, 4):
        record = i // 4 + 1
        header, seq, sep, qual = (line.rstrip(b"\r") for line in lines[i : i + 4])
        if not header.startswith(b"@"):
            raise KgpexError(f"{path}: record {record}: header does not start with '@'")
        if not sep.startswith(b"+"):
            raise KgpexError(f"{path}: record {record}: third line does not start with '+'")
        if not seq:
            raise KgpexError(f"{path}: record {record}: empty sequence")
        if len(seq) != len(qual):
            raise KgpexError(
                f"{path}: record {record}: sequence has {len(seq)} bases, quality {len(qual)}"
            )


def sra_to_fastq(
    run: str, outdir: str | os.PathLike, threads: int = 1, layout: str = "paired"
) -> tuple[Path, ...]:
    """Fetch a run from SRA with sra-tools; return its gzipped FASTQs in ``outdir``.

    ``layout`` ``paired``: ``{run}_1.fastq.gz`` and ``{run}_2.fastq.gz``; ``single``:
    ``{run}.fastq.gz``. Runs ``prefetch`` then ``fasterq-dump --split-files``, gzips the reads,
    checks them, and renames them into place only when all are complete. fasterq-dump's files
    must match the layout: two mates for a paired run, one file for a single-end run.
    """
    if layout not in ("paired", "single"):
        raise KgpexError(f"SRA fallback for {run}: layout '{layout}' is not paired or single")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for tool in ("prefetch", "fasterq-dump"):
        if shutil.which(tool) is None:
            raise KgpexError(
                f"SRA fallback for {run}: '{tool}' not found on PATH (install sra-tools)"
            )
    finals = (
        (outdir / f"{run}_1.fastq.gz", outdir / f"{run}_2.fastq.gz")
        if layout == "paired"
        else (outdir / f"{run}.fastq.gz",)
    )
    with tempfile.TemporaryDirectory(prefix=f".{run}.sra.", dir=outdir) as work:
        work = Path(work)
        _run_tool(
            run,
            ["prefetch", run, "--max-size", "u", "--output-directory", str(work / "sra")],
            finals,
            watch=work / "sra",
        )
        _run_tool(
            run,
            [
                "fasterq-dump",
                str(work / "sra" / run),
                "--split-files",
                "--threads",
                str(max(1, threads)),
                "--outdir",
                str(work / "fastq"),
                "--temp",
                str(work / "tmp"),
            ],
            finals,
        )
        mates = _dumped_reads(run, work / "fastq", layout)
        gzipped, counts = [], []
        for mate, final in zip(mates, finals):
            target = mate.with_name(mate.name + ".gz")
            _gzip(run, mate, target, threads, final)
            counts.append(check_fastq_gz(target))
            gzipped.append(target)
        if len(counts) == 2 and counts[0] != counts[1]:
            raise KgpexError(
                f"SRA fallback for {run}: mate 1 has {counts[0]} reads, mate 2 {counts[1]}"
            )
        for src, final in zip(gzipped, finals):
            os.replace(src, final)
    return finals


def _dumped_reads(run: str, fastq_dir: Path, layout: str) -> list[Path]:
    """fasterq-dump's output for ``layout``: ``{run}_1.fastq`` and ``{run}_2.fastq`` for a
    paired run; for a single-end run its one file (``{run}.fastq``, or ``{run}_1.fastq`` as
    --split-files names it in some sra-tools versions) and no second mate."""
    found = sorted(p.name for p in fastq_dir.glob("*")) if fastq_dir.is_dir() else []
    listed = ", ".join(found) or "nothing"
    if layout == "paired":
        mates = [fastq_dir / f"{run}_{mate}.fastq" for mate in (1, 2)]
        if not all(m.name in found for m in mates):
            raise KgpexError(
                f"SRA fallback for {run}: fasterq-dump did not write paired files "
                f"{run}_1.fastq and {run}_2.fastq (found: {listed}); if the run is "
                "single-end, its run table's library_layout must say SINGLE"
            )
        return mates
    reads = [name for name in (f"{run}.fastq", f"{run}_1.fastq") if name in found]
    if len(reads) != 1 or f"{run}_2.fastq" in found:
        raise KgpexError(
            f"SRA fallback for {run}: the run table says single-end (library_layout SINGLE) "
            f"but fasterq-dump did not write exactly one file {run}.fastq (found: {listed})"
        )
    return [fastq_dir / reads[0]]


def _run_tool(
    run: str, cmd: list[str], writes: tuple[Path, ...] = (), watch: Path | None = None
) -> None:
    """Run an sra-tools command; a failure is one line (on a full disk: naming ``writes``).

    ``watch``: the folder the command downloads into; while it runs, the bytes under it and the
    rate are logged every PROGRESS_SECONDS (kgpex.common.fetch.Progress). No time left: SRA's
    size of a run is not in the run table."""
    log.info("SRA fallback for %s: %s", run, " ".join(cmd))
    progress = Progress(f"{cmd[0]} {run}") if watch is not None else None
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            while True:
                try:
                    # Looked up each time: the tests shorten the interval.
                    stdout, stderr = proc.communicate(timeout=kgpex_fetch.PROGRESS_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    # communicate() keeps what it has read so far; the next call goes on.
                    if progress is not None:
                        progress.update(_bytes_under(watch))
        except BaseException:
            proc.kill()  # as subprocess.run does: no tool left running behind an error
            raise
    if progress is not None and proc.returncode == 0:
        progress.done = _bytes_under(watch)
        progress.finish("done")
    for stream in (stdout, stderr):
        for line in stream.splitlines():
            log.info("%s: %s", cmd[0], line)
    if proc.returncode != 0:
        work = Path(cmd[-1])  # every command here ends with a folder it writes into
        if writes and tool_ran_out_of_space(stdout + stderr, work):
            raise no_space_error(writes, doing=f"in the SRA fallback for {run} ({cmd[0]})")
        last = (stderr.strip().splitlines() or stdout.strip().splitlines() or [""])[-1]
        raise KgpexError(
            f"SRA fallback for {run}: '{' '.join(cmd[:2])}' failed with exit code "
            f"{proc.returncode}: {last.strip()}"
        )


def _bytes_under(folder: Path) -> int:
    """The size of the files under ``folder`` (0 before it exists); files the tool renames or
    deletes meanwhile are skipped."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def _gzip(run: str, source: Path, target: Path, threads: int, writes: Path | None = None) -> None:
    pigz = shutil.which("pigz")
    cmd = (
        [pigz, "-p", str(max(1, threads)), "-c", str(source)]
        if pigz
        else ["gzip", "-c", str(source)]
    )
    with open(target, "wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        if tool_ran_out_of_space(proc.stderr, target):
            raise no_space_error(writes or target, doing=f"in the SRA fallback for {run} (gzip)")
        raise KgpexError(
            f"SRA fallback for {run}: {cmd[0]} {source.name} failed: {proc.stderr.strip()}"
        )
    with contextlib.suppress(FileNotFoundError):
        source.unlink()  # the uncompressed copy is large; free the space now
