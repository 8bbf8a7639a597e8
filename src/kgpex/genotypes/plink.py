"""plink2 as the genotypes stage calls it: checked runs with a one-line error, and the psam reader
(also used by kgpex.fastqtl)."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from kgpex.common.diskspace import no_space_error, tool_ran_out_of_space
from kgpex.common.errors import KgpexError

log = logging.getLogger(__name__)


def first_error(text: str) -> str:
    """The line of a tool's output that names the error (else its first line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("[E::", "Error", "error")) or "rror" in line:
            return line
    return lines[0] if lines else "no message"


def read_psam_ids(path: str | Path) -> list[str]:
    """Sample IDs (IID) of a .psam, in file order."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: psam not found")
    with open(path) as fh:
        lines = [line for line in fh if not line.startswith("##")]
    header = lines[0].rstrip("\n").split("\t")
    if header[0] not in ("#IID", "#FID"):
        raise KgpexError(f"{path} line 1: header must start with #IID or #FID, got {header[0]}")
    col = header.index("IID") if header[0] == "#FID" else 0
    ids = [line.rstrip("\n").split("\t")[col] for line in lines[1:] if line.strip()]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise KgpexError(f"{path}: sample {dup} appears twice")
    return ids


def publish_pfile(built: str | Path, out_prefix: str | Path, sexes: list[tuple[str, str]]) -> None:
    """Write ``built``'s .psam (``#IID SEX``, ``sexes`` in order) and move the fileset to
    ``out_prefix``; .psam last: a set with a final .psam was completely written."""
    with open(f"{built}.psam", "w") as fh:
        fh.write("#IID\tSEX\n")
        fh.writelines(f"{sample}\t{sex}\n" for sample, sex in sexes)
    for ext in (".pgen", ".pvar", ".psam"):
        os.replace(f"{built}{ext}", f"{out_prefix}{ext}")


def run_plink2(
    args: list[str], out: Path, threads: int, memory_mb: int, writes: str | Path | None = None
) -> None:
    """plink2 ``args`` with ``--out out``; a failure raises with plink2's error line, or, when
    the disk of ``out`` is full, with one line naming ``writes`` (the output the files become;
    default ``out``) and "no space left on device"."""
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
        if tool_ran_out_of_space(proc.stdout + proc.stderr, out):
            raise no_space_error(writes or out, doing=f"in plink2 {args[0]}")
        raise KgpexError(
            f"plink2 {args[0]} {args[1]} failed: {first_error(proc.stdout + proc.stderr)}"
        )
    for line in (proc.stdout or "").splitlines():
        if line.startswith("Warning"):
            log.warning("plink2: %s", line)


def has_dosages(pgen_prefix: str | Path, probes: int = 2000) -> bool:
    """Whether a .pgen holds dosages (imputed DS, not hard calls only): up to ``probes``
    variants spread over the file are read as dosages and as hard calls, and any difference
    (a fractional dosage, or a dosage where the hard call is missing) says so."""
    import numpy as np
    import pgenlib

    prefix = str(pgen_prefix)
    n_samples = len(read_psam_ids(prefix + ".psam"))
    reader = pgenlib.PgenReader(f"{prefix}.pgen".encode(), raw_sample_ct=n_samples)
    try:
        n_variants = reader.get_variant_ct()
        dosages = np.empty(n_samples, dtype=np.float64)
        calls = np.empty(n_samples, dtype=np.int8)
        for idx in np.unique(np.linspace(0, max(n_variants - 1, 0), min(probes, n_variants), dtype=int)):
            reader.read_dosages(int(idx), dosages)
            reader.read(int(idx), calls)
            if not np.array_equal(dosages, calls.astype(np.float64)):
                return True
        return False
    finally:
        reader.close()
