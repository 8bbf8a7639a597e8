"""A small filesystem to fill up: a tmpfs a test mounts on a folder of its own, and a filler file
that leaves a chosen number of bytes free (deleting it "frees space"). Needs root; a test skips,
saying why, where mounting is not allowed."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

PAGE = 4096


class SmallDisk:
    """A mounted tmpfs at ``path``; ``fill(leave)`` and ``free()`` move its free space."""

    def __init__(self, path: Path):
        self.path = path
        self.filler = path / ".filler"

    def available(self) -> int:
        return shutil.disk_usage(self.path).free

    def fill(self, leave: int = 0) -> None:
        """Grow the filler until at most ``leave`` bytes (rounded down to a page) are free."""
        leave = leave // PAGE * PAGE
        block = b"\0" * (1 << 20)
        with open(self.filler, "ab") as fh:
            while (room := self.available() - leave) > 0:
                try:
                    fh.write(block[: min(room, len(block))])
                    fh.flush()
                except OSError:
                    break
        assert self.available() <= max(leave, PAGE), f"{self.path}: could not fill"

    def free(self) -> None:
        """Give the filler's space back. The (empty) filler stays: Snakemake removes output
        folders it leaves empty, and a mount point cannot be removed."""
        with open(self.filler, "wb"):
            pass


def _mount(path: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs the tests as root)")
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs on {path}: {proc.stderr.strip() or proc.returncode}")


def _unmount(path: Path) -> None:
    if not os.path.ismount(path):
        return
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        # Busy (a process of a failed test still holds a file): detach it now, freed later.
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m") -> Iterator[SmallDisk]:
    """Mount a ``size`` tmpfs on ``path`` (made if missing); always unmounted afterwards."""
    _mount(path, size)
    try:
        yield SmallDisk(path)
    finally:
        _unmount(path)
