"""Every rule declares what a cluster and a software-deployment method need.

The workflow is loaded through Snakemake's API (the same parse as a run), and each rule is held
to the project's contract: a log, threads and portable resources, a pinned conda env and a pinned
container; only rules that run nothing (the `all` target) are exempt.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# A pinned container has an explicit tag (no bare name, no :latest).
PINNED_IMAGE = re.compile(r"^docker://[\w./-]+:(?!latest$)[\w.+-]+$")


@pytest.fixture(scope="module")
def rules():
    from workflow_api import parsed_rules

    with parsed_rules() as parsed:
        yield parsed


def _runs_something(rule) -> bool:
    return not rule.norun


def test_the_workflow_has_its_stages(rules):
    for name in ("resolve_samples", "salmon_quant", "cohort_genotypes", "map_cis_permutations"):
        assert name in rules


def test_the_report_only_rules_that_repeat_runs_omit_exist(rules):
    # Snakemake ignores an --omit-from name that is no rule: a renamed rule would quietly stay.
    from workdirs import REPORT_ONLY_RULES

    assert sorted(set(REPORT_ONLY_RULES) - set(rules)) == []
    assert sorted(name for name in rules if name.startswith("plot_")) == sorted(
        name for name in REPORT_ONLY_RULES if name.startswith("plot_")
    )


def test_only_the_target_rule_runs_nothing(rules):
    assert sorted(name for name, rule in rules.items() if not _runs_something(rule)) == ["all"]


@pytest.mark.parametrize(
    "check, what",
    [
        (lambda r: bool(r.log), "a log: directive"),
        (lambda r: r.conda_env is not None, "a conda: env"),
        (lambda r: r.container_img is not None, "a container:"),
        (lambda r: not r.is_run, "no run: block (logic belongs in src/kgpex)"),
        (lambda r: "mem_mb" in r.resources and "runtime" in r.resources, "mem_mb and runtime"),
    ],
    ids=["log", "conda", "container", "no-run-block", "resources"],
)
def test_every_rule_that_runs_something_declares(rules, check, what):
    missing = sorted(name for name, r in rules.items() if _runs_something(r) and not check(r))
    assert not missing, f"rules without {what}: {', '.join(missing)}"


def test_every_conda_env_is_a_pinned_env_file(rules):
    for name, rule in rules.items():
        if not _runs_something(rule):
            continue
        env = Path(str(rule.conda_env))
        assert env.parent == ROOT / "envs" and env.is_file(), f"{name}: {env}"
        deps = yaml.safe_load(env.read_text())["dependencies"]
        unpinned = [d for d in deps if isinstance(d, str) and "=" not in d]
        assert not unpinned, f"{env.name}: unpinned {unpinned}"


def test_every_container_is_pinned_by_tag(rules):
    for name, rule in rules.items():
        if _runs_something(rule):
            assert PINNED_IMAGE.match(rule.container_img), f"{name}: {rule.container_img}"


def test_readme_lists_every_pinned_package_of_every_env():
    readme = (ROOT / "README.md").read_text()
    for env in sorted((ROOT / "envs").glob("*.yaml")):
        if env.name == "containers.yaml":
            continue
        for dep in yaml.safe_load(env.read_text())["dependencies"]:
            specs = dep["pip"] if isinstance(dep, dict) else [dep]
            for spec in specs:
                name, version = re.split(r"==?", spec, maxsplit=1)
                assert f"{name} {version}" in readme, f"README.md lacks {name} {version} ({env.name})"
