"""MAGE's 2026 sample swap in every state a fetched run table can show (kgpex.samples.mage).

SRR19762530 (labelled HG00237, is NA11919) and SRR19762653 (labelled NA11919, is HG00237) were
replaced by SRR37907958 (NA11919) and SRR37907959 (HG00237), and on 2026-04-03 re-labelled on
SRA under their true individuals. A run table can show the original labels or the relabelling,
with or without the replacements, or a mislabelled run withdrawn. Each state is built from the
full-scale MAGE-shaped fixture (tests/mage_scale.py) and resolved by calling the join directly.
In the fixture the physical libraries are HG00237 (SRR19762530's, a library of HG00237's
triplicate by read count) and GM11919 (SRR19762653's, NA11919's only library).
"""

from __future__ import annotations

import csv
from collections import Counter

import mage_scale
import pytest

from kgpex.samples import mage as samples_mage
from kgpex.samples.metadata import read_runs
from kgpex.samples.resolve import ResolvedPaths, resolve_mage

OLD_530, OLD_653, NEW_958, NEW_959 = "SRR19762530", "SRR19762653", "SRR37907958", "SRR37907959"
# run -> (individual, physical library) in every state.
TRUE = {
    OLD_530: ("NA11919", "HG00237"),
    OLD_653: ("HG00237", "GM11919"),
    NEW_958: ("NA11919", "HG00237"),
    NEW_959: ("HG00237", "GM11919"),
}


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    path, _ = mage_scale.write(tmp_path_factory.mktemp("mage_meta"))
    return samples_mage.read_metadata(path)


def run_table(tmp_path, edit=None, **state):
    """The fixture's run table in a swap state; ``edit(rows)`` changes it further."""
    _, runs = mage_scale.generate(**state)
    if edit is not None:
        runs = edit(runs)
    path = tmp_path / "run_table.tsv"
    with open(path, "w") as fh:
        fh.write("\t".join(mage_scale.ENA_FIELDS) + "\n")
        fh.writelines("\t".join(r[c] for c in mage_scale.ENA_FIELDS) + "\n" for r in runs)
    return path


def resolve(meta, tmp_path, edit=None, **state):
    table = run_table(tmp_path, edit, **state)
    result = samples_mage.mage_samples(meta, read_runs(table), None, str(table))
    return result, {row["run_accession"]: row for row in result.mapping}


def check_resolved(meta, result, mapping, missing_libraries=()):
    """No problem, no run unmapped, no library kept twice, every other library kept once, and
    HG00237's mapped library where MAGE documents it."""
    assert result.problems == []
    assert [r for r, row in mapping.items() if row["status"] == "unmapped"] == []
    kept = Counter(row["library"] for row in mapping.values() if row["status"] == "mapped")
    assert [lib for lib, n in kept.items() if n > 1] == []
    all_libraries = {lib.sequencing_id for lib in meta.libraries.values()}
    assert set(kept) == all_libraries - set(missing_libraries)
    assert len(result.runs) == len(kept)
    by_run = {r["run_accession"]: r["individual"] for r in result.runs}
    assert by_run["SRR19762247"] == "HG00237" and by_run["SRR19762765"] == "HG00100"
    return by_run


def check_swap_run(mapping, run, status, state):
    row = mapping[run]
    assert (row["individual"], row["library"]) == TRUE[run], row
    assert row["status"] == status, row
    assert row["evidence"].endswith(f"swap state: {state}"), row["evidence"]


def sample_fields(run_rows, run):
    (row,) = [r for r in run_rows if r["run_accession"] == run]
    return row["sample_alias"], row["library_name"]


# --- (a) original labels, replacement runs present ------------------------------------------


def test_original_labels_with_replacements_keep_the_replacements(meta, tmp_path):
    result, mapping = resolve(meta, tmp_path)
    by_run = check_resolved(meta, result, mapping)
    assert (by_run[NEW_958], by_run[NEW_959]) == ("NA11919", "HG00237")
    assert OLD_530 not in by_run and OLD_653 not in by_run
    for run in (OLD_530, OLD_653):
        check_swap_run(mapping, run, "excluded", "original labels, replacement present")
    for run in (NEW_958, NEW_959):
        check_swap_run(mapping, run, "mapped", "original labels, replacement present")
    assert mapping[OLD_530]["evidence"].startswith(f"superseded by {NEW_958}")
    assert len(result.individuals) == 731 and len(mapping) == 781


# --- (b) original labels, no replacement runs -----------------------------------------------


def test_original_labels_without_replacements_keep_the_runs_as_their_true_individuals(
    meta, tmp_path
):
    result, mapping = resolve(meta, tmp_path, replacements=False)
    by_run = check_resolved(meta, result, mapping)
    assert (by_run[OLD_530], by_run[OLD_653]) == ("NA11919", "HG00237")
    assert NEW_958 not in mapping and NEW_959 not in mapping
    for run in (OLD_530, OLD_653):
        check_swap_run(mapping, run, "mapped", "original labels, no replacement")
    assert len(result.individuals) == 731 and len(mapping) == 779


# --- (c) relabelled on SRA, replacement runs present -----------------------------------------


def relabel_library_names(rows):
    """SRA relabelling library_name too (the fixture keeps the name as submitted)."""
    names = {OLD_653: "HG00237"}
    return [{**r, "library_name": names.get(r["run_accession"], r["library_name"])} for r in rows]


@pytest.mark.parametrize("edit", [None, relabel_library_names], ids=["library-kept", "renamed"])
def test_relabelled_runs_with_replacements_are_excluded_from_their_physical_library(
    meta, tmp_path, edit
):
    _, rows = mage_scale.generate(relabelled=True)
    assert sample_fields(rows, OLD_530) == ("NA11919", "")  # as SRA shows it now
    assert sample_fields(rows, OLD_653) == ("HG00237", "GM11919")
    result, mapping = resolve(meta, tmp_path, edit, relabelled=True)
    by_run = check_resolved(meta, result, mapping)
    assert (by_run[NEW_958], by_run[NEW_959]) == ("NA11919", "HG00237")
    assert OLD_530 not in by_run and OLD_653 not in by_run
    for run in (OLD_530, OLD_653):
        check_swap_run(mapping, run, "excluded", "relabelled, replacement present")
    for run in (NEW_958, NEW_959):
        check_swap_run(mapping, run, "mapped", "relabelled, replacement present")
    assert len(result.individuals) == 731


# --- (d) relabelled on SRA, no replacement runs ----------------------------------------------


@pytest.mark.parametrize("edit", [None, relabel_library_names], ids=["library-kept", "renamed"])
def test_relabelled_runs_without_replacements_keep_their_physical_library(meta, tmp_path, edit):
    result, mapping = resolve(meta, tmp_path, edit, relabelled=True, replacements=False)
    by_run = check_resolved(meta, result, mapping)
    # Not NA11919's own library GM11919, which its sample fields alone would name.
    assert (by_run[OLD_530], mapping[OLD_530]["library"]) == ("NA11919", "HG00237")
    assert (by_run[OLD_653], mapping[OLD_653]["library"]) == ("HG00237", "GM11919")
    for run in (OLD_530, OLD_653):
        check_swap_run(mapping, run, "mapped", "relabelled, no replacement")
    assert len(result.individuals) == 731


# --- (e) a mislabelled run withdrawn, with or without its replacement -------------------------


@pytest.mark.parametrize("relabelled", [False, True], ids=["original", "relabelled"])
@pytest.mark.parametrize("withdrawn", [OLD_530, OLD_653])
def test_withdrawn_run_with_its_replacement(meta, tmp_path, withdrawn, relabelled):
    result, mapping = resolve(meta, tmp_path, relabelled=relabelled, withdrawn=(withdrawn,))
    by_run = check_resolved(meta, result, mapping)
    assert withdrawn not in mapping
    assert (by_run[NEW_958], by_run[NEW_959]) == ("NA11919", "HG00237")
    other = OLD_653 if withdrawn == OLD_530 else OLD_530
    replacement = NEW_958 if withdrawn == OLD_530 else NEW_959
    labels = "relabelled" if relabelled else "original labels"
    check_swap_run(mapping, replacement, "mapped", "withdrawn, replacement present")
    check_swap_run(mapping, other, "excluded", f"{labels}, replacement present")
    assert len(result.individuals) == 731 and len(result.runs) == 779


@pytest.mark.parametrize("withdrawn", [OLD_530, OLD_653])
def test_withdrawn_run_without_its_replacement(meta, tmp_path, withdrawn):
    replacement = NEW_958 if withdrawn == OLD_530 else NEW_959
    other = OLD_653 if withdrawn == OLD_530 else OLD_530

    def drop_replacement(rows):
        return [r for r in rows if r["run_accession"] != replacement]

    result, mapping = resolve(meta, tmp_path, drop_replacement, withdrawn=(withdrawn,))
    # The withdrawn run's library has no reads left; its row says so.
    library = TRUE[withdrawn][1]
    by_run = check_resolved(meta, result, mapping, missing_libraries=[library])
    assert replacement not in mapping and withdrawn not in by_run
    check_swap_run(mapping, withdrawn, "excluded", "withdrawn, no replacement")
    assert mapping[withdrawn]["evidence"].startswith("not in the run table (withdrawn")
    # The other pair as first published, its replacement kept.
    check_swap_run(mapping, other, "excluded", "original labels, replacement present")
    assert by_run[NEW_959 if other == OLD_653 else NEW_958] == TRUE[other][0]
    # SRR19762530 held NA11919's only reads (GM11919 is HG00237's): NA11919 drops out.
    assert len(result.individuals) == (730 if withdrawn == OLD_530 else 731)


# --- labels that match neither state ---------------------------------------------------------


@pytest.mark.parametrize("replacements", [True, False], ids=["replacements", "none"])
def test_labels_matching_neither_state_stop_with_one_line(meta, tmp_path, replacements):
    def third_individual(rows):
        return [
            (
                {**r, "sample_alias": "HG00100", "sample_title": "LCL RNA-seq of HG00100"}
                if r["run_accession"] == OLD_530
                else r
            )
            for r in rows
        ]

    result, mapping = resolve(meta, tmp_path, third_individual, replacements=replacements)
    assert result.problems == [
        (
            f"{OLD_530} names HG00100 (sample_alias=HG00100), but the 2026 swap notice says it "
            "is labelled HG00237 (or, relabelled on SRA, NA11919): decide with an overrides table"
        )
    ]
    assert result.runs == []  # nothing is written
    assert mapping[OLD_530]["status"] == "unmapped"
    state = "replacement present" if replacements else "no replacement"
    assert mapping[OLD_530]["evidence"].endswith(f"swap state: unrecognised labels, {state}")


def test_an_override_settles_labels_matching_neither_state(meta, tmp_path):
    def third_individual(rows):
        return [
            (
                {**r, "sample_alias": "HG00100", "sample_title": ""}
                if r["run_accession"] == OLD_530
                else r
            )
            for r in rows
        ]

    table = run_table(tmp_path, third_individual)
    overrides = tmp_path / "overrides.tsv"
    overrides.write_text(f"run_accession\tlibrary\tindividual\n{OLD_530}\tHG00237\texclude\n")
    fixes = samples_mage.read_overrides(overrides, meta)
    result = samples_mage.mage_samples(meta, read_runs(table), fixes, str(table))
    mapping = {row["run_accession"]: row for row in result.mapping}
    check_resolved(meta, result, mapping)
    assert mapping[OLD_530]["status"] == "excluded"
    assert mapping[NEW_958]["evidence"].endswith("swap state: overridden, replacement present")


# --- run_mapping.tsv as resolve writes it ----------------------------------------------------


def test_run_mapping_tsv_records_the_swap_state(meta, tmp_path):
    metadata, _ = mage_scale.write(tmp_path / "fixture")
    table = run_table(tmp_path, relabelled=True)
    out = tmp_path / "samples"
    out.mkdir()
    names = ("individuals.tsv", "runs.tsv", "run_sources.tsv", "run_mapping.tsv")
    paths = ResolvedPaths(*(str(out / n) for n in names))
    resolve_mage(metadata, table, paths, expected_individuals=731)
    with open(out / "run_mapping.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    stated = {r["run_accession"]: r["status"] for r in rows if "swap state: " in r["evidence"]}
    assert stated == {
        OLD_530: "excluded",
        OLD_653: "excluded",
        # Kept: 958 its individual's only library, 959 one of its individual's replicates.
        NEW_958: "used",
        NEW_959: "replicate",
    }
    assert all(
        r["evidence"].endswith("swap state: relabelled, replacement present")
        for r in rows
        if r["run_accession"] in stated
    )
