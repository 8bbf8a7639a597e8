"""Runs, libraries and individuals (issue 12 §2; kgpex.samples.libraries): lanes of one library
are quantified together, replicates follow samples.replicates, individuals outside the
cohort's populations are excluded with a reason, and every run of the run table has a status."""

from __future__ import annotations

import pytest

from kgpex.common.errors import KgpexError
from kgpex.samples import resolve as samples_resolve
from kgpex.samples.libraries import (
    EXCLUDED,
    NOT_CHOSEN,
    POOLED,
    REPLICATE,
    USED,
    assign_libraries,
    check_layouts,
    final_statuses,
)
from kgpex.samples.metadata import CohortSamples
from kgpex.samples.sheets import read_tsv

M = "0123456789abcdef0123456789abcdef"
HEADER = (
    "run_accession\texperiment_accession\tsample_alias\tlibrary_name\tlibrary_layout\tread_count"
    "\tfastq_ftp\tfastq_md5\tfastq_bytes\n"
)


def table_row(run, experiment, alias, library, layout="PAIRED", reads=100):
    base = f"ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/{run}/{run}"
    if layout == "PAIRED":
        ftp, md5, size = f"{base}_1.fastq.gz;{base}_2.fastq.gz", f"{M};{M}", "1;1"
    else:
        ftp, md5, size = f"{base}.fastq.gz", M, "1"
    return f"{run}\t{experiment}\t{alias}\t{library}\t{layout}\t{reads}\t{ftp}\t{md5}\t{size}\n"


def outputs(tmp_path):
    names = ("individuals.tsv", "runs.tsv", "run_sources.tsv", "run_mapping.tsv")
    return samples_resolve.ResolvedPaths(*(str(tmp_path / n) for n in names))


# --- Montgomery 2010's shape -------------------------------------------------------------------

CEU = [f"NA{12000 + i:05d}" for i in range(59)]


@pytest.fixture
def montgomery(tmp_path):
    """E-MTAB-197's shape (SOURCES.md): 59 CEU with one run each, NA12892 (CEU) with 7 runs
    of one experiment (lanes), NA19238 (YRI) with 7 runs; 73 runs of 61 IDs."""
    panel = ["FamilyID SampleID FatherID MotherID Sex Population Superpopulation"]
    panel += [f"{i} {i} 0 0 2 CEU EUR" for i in [*CEU, "NA12892"]]
    panel += ["NA19238 NA19238 0 0 2 YRI AFR"]
    (tmp_path / "panel.txt").write_text("\n".join(panel) + "\n")
    sdrf = ["Source Name\tComment[ENA_RUN]"]
    rows = []
    n = 0
    for ind in CEU:
        n += 1
        run = f"ERR{n:06d}"
        sdrf.append(f"{ind}\t{run}")
        rows.append(table_row(run, f"ERX{n:06d}", ind, f"{ind}_lib"))
    for ind, experiment in (("NA12892", "ERX100001"), ("NA19238", "ERX100002")):
        for _ in range(7):
            n += 1
            run = f"ERR{n:06d}"
            sdrf.append(f"{ind}\t{run}")
            rows.append(table_row(run, experiment, ind, f"{ind}_lib"))
    (tmp_path / "sdrf.txt").write_text("\n".join(sdrf) + "\n")
    (tmp_path / "run_table.tsv").write_text(HEADER + "".join(rows))
    return tmp_path


def test_montgomery_keeps_60_ceu_excludes_the_yri_individual_and_pools_lanes(montgomery):
    out = outputs(montgomery)
    sheets = samples_resolve.resolve(
        "sdrf",
        {k: str(montgomery / f) for k, f in
         (("sdrf", "sdrf.txt"), ("run_table", "run_table.tsv"), ("panel", "panel.txt"))},
        out,
        {"individual_column": "Source Name", "batch_column": "", "expected_individuals": 60,
         "populations": ["CEU"], "replicates": "most_reads"},
        "1",
        "https",
    )
    assert len(sheets.individuals) == 60 and "NA19238" not in sheets.individuals
    mapping = {row["run_accession"]: row for row in read_tsv(out.mapping)}
    assert len(mapping) == 73  # every run of the run table
    statuses = [row["status"] for row in mapping.values()]
    assert statuses.count(USED) == 59 and statuses.count(POOLED) == 7 and statuses.count(EXCLUDED) == 7
    yri = [row for row in mapping.values() if row["individual"] == "NA19238"]
    assert all(r["status"] == EXCLUDED for r in yri)
    assert all("population YRI is not in samples.populations (CEU)" in r["evidence"] for r in yri)
    lanes = [row for row in mapping.values() if row["individual"] == "NA12892"]
    assert {r["library"] for r in lanes} == {"ERX100001"}
    assert all("experiment_accession ERX100001" in r["library_evidence"] for r in lanes)
    runs = read_tsv(out.runs)
    assert len(runs) == 66 and len({r["library"] for r in runs}) == 60


def test_without_the_population_filter_the_yri_individual_fails_expected_individuals(montgomery):
    with pytest.raises(KgpexError, match="61 individuals, but samples.expected_individuals is 60"):
        samples_resolve.resolve_from_sdrf(
            montgomery / "sdrf.txt", montgomery / "run_table.tsv", montgomery / "panel.txt",
            outputs(montgomery), expected_individuals=60,
        )


# --- Pickrell 2010's shape: lanes at two centres, pooled ----------------------------------------


@pytest.fixture
def pickrell(tmp_path):
    """Two individuals: NA18486 with two lanes of NA18486_argonne and one of NA18486_yale,
    NA19140 with one run; single-end, library_name as SRA shows Pickrell's."""
    (tmp_path / "panel.txt").write_text(
        "sample pop super_pop gender\nNA18486 YRI AFR male\nNA19140 YRI AFR female\n"
    )
    rows = [
        table_row("SRR031919", "SRX010001", "NA18486", "NA18486_argonne", "SINGLE", 300),
        table_row("SRR031920", "SRX010001", "NA18486", "NA18486_argonne", "SINGLE", 200),
        table_row("SRR032001", "SRX010002", "NA18486", "NA18486_yale", "SINGLE", 400),
        table_row("SRR032002", "SRX010003", "NA19140", "NA19140_yale", "SINGLE", 100),
    ]
    (tmp_path / "run_table.tsv").write_text(HEADER + "".join(rows))
    return tmp_path


def resolve_pickrell(path, replicates):
    out = outputs(path)
    samples_resolve.resolve_from_ena(
        path / "run_table.tsv", path / "panel.txt", out, replicates=replicates
    )
    return {r["run_accession"]: r for r in read_tsv(out.mapping)}, read_tsv(out.runs)


def test_pool_quantifies_every_run_of_an_individual_as_one_library(pickrell):
    mapping, runs = resolve_pickrell(pickrell, "pool")
    assert {r["run_accession"]: r["library"] for r in runs} == {
        "SRR031919": "NA18486", "SRR031920": "NA18486", "SRR032001": "NA18486", "SRR032002": "SRR032002",
    }
    assert [mapping[r]["status"] for r in sorted(mapping)] == [POOLED, POOLED, POOLED, USED]
    assert "2 libraries: SRX010001, SRR032001" in mapping["SRR031919"]["library_evidence"]


def test_most_reads_pools_lanes_and_leaves_the_replicate_choice_to_select_libraries(pickrell):
    mapping, runs = resolve_pickrell(pickrell, "most_reads")
    assert {r["run_accession"]: r["library"] for r in runs} == {
        "SRR031919": "SRX010001", "SRR031920": "SRX010001", "SRR032001": "SRR032001",
        "SRR032002": "SRR032002",
    }
    assert [mapping[r]["status"] for r in sorted(mapping)] == [REPLICATE, REPLICATE, REPLICATE, USED]
    # select_libraries keeps the yale library (salmon counted more reads): the argonne lanes are
    # the replicate not chosen, both of them.
    final = {r["run_accession"]: r["status"] for r in final_statuses(list(mapping.values()),
                                                                      {"SRR032001", "SRR032002"})}
    assert final == {"SRR031919": NOT_CHOSEN, "SRR031920": NOT_CHOSEN, "SRR032001": USED,
                     "SRR032002": USED}
    final = {r["run_accession"]: r["status"] for r in final_statuses(list(mapping.values()),
                                                                      {"SRX010001", "SRR032002"})}
    assert final == {"SRR031919": POOLED, "SRR031920": POOLED, "SRR032001": NOT_CHOSEN,
                     "SRR032002": USED}


def test_lanes_linked_only_through_library_name_pool_under_a_shared_name(tmp_path):
    result = CohortSamples("t")
    result.individuals = {"NA1": {"individual": "NA00001", "population": "YRI"}}
    result.runs = [{"run_accession": r, "individual": "NA1", "batch": "1"} for r in ("R1", "R2", "R3")]
    result.mapping = [{"run_accession": r, "status": "mapped", "individual": "NA1", "library": "",
                       "read_count": "", "evidence": "e"} for r in ("R1", "R2", "R3")]
    keys = {"R1": {"experiment_accession": "X1", "library_name": "L"},
            "R2": {"experiment_accession": "X2", "library_name": "L"},
            "R3": {"experiment_accession": "X2", "library_name": ""}}
    assign_libraries(result, keys)
    # R1-R2 share library_name, R2-R3 share an experiment: one library, with no single shared
    # identity, named after its first run.
    assert {r["library"] for r in result.runs} == {"R1_lanes"}
    assert all(row["status"] == POOLED for row in result.mapping)


def test_runs_of_different_layouts_are_not_quantified_together():
    runs = [{"run_accession": "R1", "library": "L"}, {"run_accession": "R2", "library": "L"}]
    with pytest.raises(KgpexError, match="library L: run R1 is paired but run R2 is single"):
        check_layouts(runs, {"R1": "paired", "R2": "single"})
    check_layouts(runs, {"R1": "single", "R2": "single"})


def test_unknown_replicate_rule_and_a_lost_only_library_stop():
    with pytest.raises(KgpexError, match="samples.replicates: 'all'"):
        assign_libraries(CohortSamples("t"), {}, replicates="all")
    rows = [{"run_accession": "R1", "status": USED, "individual": "NA1", "library": "R1", "evidence": ""}]
    with pytest.raises(KgpexError, match="only one but was not kept"):
        final_statuses(rows, set())


def test_runs_of_the_run_table_outside_the_runs_sheet_are_excluded_saying_so(tmp_path):
    (tmp_path / "ind.tsv").write_text("individual\tpopulation\tcontinental_group\tsex\nHG00096\tGBR\tEUR\tmale\n")
    (tmp_path / "runs.tsv").write_text("run_accession\tindividual\tbatch\nERR1\tHG00096\t1\n")
    (tmp_path / "table.tsv").write_text(
        HEADER + table_row("ERR1", "", "HG00096", "a") + table_row("ERR2", "", "HG00097", "b")
    )
    out = outputs(tmp_path)
    samples_resolve.resolve_from_sheets(tmp_path / "ind.tsv", tmp_path / "runs.tsv", tmp_path / "table.tsv", out)
    mapping = {r["run_accession"]: r for r in read_tsv(out.mapping)}
    assert mapping["ERR1"]["status"] == USED
    assert mapping["ERR2"]["status"] == EXCLUDED
    assert mapping["ERR2"]["evidence"] == f"in the run table but not in {tmp_path / 'runs.tsv'}"


def test_a_named_library_outranks_a_shared_library_name():
    """MAGE's triplicates: three sequencing IDs whose runs share a bare-ID library_name stay
    three libraries (replicates), not lanes of one."""
    result = CohortSamples("t")
    result.individuals = {"HG00237": {"individual": "HG00237", "population": "FIN"}}
    ids = {"R1": "HG00237", "R2": "HG00237-7-1", "R3": "HG00237-7-2"}
    result.runs = [{"run_accession": r, "individual": "HG00237", "batch": "7"} for r in ids]
    result.mapping = [{"run_accession": r, "status": "mapped", "individual": "HG00237", "library": lib,
                       "read_count": "", "evidence": "e"} for r, lib in ids.items()]
    assign_libraries(result, {r: {"library_name": "HG00237"} for r in ids})
    assert {r["run_accession"]: r["library"] for r in result.runs} == ids
    assert all(row["status"] == REPLICATE for row in result.mapping)
