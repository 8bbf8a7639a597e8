"""Scratch working directories for end-to-end tests that must not share results/ with demo_run.

A scratch directory holds its own config/config.yaml and the demo sheets; the Snakefile, rules,
scripts and package stay in the repository (``snakemake -s ROOT/Snakefile -d <scratch>``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GENERATED = Path("resources/demo/generated")
# Rules whose outputs only feed the Snakemake report: plots, MultiQC, the run's summary table
# and the hidden-factor scan. Runs that repeat the demo to test something else (kill-and-resume,
# SLURM) leave them out with OMIT_REPORT: none of what they compare comes from these, and each
# repeat spent about a minute on them. tests/test_rule_completeness.py checks the names.
REPORT_ONLY_RULES = (
    "plot_mapping_rates", "plot_library_types", "plot_library_qc", "plot_expression_pca",
    "plot_pvalue_qq", "plot_egenes_per_chromosome", "plot_lead_tss_distance",
    "plot_credible_sets", "plot_afc_distribution", "plot_eqtl_results",
    "scan_hidden_factor_counts", "run_multiqc", "summarize_run",
)
OMIT_REPORT = ("--omit-from", *REPORT_ONLY_RULES)


def _merge(base: dict, overrides: dict) -> dict:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def scratch_workdir(dest: Path, overrides: dict | None = None, reuse_demo: bool = True,
                    root: Path = ROOT, generated: Path | None = None) -> Path:
    """Make ``dest`` a working directory for ``root``'s demo config (this checkout's unless
    given), with ``overrides`` merged into it.

    With ``reuse_demo`` the generated demo cohort (``generated``, by default the repository's, if
    it has one) is hard-linked in, so the scratch run does not spend time regenerating it; rules
    replace files by rename, so the linked copies are never written through the links.
    """
    dest = Path(dest)
    (dest / "config").mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((root / "config/config.yaml").read_text())
    _merge(config, overrides or {})
    (dest / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sheets = dest / "resources/demo"
    sheets.mkdir(parents=True, exist_ok=True)
    for name in ("individuals.tsv", "runs.tsv"):
        shutil.copy2(root / "resources/demo" / name, sheets / name)
    generated = generated or ROOT / GENERATED
    if reuse_demo and generated.is_dir() and not (dest / GENERATED).exists():
        shutil.copytree(generated, dest / GENERATED, copy_function=_link_or_copy)
    return dest


def _link_or_copy(src: str, dst: str) -> None:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def snakemake_args(workdir: Path, *args: str) -> list[str]:
    """Arguments that run the repository's workflow in ``workdir``."""
    return ["-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]


def link_tree(src: Path, dest: Path) -> None:
    """Hard-link the files of ``src`` (a file or a folder) under ``dest``. Links keep the files'
    times, so Snakemake (with ``--rerun-triggers mtime``: a scratch directory has no records of
    their code and parameters) counts the jobs that made them as done."""
    src, dest = Path(src), Path(dest)
    if src.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(src), str(dest))
        return
    for path in src.rglob("*"):
        if path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(str(path), str(target))
