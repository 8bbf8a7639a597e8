"""Run a shell pipeline of bioinformatics tools (bcftools | bcftools ...) with pipefail, turning a
failure into one line: what was being made, the tool, and the tool's last message."""

from __future__ import annotations

import subprocess

from kgpex.common.errors import KgpexError


def run_pipeline(command: str, what: str, tool: str = "bcftools") -> str:
    """Run ``command`` under ``bash -o pipefail``; return its stdout. A failing step raises
    ``KgpexError("<what>: <tool> failed: <its last stderr line>")``."""
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise KgpexError(f"{what}: {tool} failed: {last}")
    return proc.stdout
