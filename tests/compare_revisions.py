"""Run the demo downstream of one set of quantifications with two revisions of kgpex, and compare
every MAGE-style table byte for byte.

salmon is not deterministic, so two revisions can only be compared from the same
quantifications: this takes a finished demo run's samples/, preflight/, reference/ and salmon/
folders (hard-linked, with their times, so Snakemake counts those jobs as done) into one scratch
working directory per revision, runs the rest of the workflow there with that revision's
Snakefile, rules, scripts and package, and compares every file under QTL_results/ (provenance.json
aside: it records the checkout). It exits 1 if any file differs or is missing on one side.

    .venv/bin/python tests/compare_revisions.py --base cf9f783            # against the checkout
    .venv/bin/python tests/compare_revisions.py --base cf9f783 --other HEAD --from results/DEMO

Used to show that the package-by-stage regrouping changed no output (issue 11); the kill-and-resume
test makes the same comparison within one revision.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workdirs import GENERATED, ROOT, link_tree, scratch_workdir  # noqa: E402

import yaml  # noqa: E402

NOT_COMPARED = {"provenance.json"}
QUANTIFIED = ("samples", "preflight", "reference", "salmon")


def checkout(rev: str, dest: Path) -> Path:
    """A detached worktree of ``rev`` at ``dest`` (the current work tree for ``WORKTREE``)."""
    if rev == "WORKTREE":
        return ROOT
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(dest), rev],
                   check=True, capture_output=True, text=True)
    return dest


def scratch(tree: Path, dest: Path, finished: Path, generated: Path) -> Path:
    """A working directory for ``tree``'s demo config, holding the finished run's quantifications."""
    scratch_workdir(dest, root=tree, generated=generated)
    # A fresh checkout's sheets are newer than the generated cohort, which would make Snakemake
    # regenerate it (and quantify again): date them back to the cohort's own time.
    oldest = min(p.stat().st_mtime for p in generated.rglob("*") if p.is_file()) - 1
    for name in ("individuals.tsv", "runs.tsv"):
        os.utime(dest / "resources/demo" / name, (oldest, oldest))
    cohort = yaml.safe_load((dest / "config/config.yaml").read_text())["cohort"]
    for part in QUANTIFIED:
        link_tree(finished / part, dest / "results" / cohort / part)
    return dest / "results" / cohort


def run(tree: Path, workdir: Path, cores: str) -> float:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(tree / "Snakefile"), "-d", str(workdir),
           "--cores", cores, "--rerun-triggers", "mtime"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{tree}: snakemake failed:\n{proc.stderr[-4000:]}")
    if "rule salmon_quant:" in proc.stderr or "rule make_demo_cohort:" in proc.stderr:
        sys.exit(f"{tree}: the run quantified again; the comparison needs the same quantifications")
    return time.monotonic() - start


def tables(results: Path) -> dict[str, Path]:
    root = results / "QTL_results"
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in NOT_COMPARED}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="revision to compare against")
    parser.add_argument("--other", default="WORKTREE",
                        help="revision to compare (default: this work tree as it is)")
    parser.add_argument("--from", dest="finished", type=Path, default=ROOT / "results/DEMO",
                        help="a finished demo run's results/<cohort> folder")
    parser.add_argument("--generated", type=Path, default=None,
                        help="its generated demo cohort (default: resources/demo/generated beside it)")
    parser.add_argument("--cores", default=os.environ.get("KGPEX_TEST_CORES", "2"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    args = parser.parse_args(argv)
    finished = args.finished.resolve()
    generated = (args.generated or finished.parents[1] / GENERATED).resolve()
    missing = [p for p in [*(finished / part for part in QUANTIFIED), generated] if not p.is_dir()]
    if missing:
        sys.exit(f"compare_revisions: no finished demo run: {missing[0]} is missing")

    tmp = Path(tempfile.mkdtemp(prefix="kgpex-compare-"))
    try:
        results, seconds = {}, {}
        for label, rev in (("base", args.base), ("other", args.other)):
            tree = checkout(rev, tmp / f"{label}-tree")
            results[label] = scratch(tree, tmp / f"{label}-run", finished, generated)
            seconds[label] = run(tree, tmp / f"{label}-run", args.cores)
            print(f"{label} ({rev}): downstream run in {seconds[label]:.0f} s")
        base, other = tables(results["base"]), tables(results["other"])
        only = sorted(set(base) ^ set(other))
        differ = sorted(name for name in set(base) & set(other)
                        if base[name].read_bytes() != other[name].read_bytes())
        for name in only:
            print(f"only in {'base' if name in base else 'other'}: {name}")
        for name in differ:
            print(f"differs: {name}")
        same = len(set(base) & set(other)) - len(differ)
        print(f"{same} of {len(set(base) | set(other))} MAGE-style files identical byte for byte "
              f"({args.base} vs {args.other})")
        return 1 if only or differ or not base else 0
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
