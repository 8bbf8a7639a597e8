"""kgpex.qc.summary: the run's summary table is made from the run's own files, so changing an
input (dropping a library) changes the table."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from kgpex.common.errors import KgpexError
from kgpex.eqtl.tables import CIS_COLUMNS
from kgpex.qc.summary import summarize, write_summary
from kgpex.samples.libraries import RUN_STATUS_COLUMNS, final_statuses

SHEET = "runs sheet resources/runs.tsv"
ONE_RUN = "its individual's only library, one run"
REPLICATE = "one of I5's 2 libraries (R5, R6): select_libraries keeps the one with most reads"
# run, mapping status, individual, library, evidence, library evidence
RUNS = [
    ("R1", "used", "I1", "R1", SHEET, ONE_RUN),
    ("R2", "used", "I2", "R2", SHEET, ONE_RUN),
    ("R3", "used", "I3", "R3", SHEET, ONE_RUN),
    ("R4", "used", "I4", "R4", SHEET, ONE_RUN),
    ("R5", "replicate", "I5", "R5", SHEET, REPLICATE),
    ("R6", "replicate", "I5", "R6", SHEET, REPLICATE),
    ("R7", "excluded", "I6", "", f"population YRI is not in samples.populations (CEU); {SHEET}", ""),
]
# The library select_libraries keeps for each individual (R5 has more reads than R6).
CHOSEN = {"I1": "R1", "I2": "R2", "I3": "R3", "I4": "R4", "I5": "R5"}
QVALUES = [0.001, 0.04, 0.05, 0.2, 0.9]


def _write(path, header, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_run(tmp_path, runs=RUNS, chosen=CHOSEN, qvalues=QVALUES) -> dict:
    """A reads run's summary inputs; run_status.tsv made by select_libraries' own code."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    mapping = [
        dict(zip(("run_accession", "status", "individual", "library", "evidence", "library_evidence"), run))
        | {"read_count": "1000"}
        for run in runs
    ]
    columns = ["run_accession", "status", "individual", "library", "read_count", "evidence", "library_evidence"]
    paths = {
        "run_mapping": _write(tmp_path / "run_mapping.tsv", columns, [[r[c] for c in columns] for r in mapping]),
        "run_status": _write(
            tmp_path / "run_status.tsv",
            RUN_STATUS_COLUMNS,
            [
                [row[c] for c in RUN_STATUS_COLUMNS]
                for row in final_statuses(mapping, set(chosen.values()))
            ],
        ),
        "library_choice": _write(
            tmp_path / "library_choice.tsv",
            ["individual", "library"],
            sorted(chosen.items()),
        ),
        "individuals": _write(
            tmp_path / "individuals.tsv",
            ["individual", "population", "continental_group", "sex"],
            [[ind, "CEU", "EUR", "female"] for ind in sorted({r[2] for r in runs})],
        ),
    }
    samples = sorted(chosen)
    paths["phenotypes"] = _write(
        tmp_path / "phenotypes.bed",
        ["#Chr", "start", "end", "ID", *samples],
        [["chr21", 99, 100, "G1", *[0.1] * len(samples)]],
    )
    cis = pd.DataFrame(
        {c: [1.0] * len(qvalues) for c in CIS_COLUMNS}
        | {
            "phenotype_id": [f"G{i}" for i in range(len(qvalues))],
            "variant_id": ["chr21:100:A:G"] * len(qvalues),
            "qval": qvalues,
            "pval_nominal_threshold": [1e-4] * len(qvalues),
        }
    )
    paths["cis_genes"] = tmp_path / "cis_genes.tsv.gz"
    cis.to_csv(paths["cis_genes"], sep="\t", index=False)
    return paths


def as_dict(summary: pd.DataFrame) -> dict:
    return {row.item: (str(row.value), row.detail) for row in summary.itertuples()}


def summarize_reads(paths, fdr=0.05):
    return summarize(
        "reads",
        fdr,
        paths["phenotypes"],
        paths["cis_genes"],
        run_mapping=paths["run_mapping"],
        run_status=paths["run_status"],
        library_choice=paths["library_choice"],
        individuals=paths["individuals"],
    )


def test_summary_counts_runs_libraries_individuals_and_genes(tmp_path):
    summary, not_used = summarize_reads(write_run(tmp_path))
    rows = as_dict(summary)
    assert list(summary.columns) == ["item", "value", "detail"]
    assert rows["runs in the run table"][0] == "7"
    assert rows["libraries quantified"][0] == "6"  # R7 was excluded before salmon
    assert rows["libraries used"][0] == "5"
    assert rows["runs used"] == ("5", "the only run of a library kept for its individual (5 runs)")
    assert rows["runs pooled"] == ("0", "none")
    assert rows["runs of replicates not chosen"][0] == "1"
    assert "fewer reads than the one kept" in rows["runs of replicates not chosen"][1]
    assert rows["runs excluded"] == (
        "1",
        "population YRI is not in samples.populations (CEU) (1 run)",
    )
    assert rows["individuals in the sheet"][0] == "6"
    assert rows["individuals with a library"][0] == "5"
    assert rows["individuals mapped"][0] == "5"
    assert rows["genes tested"][0] == "5"
    assert rows["eGenes"][0] == "3"  # qval <= 0.05, the boundary included
    assert rows["sGenes"][0] == "not run"
    assert sorted(not_used["run_accession"]) == ["R6", "R7"]


def test_dropping_a_library_changes_the_table(tmp_path):
    before, _ = summarize_reads(write_run(tmp_path / "before"))
    # Drop I4's only library: an override excludes its run, so select_libraries never sees it.
    runs = [
        ("R4", "excluded", "I4", "", "overrides table", "") if run[0] == "R4" else run
        for run in RUNS
    ]
    chosen = {ind: lib for ind, lib in CHOSEN.items() if ind != "I4"}
    after, not_used = summarize_reads(write_run(tmp_path / "after", runs, chosen))
    old, new = as_dict(before), as_dict(after)
    changed = {item for item in old if old[item][0] != new[item][0]}
    assert changed == {
        "libraries quantified",
        "libraries used",
        "runs used",
        "runs excluded",
        "individuals with a library",
        "individuals mapped",
    }
    assert new["runs used"][0] == "4" and new["libraries used"][0] == "4"
    assert new["runs excluded"] == (
        "2",
        "overrides table (1 run); population YRI is not in samples.populations (CEU) (1 run)",
    )
    assert dict(zip(not_used["run_accession"], not_used["reason"]))["R4"] == "overrides table"


def test_pooled_runs_give_their_reason(tmp_path):
    lanes = "pooled into library L5 with R6 (lanes: named library L5)"
    runs = [run for run in RUNS if run[0] not in ("R5", "R6")] + [
        ("R5", "pooled", "I5", "L5", SHEET, lanes),
        ("R6", "pooled", "I5", "L5", SHEET, lanes.replace("R6", "R5")),
    ]
    summary, not_used = summarize_reads(write_run(tmp_path, runs, CHOSEN | {"I5": "L5"}))
    rows = as_dict(summary)
    assert rows["runs pooled"] == ("2", "lanes of one library, quantified together (2 runs)")
    assert rows["libraries quantified"][0] == "5"
    assert rows["runs of replicates not chosen"] == ("0", "none")
    assert list(not_used["run_accession"]) == ["R7"]


def test_the_egene_count_follows_the_fdr(tmp_path):
    paths = write_run(tmp_path)
    assert as_dict(summarize_reads(paths, fdr=0.01)[0])["eGenes"][0] == "1"
    assert as_dict(summarize_reads(paths, fdr=0.5)[0])["eGenes"][0] == "4"


@pytest.mark.parametrize("entry", ["matrix", "bed"])
def test_rows_without_a_run_table_say_not_applicable(tmp_path, entry):
    paths = write_run(tmp_path)
    summary, not_used = summarize(
        entry,
        0.05,
        paths["phenotypes"],
        paths["cis_genes"],
        individuals=paths["individuals"] if entry == "matrix" else None,
    )
    rows = as_dict(summary)
    na = f"not applicable (expression.input {entry})"
    for item in ("runs in the run table", "runs used", "runs excluded", "libraries used", "individuals with a library"):
        assert rows[item][0] == na
    assert rows["individuals in the sheet"][0] == ("6" if entry == "matrix" else na)
    assert rows["individuals mapped"][0] == "5" and rows["eGenes"][0] == "3"
    assert not_used.empty


def test_a_status_without_its_run_is_one_line_naming_the_file(tmp_path):
    paths = write_run(tmp_path)
    lines = paths["run_status"].read_text().splitlines()
    paths["run_status"].write_text("\n".join(lines[:-1]) + "\n")  # R7's final status lost
    with pytest.raises(KgpexError, match=r"run_mapping.tsv: run R7 has no final status in .*run_status.tsv"):
        summarize_reads(paths)
    paths["run_status"].write_text("\n".join(lines).replace("\tused\t", "\tkept\t", 1) + "\n")
    with pytest.raises(KgpexError, match=r"run_status.tsv line 2: status 'kept' of run R1"):
        summarize_reads(paths)


def test_the_html_page_holds_the_table_and_every_run_not_used(tmp_path):
    summary, not_used = summarize_reads(write_run(tmp_path))
    tsv, page = tmp_path / "out" / "run_summary.tsv", tmp_path / "out" / "run_summary.html"
    write_summary(summary, not_used, tsv, page, "TEST.v1: run summary")
    assert pd.read_csv(tsv, sep="\t", dtype=str)["value"].tolist() == [str(v) for v in summary["value"]]
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<title>TEST.v1: run summary</title>" in text
    assert "<td>eGenes</td><td class=\"value\">3</td>" in text
    assert "Runs not used (2)" in text and "population YRI is not in samples.populations (CEU)" in text
    assert sorted(p.name for p in tsv.parent.iterdir()) == ["run_summary.html", "run_summary.tsv"]


def test_sgenes_counted_over_the_grouped_sqtl_pass(tmp_path):
    """With the splicing arm on, sGenes are the grouped pass's genes at q <= fdr (boundary in)."""
    from kgpex.eqtl.tables import GROUPED_CIS_COLUMNS

    paths = write_run(tmp_path)
    qvals = [0.01, 0.05, 0.0501, 0.5]
    sqtl = pd.DataFrame({c: [0.5] * len(qvals) for c in GROUPED_CIS_COLUMNS})
    sqtl["phenotype_id"] = [f"chr1:{10 * k}:{10 * k + 5}:clu_{k}_+:G{k}" for k in range(4)]
    sqtl["variant_id"] = "chr1:5:A:C"
    sqtl["group_id"] = [f"G{k}" for k in range(4)]
    sqtl["group_size"] = 2
    sqtl["qval"] = qvals
    sqtl["pval_nominal_threshold"] = 1e-3
    path = tmp_path / "sqtl_cis_genes.tsv.gz"
    sqtl.to_csv(path, sep="\t", index=False)
    summary, _ = summarize("reads", 0.05, paths["phenotypes"], paths["cis_genes"],
                           run_mapping=paths["run_mapping"], run_status=paths["run_status"],
                           library_choice=paths["library_choice"],
                           individuals=paths["individuals"], sqtl_cis_genes=path)
    rows = as_dict(summary)
    assert rows["genes tested for sQTLs"][0] == "4"
    assert rows["sGenes"][0] == "2"
