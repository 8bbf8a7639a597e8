"""plink2 as the genotypes stage calls it: checked runs with a one-line error, and the psam reader."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from kgpex.common.errors import KgpexError

log = logging.getLogger(__name__)


def _first_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("[E::", "Error", "error")) or "rror" in line:
            return line
    return lines[0] if lines else "no message"


def _psam_ids(psam: Path) -> list[str]:
    with open(psam) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        iid = header.index("#IID") if "#IID" in header else header.index("IID")
        return [line.rstrip("\n").split("\t")[iid] for line in fh]


def _plink2(args: list[str], out: Path, threads: int, memory_mb: int) -> None:
    cmd = [
        "plink2",
        *args,
        "--threads",
        str(max(threads, 1)),
        "--memory",
        str(int(memory_mb)),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KgpexError(
            f"plink2 {args[0]} {args[1]} failed: {_first_error(proc.stdout + proc.stderr)}"
        )
    for line in (proc.stdout or "").splitlines():
        if line.startswith("Warning"):
            log.warning("plink2: %s", line)
