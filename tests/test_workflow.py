"""Workflow-level checks: lint, formatting, a dry-run of the demo and of the MAGE preset, the
SLURM profile. Malformed config, sheets and input files: tests/test_bad_inputs.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from conftest import ROOT, snakemake

TAG = "DEMO.v0.1"
MAGE = "results/DEMO/QTL_results/eQTL_results"

# The files a user opens first; the demo's `rule all` must lead to each of them.
KEY_OUTPUTS = [
    f"{MAGE}/expression_quants/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz",
    f"{MAGE}/expression_quants/eQTL_covariates.tab.gz",
    f"{MAGE}/expression_filteredGenes.{TAG}.txt.gz",
    f"{MAGE}/eQTL_nominal_results/eQTL_FastQTL_results.permutation_pass.{TAG}.txt.gz",
    f"{MAGE}/eQTL_nominal_results/eQTL_FastQTL_results.nominal_pass.significantAssociations.{TAG}.txt.gz",
    f"{MAGE}/eQTL_finemapping_results/eQTL_finemapping.credibleSet_summary.{TAG}.txt.gz",
    f"{MAGE}/eQTL_summary.{TAG}.txt.gz",
]

GPU_RULES = ["map_cis_permutations", "map_cis_nominal", "map_cis_independent", "finemap_susie"]


def _output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def test_lint_reports_nothing():
    proc = snakemake("--lint", check=False, timeout=600)
    out = _output(proc)
    findings = [line for line in out.splitlines() if line.startswith("Lints for")]
    assert proc.returncode == 0 and not findings, f"snakemake --lint findings:\n{out[-6000:]}"


def test_snakefmt_leaves_every_rule_file_unchanged():
    proc = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"snakefmt would reformat:\n{_output(proc)[-6000:]}"


def test_demo_dry_run_reaches_the_key_outputs():
    # --forceall: list every job even where an earlier demo run left results behind.
    proc = snakemake("--dry-run", "--forceall", "--cores", "2", timeout=600)
    out = _output(proc)
    missing = [path for path in KEY_OUTPUTS if path not in out]
    assert not missing, "dry-run does not produce:\n" + "\n".join(missing)


def test_eqtl_gpus_becomes_a_slurm_gpu_request_for_every_tensorqtl_rule(tmp_path):
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    gpus = tmp_path / "gpus.yaml"
    gpus.write_text("eqtl:\n  gpus: 1\n")
    proc = snakemake(
        "--dry-run", "--forceall", "--configfile", str(gpus), "--printshellcmds", timeout=600
    )
    jobs = _jobs(_output(proc))
    for rule in GPU_RULES:
        assert jobs[rule], rule
        for resources in jobs[rule]:
            assert resources.get("gpu") == "1", (rule, resources)
            # The plugin reads only job.resources, by key and by attribute.
            job = SimpleNamespace(resources=_Resources(resources))
            assert set_gres_string(job) == " --gpus=1", rule
    assert all(r.get("gpu", "0") == "0" for r in jobs["normalize_expression"] + jobs["hidden_factors"])


def _jobs(out: str) -> dict[str, list[dict]]:
    """Each rule's jobs' resources, from a dry-run's job listing."""
    jobs: dict[str, list[dict]] = {}
    rule = None
    for line in out.splitlines():
        if line.startswith(("rule ", "localrule ", "checkpoint ")):
            rule = line.split()[1].rstrip(":")
            jobs.setdefault(rule, [])
        elif rule and line.strip().startswith("resources:"):
            fields = line.split(":", 1)[1].split(",")
            jobs[rule].append(dict(f.strip().split("=", 1) for f in fields if "=" in f))
    return jobs


class _Resources(dict):
    """Job resources as the plugin reads them: mapping access plus attribute access."""

    def __getattr__(self, name):
        return self[name]


def test_slurm_profile_names_only_rules_that_exist():
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    proc = snakemake("--list-rules", timeout=300)
    rules = set(proc.stdout.split())
    named = set(profile.get("set-resources", {})) | set(profile.get("groups", {}))
    unknown = sorted(named - rules)
    assert not unknown, f"profiles/slurm/config.yaml names unknown rules: {unknown}"
