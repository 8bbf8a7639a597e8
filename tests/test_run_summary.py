"""The run summary (kgpex.provenance.run_summary) that provenance.smk's onsuccess hook prints and
writes to logs/{cohort}/run_summary.tsv: jobs and times per stage, and the runs left out."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import CLEAN_ENV, ROOT

from kgpex.common.errors import KgpexError
from kgpex.provenance.run_summary import (
    COLUMNS,
    JobTimes,
    format_table,
    job_times,
    read_exclusions,
    report_run,
    summarize,
)


def fake_job(rule: str, snakefile: str, outputs: list[str]):
    """Shaped like a Snakemake job: job.rule.name, job.rule.snakefile, job.output."""
    return SimpleNamespace(rule=SimpleNamespace(name=rule, snakefile=snakefile), output=outputs)


def record(start, end):
    """Shaped like snakemake.persistence.MetadataRecord."""
    return SimpleNamespace(starttime=start, endtime=end)


def test_job_times_come_from_the_outputs_records_and_unknown_is_none():
    records = {
        "a.sf": record(1000.0, 1010.0),
        "b.json": record(1002.0, 1030.0),
        "old.tsv": record(500.0, 510.0),  # an older run's record (--drop-metadata keeps it)
        "half.tsv": record(1000.0, None),
    }

    def metadata(path):
        if path == "broken.tsv":
            raise ValueError("not JSON")
        return records.get(path)

    job = fake_job("salmon_quant", "/x/workflow/rules/quantify.smk", ["a.sf", "b.json", "none"])
    assert job_times(job, metadata, since=900.0) == JobTimes(
        "salmon_quant", "quantify", 1000.0, 1030.0
    )
    for outputs in (["old.tsv"], ["none"], ["broken.tsv"], ["half.tsv"]):
        times = job_times(fake_job("r", "/x/Snakefile", outputs), metadata, since=900.0)
        assert (times.stage, times.start, times.end, times.seconds) == ("Snakefile", None, None, None)
    # An output older than its start (its time was kept from elsewhere): unknown, not negative.
    assert JobTimes("r", "s", 10.0, 5.0).seconds is None


def test_stages_sum_their_jobs_times_and_count_the_untimed_ones():
    jobs = [
        JobTimes("salmon_quant", "quantify", 100.0, 160.0),
        JobTimes("salmon_quant", "quantify", 110.0, 200.0),
        JobTimes("salmon_quant", "quantify"),  # no times
        JobTimes("download_fastq", "download", 10.0, 50.0),
        JobTimes("download_fastq", "download", 20.0, 90.0),
        JobTimes("odd", "zz_unlisted"),
    ]
    rows = summarize(jobs, stage_order=["samples", "download", "quantify"], started=0.0, finished=300.0)
    got = {row.stage: row for row in rows}
    assert [row.stage for row in rows] == ["download", "quantify", "zz_unlisted", "total"]
    assert (got["download"].jobs, got["download"].untimed) == (2, 0)
    assert got["download"].job_seconds == 40.0 + 70.0
    assert got["download"].wall_seconds == 90.0 - 10.0
    assert (got["quantify"].jobs, got["quantify"].untimed) == (3, 1)
    assert got["quantify"].job_seconds == 60.0 + 90.0
    assert got["quantify"].wall_seconds == 100.0
    assert (got["zz_unlisted"].job_seconds, got["zz_unlisted"].wall_seconds) == (None, None)
    total = got["total"]
    assert (total.jobs, total.untimed, total.job_seconds) == (6, 2, 260.0)
    assert total.wall_seconds == 300.0  # the invocation's, not a sum
    table = format_table(rows).splitlines()
    assert table[0].split() == ["stage", "jobs", "job", "time", "wall", "time", "excluded"]
    assert table[1].split() == ["download", "2", "0:01:50", "0:01:20"]
    assert table[2].split() == ["quantify", "3", "0:02:30", "(+1", "NA)", "0:01:40"]
    assert table[3].split() == ["zz_unlisted", "1", "NA", "NA"]
    assert table[4].split() == ["total", "6", "0:04:20", "(+2", "NA)", "0:05:00"]


def write_tsv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


RUN_STATUS_HEADER = "run_accession\tstatus\tindividual\tlibrary\tdetail"


def test_exclusions_count_statuses_and_group_the_reasons(tmp_path):
    rows = [
        "SRR1\tused\tHG00096\tSRR1\tlibrary SRR1",
        "SRR2\tpooled\tHG00097\tL2\tlibrary L2",
        "SRR3\treplicate not chosen\tHG00097\tSRR3\tlibrary SRR3 has fewer reads than the one kept",
        "SRR4\treplicate not chosen\tHG00098\tSRR4\tlibrary SRR4 has fewer reads than the one kept",
        "SRR5\treplicate not chosen\tHG00099\tSRR5\tlibrary SRR5 has fewer reads than the one kept",
        "SRR6\texcluded\tNA18486\t\tpopulation YRI is not in samples.populations (CEU); runs sheet r.tsv",
        "SRR7\texcluded\tNA18487\t\tpopulation YRI is not in samples.populations (CEU); MAGE metadata",
        "SRR8\texcluded\t\t\tsuperseded by SRR19000009 (2026 MAGE sample swap); state x",
        "SRR10\texcluded\t\t\tsuperseded by ERR3000011 (2026 MAGE sample swap); state y",
        "SRR12\texcluded\t\t\tin the run table but not in runs sheet r.tsv",
        "SRR13\texcluded\t\t\t" + "a very long reason " * 10,
    ]
    found = read_exclusions(write_tsv(tmp_path / "run_status.tsv", RUN_STATUS_HEADER, rows))
    assert found.total == 9
    assert dict(found.counts) == {"replicate not chosen": 3, "excluded": 6}
    assert found.reasons["superseded by * (2026 MAGE sample swap)"] == 2
    assert found.text() == (
        "6 excluded (2 population YRI is not in samples.populations (CEU), "
        "2 superseded by * (2026 MAGE sample swap), 1 a very long reason a very long reason a "
        "very long reason a very long reason a..., 1 other reason); "
        "3 replicate not chosen"
    )


def test_run_mapping_reasons_are_its_evidence_and_bad_files_are_named(tmp_path):
    mapping = write_tsv(
        tmp_path / "run_mapping.tsv",
        "run_accession\tstatus\tindividual\tlibrary\tread_count\tevidence\tlibrary_evidence",
        [
            "SRR1\tused\tI1\tSRR1\t5\tsheet\tonly one",
            "SRR2\treplicate\tI2\tSRR2\t5\tsheet\tone of 2",
            "SRR3\texcluded\t\t\t3\tin the run table but not in runs sheet r.tsv\t",
        ],
    )
    assert read_exclusions(mapping).text() == (
        "1 excluded (1 in the run table but not in runs sheet r.tsv); 1 replicate"
    )
    no_status = write_tsv(tmp_path / "a.tsv", "run_accession\tstate", ["SRR1\tused"])
    with pytest.raises(KgpexError, match=r"a.tsv: no column 'status' in the header$"):
        read_exclusions(no_status)
    empty = write_tsv(tmp_path / "b.tsv", RUN_STATUS_HEADER, ["SRR1\tused\tI\tL\td", "SRR2\t\tI\tL\td"])
    with pytest.raises(KgpexError, match=r"b.tsv line 3: empty status$"):
        read_exclusions(empty)


def test_report_run_writes_the_table_and_prints_it(tmp_path):
    status = write_tsv(
        tmp_path / "run_status.tsv",
        RUN_STATUS_HEADER,
        ["SRR1\tused\tI1\tSRR1\tx", "SRR2\treplicate not chosen\tI1\tSRR2\ty"],
    )
    dest = tmp_path / "logs" / "T" / "run_summary.tsv"
    out = io.StringIO()
    jobs = [JobTimes("select_libraries", "expression", 5.0, 7.5), JobTimes("all_done", "samples")]
    report_run(
        jobs,
        dest,
        # The first that exists is read.
        exclusion_sources=[("expression", tmp_path / "missing.tsv"), ("expression", status)],
        stage_order=["samples", "expression"],
        started=0.0,
        finished=10.0,
        stream=out,
    )
    assert dest.read_text().splitlines() == [
        "\t".join(COLUMNS),
        "samples\t1\t1\tNA\tNA\t0\t",
        "expression\t1\t0\t2.5\t2.5\t1\t1 replicate not chosen",
        "total\t2\t1\t2.5\t10.0\t1\t",
    ]
    printed = out.getvalue().splitlines()
    assert printed[0].startswith("kgpex run summary: ") and str(dest) in printed[0]
    assert printed[2].split() == ["samples", "1", "NA", "NA"]
    assert printed[3].split() == ["expression", "1", "2.5", "s", "2.5", "s", "1", "replicate", "not", "chosen"]
    assert not list(dest.parent.glob(".*partial*"))
    # A stage listed for its exclusions alone: no jobs, no times.
    out = io.StringIO()
    report_run([], dest, exclusion_sources=[("expression", status)], stream=out)
    assert out.getvalue().splitlines()[2].split()[:4] == ["expression", "0", "-", "-"]
    assert dest.read_text().splitlines()[1] == "expression\t0\t0\tNA\tNA\t1\t1 replicate not chosen"

    # A bad status file: an error, and no summary of an older run left behind.
    write_tsv(status, "run_accession\tdetail", ["SRR1\tx"])
    with pytest.raises(KgpexError, match="no column 'status'"):
        report_run(jobs, dest, exclusion_sources=[("expression", status)], stream=out)
    assert not dest.exists()


# -- the onsuccess glue, run by Snakemake ------------------------------------------------------

# The names provenance.smk reads from the files included before it (common.smk, paths.smk and
# the stages), stubbed; a NameError here means provenance.smk reads a new one.
SCRATCH_SNAKEFILE = """\
import sys
sys.path.insert(0, {src!r})
from kgpex.common.errors import KgpexError


def _stop(err):
    sys.exit(f"kgpex: {{err}}")


def env(tool):
    return f"{{tool}}.yaml"


def container(tool):
    return f"docker://{{tool}}"


COHORT = "T"
RESULTS = f"results/{{COHORT}}"
LOGS = f"logs/{{COHORT}}"
RUN_MAPPING = f"{{RESULTS}}/samples/run_mapping.tsv"
RESOLVED_SOURCES = f"{{RESULTS}}/samples/run_sources.tsv"
RUN_TABLE = f"{{RESULTS}}/samples/run_table.tsv"
INDIVIDUALS_ONLY = False
by_attempt = lambda base: base
expression_outputs = genotype_outputs = eqtl_outputs = effect_size_outputs = lambda: []


include: "rules/toy_stage.smk"
include: {provenance!r}


# The guard checks these instead of provenance files the record_provenance script would write.
final_outputs = lambda: [f"{{RESULTS}}/toy/table.tsv"]


rule all:
    input:
        final_outputs(),
"""

TOY_STAGE = """\
rule make_mapping:
    output:
        RUN_MAPPING,
    shell:
        "printf 'run_accession\\\\tstatus\\\\tevidence\\\\nSRR1\\\\tused\\\\tsheet\\\\n"
        "SRR2\\\\texcluded\\\\tin the run table but not in runs sheet r.tsv\\\\n' > {output}"


rule make_table:
    input:
        RUN_MAPPING,
    output:
        f"{RESULTS}/toy/table.tsv",
    shell:
        "sleep 0.3; cp {input} {output}"
"""


def test_the_real_onsuccess_hook_prints_and_writes_the_summary(tmp_path):
    """provenance.smk itself, included by a two-rule Snakefile (its other names stubbed), run by
    Snakemake: the hook's job collection, metadata times and exclusion lookup."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules/toy_stage.smk").write_text(TOY_STAGE)
    (tmp_path / "Snakefile").write_text(
        SCRATCH_SNAKEFILE.format(
            src=str(ROOT / "src"), provenance=str(ROOT / "workflow/rules/provenance.smk")
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--quiet", "--nolock"],
        cwd=tmp_path,
        env=CLEAN_ENV,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = (tmp_path / "logs/T/run_summary.tsv").read_text().splitlines()
    assert summary[0] == "\t".join(COLUMNS)
    stage, jobs, untimed, job_seconds, wall, excluded_runs, excluded = summary[1].split("\t")
    # Two jobs of toy_stage.smk (rule all, without outputs, is not counted), timed by Snakemake.
    assert (stage, jobs, untimed, excluded_runs) == ("toy_stage", "2", "0", "1")
    assert 0.3 <= float(job_seconds) < 60 and 0.3 <= float(wall) < 60
    assert excluded == "1 excluded (1 in the run table but not in runs sheet r.tsv)"
    assert summary[2].split("\t")[:3] == ["total", "2", "0"]
    assert "kgpex run summary: " in proc.stderr
    assert "toy_stage     2" in proc.stderr
