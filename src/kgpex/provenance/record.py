"""Provenance of a results folder: what produced it, so a user can tell two runs apart.

Each folder of final outputs gets a small ``provenance.json`` (rule ``record_provenance``):
- ``pipeline_version``: ``git describe --always --dirty --tags`` of the workflow's checkout, or
  the package version where the workflow is not a git checkout;
- ``config_sha256``: sha256 of the validated config as canonical JSON (sorted keys), so two runs
  with the same settings have the same hash whatever the YAML's layout or comments;
- ``tools``: the versions of the external tools and Python/R packages the pipeline calls, as the
  environment that runs the rule sees them (``not found`` where a tool is absent);
- ``run_table``: sha256 of the resolved run sheets the run quantified;
- ``files``: the final outputs of the folder it describes.

The file itself is not part of any result: it differs between runs on different checkouts or
machines while the tables beside it stay the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Mapping

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, sha256_of

NOT_FOUND = "not found"

PYTHON_PACKAGES = (
    "snakemake", "tensorqtl", "torch", "pandas", "numpy", "scipy", "pyarrow", "pysam",
    "pgenlib", "rpy2",
)

R_PACKAGES = ("qvalue", "susieR", "edgeR")


def _first_match(pattern: str) -> Callable[[str], str | None]:
    regex = re.compile(pattern, re.MULTILINE)

    def parse(text: str) -> str | None:
        match = regex.search(text)
        return match.group(1) if match else None

    return parse


# Each tool: the command that prints its version and how to read it from the output.
TOOL_COMMANDS: dict[str, tuple[list[str], Callable[[str], str | None]]] = {
    "salmon": (["salmon", "--version"], _first_match(r"^salmon (\S+)")),
    "bcftools": (["bcftools", "--version"], _first_match(r"^bcftools (\S+)")),
    "htslib": (["tabix", "--version"], _first_match(r"^tabix \(htslib\) (\S+)")),
    "plink2": (["plink2", "--version"], _first_match(r"^PLINK (v\S+(?: \S+)?)")),
    # The GTEx fork has no --version; its help banner names it (with colour codes around).
    "fastQTL": (["fastQTL", "--help"], _first_match(r"Version : (\S+)")),
    "sra-tools": (["fasterq-dump", "--version"], _first_match(r"fasterq-dump : (\S+)")),
    "R": (["R", "--version"], _first_match(r"^R version (\S+)")),
}


def pipeline_version(workflow_dir: str | os.PathLike, fallback: str) -> str:
    """``git describe --always --dirty --tags`` of ``workflow_dir``; ``fallback`` (the package
    version) when it is not a git checkout or git is missing."""
    git = shutil.which("git")
    if git is None:
        return fallback
    try:
        proc = subprocess.run(
            [git, "-C", str(workflow_dir), "describe", "--always", "--dirty", "--tags"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return fallback
    described = proc.stdout.strip()
    return described if proc.returncode == 0 and described else fallback


def canonical_json(value) -> str:
    """One text for one value: sorted keys, no whitespace, non-ASCII kept as escapes."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)
    except (TypeError, ValueError) as err:
        raise KgpexError(f"config: cannot be hashed as JSON ({err})") from None


def config_sha256(config: Mapping) -> str:
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()


def _run_version(command: list[str], parse: Callable[[str], str | None]) -> str:
    if shutil.which(command[0]) is None:
        return NOT_FOUND
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({type(err).__name__})"
    version = parse(proc.stdout + proc.stderr)
    return version if version else "unknown (unrecognised output)"


def tool_versions(commands: Mapping[str, tuple[list[str], Callable]] = TOOL_COMMANDS) -> dict:
    return {name: _run_version(cmd, parse) for name, (cmd, parse) in sorted(commands.items())}


def r_package_versions(packages: Iterable[str] = R_PACKAGES) -> dict:
    """Versions through Rscript (a subprocess: embedding R here would change LD_LIBRARY_PATH)."""
    packages = list(packages)
    if shutil.which("Rscript") is None:
        return {name: NOT_FOUND for name in packages}
    script = (
        "for (p in commandArgs(TRUE)) cat(p, tryCatch(as.character(packageVersion(p)),"
        " error = function(e) 'not found'), '\\n', sep = '\\t')"
    )
    try:
        proc = subprocess.run(["Rscript", "-e", script, *packages],
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        return {name: f"unknown ({type(err).__name__})" for name in packages}
    found = {}
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            found[fields[0]] = fields[1]
    return {name: found.get(name, "unknown (Rscript failed)") for name in packages}


def python_package_versions(packages: Iterable[str] = PYTHON_PACKAGES) -> dict:
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = NOT_FOUND
    return versions


def provenance_record(
    *,
    version: str,
    config: Mapping,
    run_tables: Mapping[str, str | os.PathLike],
    files: Iterable[str | os.PathLike],
    tools: Mapping[str, str],
) -> dict:
    """The provenance of one folder, ready to write (keys and file names sorted)."""
    return {
        "pipeline_version": version,
        "config_sha256": config_sha256(config),
        "run_table": {name: {"path": str(path), "sha256": sha256_of(path)}
                      for name, path in sorted(run_tables.items())},
        "tools": dict(sorted(tools.items())),
        "files": sorted(Path(f).name for f in files),
    }


def write_provenance(record: Mapping, dest: str | os.PathLike) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def collect_tools() -> dict:
    """Every version the record lists: external tools, R packages, Python packages."""
    tools = tool_versions()
    tools.update({f"R:{k}": v for k, v in r_package_versions().items()})
    tools.update({f"python:{k}": v for k, v in python_package_versions().items()})
    return tools
