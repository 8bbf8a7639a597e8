"""Workflow-level checks: lint, formatting, a dry-run of the demo, the SLURM profile, and the
config and sheet checks that must stop Snakemake with one line before it builds any job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
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


def test_mage_preset_dry_run_maps_with_fastqtl_under_mage_names(tmp_path):
    # The real sheets need network access (config/presets/README.md); two synthetic rows suffice
    # to plan the whole MAGE run, downloads included, without fetching anything.
    ind, run = _sheets(tmp_path, GOOD_INDIVIDUALS, GOOD_RUNS)
    proc = snakemake(
        "--dry-run",
        "--forceall",
        "--configfile",
        "config/presets/mage.yaml",
        "--config",
        f"samples={{method: sheets, individuals: {ind}, runs: {run}}}",
        timeout=600,
    )
    out = _output(proc)
    mage = "results/MAGE/QTL_results/eQTL_results"
    for path in [
        f"{mage}/eQTL_summary.MAGE.v1.0.txt.gz",
        f"{mage}/eQTL_nominal_results/eQTL_FastQTL_results.permutation_pass.MAGE.v1.0.txt.gz",
        "results/MAGE/genotypes/chrX.pgen",
    ]:
        assert path in out, path
    assert "rule fastqtl_permutations_chunk:" in out
    assert "rule map_cis_permutations:" not in out  # mapper: fastqtl


def test_slurm_profile_asks_a_gpu_for_every_tensorqtl_mapping_rule():
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert {"slurm_partition", "runtime", "mem_mb"} <= set(profile["default-resources"])
    for rule in GPU_RULES:
        # The plugin reads only job.resources, by key and by attribute.
        job = SimpleNamespace(resources=_Resources(profile["set-resources"][rule]))
        assert set_gres_string(job) == " --gres=gpu:1", rule


class _Resources(dict):
    """Job resources as the plugin reads them: mapping access plus attribute access."""

    def __getattr__(self, name):
        return self[name]


def test_slurm_profile_names_only_rules_that_exist():
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    proc = snakemake("--list-rules", timeout=300)
    rules = set(proc.stdout.split())
    unknown = sorted(set(profile["set-resources"]) - rules)
    assert not unknown, f"profiles/slurm/config.yaml sets resources of unknown rules: {unknown}"


# --- bad config or sheets: one line, non-zero exit, no job -----------------------------------

INDIVIDUALS_HEADER = "individual\tpopulation\tcontinental_group\tsex\n"
RUNS_HEADER = "run_accession\tindividual\tbatch\n"
GOOD_INDIVIDUALS = ["HG00096\tGBR\tEUR\tmale", "NA12878\tCEU\tEUR\tfemale"]
GOOD_RUNS = ["SRR0000001\tHG00096\tb1", "SRR0000002\tNA12878\tb1"]


def _sheets(tmp_path: Path, individuals: list[str], runs: list[str]) -> tuple[Path, Path]:
    ind = tmp_path / "individuals.tsv"
    run = tmp_path / "runs.tsv"
    ind.write_text(INDIVIDUALS_HEADER + "".join(f"{row}\n" for row in individuals))
    run.write_text(RUNS_HEADER + "".join(f"{row}\n" for row in runs))
    return ind, run


def _rejected(*config: str) -> str:
    """Run a dry-run with ``--config`` overrides; return the single kgpex error line."""
    proc = snakemake("--dry-run", "--config", *config, check=False, timeout=300)
    out = _output(proc)
    assert proc.returncode != 0, f"snakemake accepted the input:\n{out[-3000:]}"
    assert "Building DAG of jobs" not in out and "jobid:" not in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    errors = [line for line in out.splitlines() if line.startswith("kgpex: ")]
    assert len(errors) == 1, out[-3000:]
    return errors[0]


def test_config_of_the_wrong_type_is_rejected():
    line = _rejected("eqtl={window: wide}")
    assert line == "kgpex: config: field 'eqtl.window': 'wide' is not of type 'integer'"


def test_config_with_an_unknown_key_is_rejected():
    line = _rejected("permutation_count=1000")
    assert line == (
        "kgpex: config: field '(top level)': Additional properties are not allowed "
        "('permutation_count' was unexpected)"
    )


def test_sheet_with_a_bad_sex_is_rejected(tmp_path):
    ind, run = _sheets(tmp_path, ["HG00096\tGBR\tEUR\tmale", "NA12878\tCEU\tEUR\tF"], GOOD_RUNS)
    line = _rejected(f"samples={{individuals: {ind}, runs: {run}}}")
    assert line == (
        f"kgpex: {ind} line 3 (individual=NA12878): field 'sex': 'F' is not one of "
        "['male', 'female']"
    )


def test_sheet_with_a_bad_individual_id_is_rejected(tmp_path):
    ind, run = _sheets(tmp_path, ["HG0096\tGBR\tEUR\tmale"], ["SRR0000001\tHG0096\tb1"])
    line = _rejected(f"samples={{individuals: {ind}, runs: {run}}}")
    assert line == (
        f"kgpex: {ind} line 2 (individual=HG0096): field 'individual': 'HG0096' does not match "
        "'^(HG|NA)[0-9]{5}$'"
    )


def test_duplicate_run_is_rejected(tmp_path):
    ind, run = _sheets(tmp_path, GOOD_INDIVIDUALS, [*GOOD_RUNS, "SRR0000001\tNA12878\tb2"])
    line = _rejected(f"samples={{individuals: {ind}, runs: {run}}}")
    assert line == f"kgpex: {run} line 4: duplicate run_accession 'SRR0000001' (first on line 2)"


def test_duplicate_individual_is_rejected(tmp_path):
    ind, run = _sheets(tmp_path, [*GOOD_INDIVIDUALS, "HG00096\tGBR\tEUR\tmale"], GOOD_RUNS)
    line = _rejected(f"samples={{individuals: {ind}, runs: {run}}}")
    assert line == f"kgpex: {ind} line 4: duplicate individual 'HG00096' (first on line 2)"


def test_run_of_an_unknown_individual_is_rejected(tmp_path):
    ind, run = _sheets(tmp_path, GOOD_INDIVIDUALS, [*GOOD_RUNS, "SRR0000003\tNA19238\tb2"])
    line = _rejected(f"samples={{individuals: {ind}, runs: {run}}}")
    assert line == (
        f"kgpex: {run} line 4: run SRR0000003 belongs to individual NA19238, who is not in {ind}"
    )


@pytest.mark.parametrize("sheet", ["individuals", "runs"])
def test_missing_sheet_is_rejected(tmp_path, sheet):
    ind, run = _sheets(tmp_path, GOOD_INDIVIDUALS, GOOD_RUNS)
    gone = tmp_path / "nowhere.tsv"
    paths = {"individuals": ind, "runs": run, sheet: gone}
    line = _rejected(f"samples={{individuals: {paths['individuals']}, runs: {paths['runs']}}}")
    assert line == f"kgpex: {gone}: sheet not found"
