"""The identity check on the demo: STAR alignments, QTLtools mbv and the calls.

The demo plants one sample swap (resources/demo/generated/truth_swaps.tsv: two runs whose reads
are each other's individual's) and the demo config says identity.on_mismatch: exclude.
- The planted swap is found, each run pointing at its true individual, and no other run is
  flagged; run_status.tsv records every verdict and excludes the two runs.
- A second scratch run exchanges two other runs' labels in the runs sheet: exactly those two
  are flagged too.
- With identity.on_mismatch: stop, the run ends in select_libraries, before any mapping job,
  with one line naming each run and whom it matches.
"""

from __future__ import annotations

import gzip
import os
import re

import pandas as pd
import pytest
from conftest import ROOT, snakemake
from workdirs import GENERATED, link_tree, scratch_workdir, snakemake_args

pytestmark = pytest.mark.e2e

CORES = os.environ.get("KGPEX_TEST_CORES", "2")


def truth_swaps() -> pd.DataFrame:
    return pd.read_csv(ROOT / GENERATED / "truth_swaps.tsv", sep="\t")


def identity_table(results) -> pd.DataFrame:
    return pd.read_csv(results / "identity" / "identity.tsv", sep="\t")


def test_the_planted_swap_is_found_and_no_other_run_is_flagged(demo_run):
    swaps = truth_swaps()
    assert len(swaps) == 2
    calls = identity_table(demo_run).set_index("run")
    runs = pd.read_csv(demo_run / "samples" / "runs.tsv", sep="\t")
    assert sorted(calls.index) == sorted(runs["run_accession"]), "one row per run"
    flagged = calls[calls["verdict"] != "match"]
    assert sorted(flagged.index) == sorted(swaps["run_accession"]), flagged[["verdict", "reason"]]
    for swap in swaps.itertuples():
        call = calls.loc[swap.run_accession]
        assert call["verdict"] == "swap"
        assert call["labelled_individual"] == swap.labelled_individual
        assert call["best_individual"] == swap.true_individual
    matched = calls[calls["verdict"] == "match"]
    print(f"{len(matched)} of {len(calls)} runs match; smallest margin {matched['margin'].min():.2f}, "
          f"fewest heterozygous sites {matched['het_sites'].min()}")
    assert (matched["best_individual"] == matched["labelled_individual"]).all()


def test_run_status_records_every_verdict_and_excludes_the_swapped_runs(demo_run):
    swaps = set(truth_swaps()["run_accession"])
    status = pd.read_csv(demo_run / "expression" / "run_status.tsv", sep="\t").set_index(
        "run_accession"
    )
    for run in swaps:
        assert status.loc[run, "status"] == "excluded"
        assert status.loc[run, "detail"].startswith("identity check: swap: the reads carry ")
        assert status.loc[run, "identity"].startswith("swap: ")
    others = status.drop(index=sorted(swaps))
    assert (others["identity"] == "match").all(), others[others["identity"] != "match"]
    # The swapped runs were their labelled individuals' only libraries: those individuals are
    # out of the matrices.
    with gzip.open(demo_run / "QTL_results" / "eQTL_results" / "expression_quants"
                   / "inverse_normal_TMM.filtered.TSS.DEMO.v0.1.bed.gz", "rt") as fh:
        samples = fh.readline().rstrip("\n").split("\t")[4:]
    labelled = set(truth_swaps()["labelled_individual"])
    assert not labelled & set(samples)
    assert len(samples) == status["individual"].nunique() - len(labelled)


def test_the_concordance_plot_is_written(demo_run):
    plot = demo_run / "identity" / "identity_concordance.png"
    assert plot.stat().st_size > 10_000


def _scratch_with_demo_results(demo_run, workdir, parts):
    results = workdir / "results" / demo_run.name
    for part in parts:
        link_tree(demo_run / part, results / part)
    return results


def test_a_second_swap_in_a_scratch_run_flags_exactly_those_runs(demo_run, tmp_path):
    workdir = scratch_workdir(tmp_path / "second_swap")
    results = _scratch_with_demo_results(
        demo_run, workdir,
        ("samples", "preflight", "reference", "alignment", "identity", "genotypes/vcf"),
    )
    # Two matched runs of individuals sequenced once: exchange their labels in the runs sheet.
    sheet_path = workdir / "resources" / "demo" / "runs.tsv"
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str)
    planted = set(truth_swaps()["run_accession"])
    once = sheet.groupby("individual")["run_accession"].transform("count") == 1
    a, b = sorted(set(sheet.loc[once, "run_accession"]) - planted)[-2:]
    ia, ib = (sheet.loc[sheet["run_accession"] == r, "individual"].item() for r in (a, b))
    sheet.loc[sheet["run_accession"] == a, "individual"] = ib
    sheet.loc[sheet["run_accession"] == b, "individual"] = ia
    sheet.to_csv(sheet_path, sep="\t", index=False)
    # The new labels re-resolve the sheets and re-call every run from the mbv tables already
    # there; the rules that would redo alignments are not allowed to run (nor need to: the
    # reads did not change).
    # The target first: --allowed-rules takes every word after it.
    proc = snakemake(*snakemake_args(
        workdir, str((results / "identity" / "identity.tsv").relative_to(workdir)), "--cores", CORES,
        "--rerun-triggers", "mtime",
        "--allowed-rules", "resolve_samples", "check_inputs", "call_identity",
    ), cwd=workdir)
    ran = set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", proc.stderr, re.MULTILINE))
    assert ran == {"resolve_samples", "check_inputs", "call_identity"}, ran
    calls = identity_table(results).set_index("run")
    flagged = calls[calls["verdict"] != "match"]
    assert sorted(flagged.index) == sorted(planted | {a, b}), flagged[["verdict", "reason"]]
    assert calls.loc[a, "verdict"] == calls.loc[b, "verdict"] == "swap"
    assert calls.loc[a, "labelled_individual"] == ib and calls.loc[a, "best_individual"] == ia
    assert calls.loc[b, "labelled_individual"] == ia and calls.loc[b, "best_individual"] == ib


def test_stop_ends_the_run_before_any_mapping_job_with_one_line(demo_run, tmp_path):
    workdir = scratch_workdir(tmp_path / "stop", {"identity": {"on_mismatch": "stop"}})
    # Everything but the expression stage, so select_libraries must run again.
    parts = [p.name for p in demo_run.iterdir() if p.is_dir() and p.name not in
             ("expression", "QTL_results", "eqtl", "covariates", "qc", "effect_sizes")]
    _scratch_with_demo_results(demo_run, workdir, parts)
    proc = snakemake(*snakemake_args(workdir, "--cores", CORES, "--rerun-triggers", "mtime"),
                     cwd=workdir, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("kgpex error")]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("kgpex error in rule select_libraries: identity check: 2 run(s) do not "
                           "match their label: ")
    for swap in truth_swaps().itertuples():
        assert (f"{swap.run_accession} labelled {swap.labelled_individual} matches "
                f"{swap.true_individual}") in line
    started = set(re.findall(r"^(?:local)?rule (\w+):$", proc.stderr, re.MULTILINE))
    assert "select_libraries" in started
    mapping = {r for r in started if r.startswith(("map_cis", "fastqtl", "finemap"))}
    assert not mapping, f"mapping jobs ran: {mapping}"
