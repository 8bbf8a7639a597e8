"""Malformed inputs: each stops Snakemake with one line naming the file, row or field, no
traceback, and before any expensive job (downloads of reads or VCFs, salmon, genotypes) starts.

Every case starts from a tiny valid cohort of its own (tests/input_fixtures.py) in a scratch
working directory and breaks one thing. Config and sheet problems are caught while Snakemake
reads the workflow (a dry-run shows them); problems in file contents are caught by the jobs
before the expensive ones: resolve_samples (the run table) and check_inputs (GTF, VCF headers),
so those cases run the workflow for real, up to the failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from conftest import snakemake
from input_fixtures import (
    INDIVIDUALS,
    RUNS,
    write_cohort,
    write_gtf,
    write_run_table,
    write_sheets,
    write_vcf,
)
from workdirs import scratch_workdir, snakemake_args

EXPENSIVE_RULES = ("download_fastq", "salmon_index", "salmon_quant", "download_vcf", "cohort_genotypes")
# A job that starts prints "rule NAME:" (or "localrule NAME:"); the job-stats table does not.
EXPENSIVE_JOB = re.compile(rf"^(local)?rule ({'|'.join(EXPENSIVE_RULES)}):", re.MULTILINE)
# The one line a user reads: from common.smk's _stop, or from kgpex.common.rulescript in a job.
KGPEX_LINE = re.compile(r"^kgpex(: | error in rule \w+: )")


@dataclass
class Case:
    """``breaks(inputs, overrides)`` breaks the valid cohort; ``line`` must match the error."""

    name: str
    breaks: Callable[[Path, dict], None]
    line: str
    at_run_time: bool = False  # found by a job (resolve_samples, check_inputs), not at parse time


def _set(section: str, **values):
    def breaks(inputs: Path, overrides: dict) -> None:
        if section:
            overrides.setdefault(section, {}).update(values)
        else:
            overrides.update(values)

    return breaks


def _sheets(individuals=None, runs=None):
    def breaks(inputs: Path, overrides: dict) -> None:
        write_sheets(inputs, individuals, runs)

    return breaks


def _raw_sheet(name: str, text: str):
    def breaks(inputs: Path, overrides: dict) -> None:
        (inputs / name).write_text(text)

    return breaks


def _vcf(chrom: str, **kwargs):
    def breaks(inputs: Path, overrides: dict) -> None:
        write_vcf(inputs / f"cohort_{chrom}.vcf.gz", chrom, **kwargs)

    return breaks


def _gtf(**kwargs):
    def breaks(inputs: Path, overrides: dict) -> None:
        write_gtf(inputs / "annotation.gtf.gz", **kwargs)

    return breaks


def _remove(name: str):
    def breaks(inputs: Path, overrides: dict) -> None:
        (inputs / name).unlink()

    return breaks


def _garbage(name: str):
    def breaks(inputs: Path, overrides: dict) -> None:
        (inputs / name).write_bytes(b"\x1f\x8b\x08\x04 not bgzip at all")

    return breaks


def _run_table_md5(md5: str):
    def breaks(inputs: Path, overrides: dict) -> None:
        write_run_table(inputs, md5=md5)

    return breaks


def _run_table_without(run: str):
    def breaks(inputs: Path, overrides: dict) -> None:
        write_run_table(inputs, runs=[r for r in RUNS if r != run])

    return breaks


HEADER_INDIVIDUALS = "individual\tpopulation\tcontinental_group\tsex\n"
HEADER_RUNS = "run_accession\tindividual\tbatch\n"
SHEET = r"\S+/inputs/"  # sheets and files live in the case's inputs/ folder

CASES = [
    # -- sample sheets (parse time) --
    Case(
        "duplicate run ID",
        _raw_sheet(
            "runs.tsv",
            HEADER_RUNS + "SRR0000001\tHG00096\tb1\nSRR0000002\tNA12878\tb1\nSRR0000001\tNA12878\tb2\n",
        ),
        rf"kgpex: {SHEET}runs.tsv line 4: duplicate run_accession 'SRR0000001' \(first on line 2\)$",
    ),
    Case(
        "duplicate individual with conflicting sex",
        _raw_sheet(
            "individuals.tsv",
            HEADER_INDIVIDUALS + "HG00096\tGBR\tEUR\tmale\nNA12878\tCEU\tEUR\tfemale\nHG00096\tGBR\tEUR\tfemale\n",
        ),
        rf"kgpex: {SHEET}individuals.tsv line 4: duplicate individual 'HG00096' \(first on line 2\)$",
    ),
    Case(
        "run ID with shell metacharacters",
        _sheets(runs={"SRR0000001;rm -rf ~": "HG00096", "SRR0000002": "NA12878"}),
        rf"kgpex: {SHEET}runs.tsv line 2 \(run_accession=SRR0000001;rm -rf ~\): field 'run_accession': .* does not match",
    ),
    Case(
        "run ID that is a parent folder",
        _sheets(runs={"..": "HG00096", "SRR0000002": "NA12878"}),
        rf"kgpex: {SHEET}runs.tsv line 2 \(run_accession=\.\.\): field 'run_accession': '\.\.' does not match",
    ),
    Case(
        "sample ID with shell metacharacters",
        _sheets(
            individuals={"HG00096$(id)": ("GBR", "EUR", "male"), **INDIVIDUALS},
            runs={"SRR0000001": "HG00096$(id)", "SRR0000002": "NA12878"},
        ),
        rf"kgpex: {SHEET}individuals.tsv line 2 \(individual=HG00096\$\(id\)\): field 'individual': .* does not match",
    ),
    Case(
        "sample ID not a 1000 Genomes ID",
        _sheets(individuals={"HG0096": ("GBR", "EUR", "male")}, runs={"SRR0000001": "HG0096"}),
        rf"kgpex: {SHEET}individuals.tsv line 2 \(individual=HG0096\): field 'individual': 'HG0096' does not match",
    ),
    Case(
        "sex not male or female",
        _sheets(individuals={"HG00096": ("GBR", "EUR", "M"), "NA12878": ("CEU", "EUR", "female")}),
        rf"kgpex: {SHEET}individuals.tsv line 2 \(individual=HG00096\): field 'sex': 'M' is not one of \['male', 'female'\]$",
    ),
    Case(
        "run of an individual not in the individuals sheet",
        _sheets(runs={**RUNS, "SRR0000003": "NA19238"}),
        rf"kgpex: {SHEET}runs.tsv line 4: run SRR0000003 belongs to individual NA19238, who is not in {SHEET}individuals.tsv$",
    ),
    Case(
        "empty sample sheet",
        _raw_sheet("runs.tsv", HEADER_RUNS),
        rf"kgpex: {SHEET}runs.tsv: sheet has no rows$",
    ),
    Case(
        "sheet row with a missing column",
        _raw_sheet("individuals.tsv", HEADER_INDIVIDUALS + "HG00096\tGBR\tEUR\nNA12878\tCEU\tEUR\tfemale\n"),
        rf"kgpex: {SHEET}individuals.tsv line 2: wrong number of columns$",
    ),
    Case(
        "missing sample sheet",
        _remove("individuals.tsv"),
        rf"kgpex: config: field 'samples.individuals': file not found: {SHEET}individuals.tsv$",
    ),
    # -- config values (parse time) --
    Case(
        "unknown config key",
        _set("", permutation_count=1000),
        r"kgpex: config: field '\(top level\)': Additional properties are not allowed \('permutation_count' was unexpected\)$",
    ),
    Case(
        "misspelt nested config key",
        _set("eqtl", windw=100000),
        r"kgpex: config: field 'eqtl': Additional properties are not allowed \('windw' was unexpected\)$",
    ),
    Case(
        "config value of the wrong type",
        _set("eqtl", window="wide"),
        r"kgpex: config: field 'eqtl.window': 'wide' is not of type 'integer'$",
    ),
    Case(
        "negative threshold",
        _set("expression", min_tpm=-0.1),
        r"kgpex: config: field 'expression.min_tpm': -0.1 is less than the minimum of 0$",
    ),
    Case(
        "window of 0",
        _set("eqtl", window=0),
        r"kgpex: config: field 'eqtl.window': 0 is less than the minimum of 1$",
    ),
    Case(
        "FDR of 1",
        _set("eqtl", fdr=1),
        r"kgpex: config: field 'eqtl.fdr': 1 is greater than or equal to the maximum of 1$",
    ),
    Case(
        "FDR of 0",
        _set("eqtl", fdr=0),
        r"kgpex: config: field 'eqtl.fdr': 0 is less than or equal to the minimum of 0$",
    ),
    Case(
        "MAF above 0.5",
        _set("genotypes", maf=0.6),
        r"kgpex: config: field 'genotypes.maf': 0.6 is greater than the maximum of 0.5$",
    ),
    Case(
        "LD-pruning r2 above 1",
        lambda inputs, o: o["genotypes"].update(pca={"indep_pairwise": [200, 50, 1.5]}),
        r"kgpex: config: field 'genotypes.pca.indep_pairwise.2': 1.5 is greater than the maximum of 1$",
    ),
    Case(
        "cohort name that is not filesystem-safe",
        _set("", cohort="../elsewhere"),
        r"kgpex: config: field 'cohort': '\.\./elsewhere' does not match",
    ),
    Case(
        "release starting with a dash",
        _set("", release="-v1"),
        r"kgpex: config: field 'release': '-v1' does not match",
    ),
    Case(
        "chromosome without the chr prefix in the config",
        lambda inputs, o: o["genotypes"].update(chromosomes=["21", "22"]),
        r"kgpex: config: field 'genotypes.chromosomes.0': '21' does not match",
    ),
    Case(
        "even salmon k-mer",
        _set("reference", kmer=30),
        r"kgpex: config: field 'reference.kmer': 30 is even; salmon needs an odd k$",
    ),
    Case(
        "shell syntax in salmon options",
        _set("salmon", extra_args="--seqBias; touch pwned"),
        r"kgpex: config: field 'salmon.extra_args': character ';' is not allowed",
    ),
    # -- sources named by the config (parse time) --
    Case(
        "URL with an unsupported scheme",
        lambda inputs, o: o["reference"].update(annotation_url="s3://bucket/gencode.gtf.gz"),
        r"kgpex: config: field 'reference.annotation_url': unsupported URL scheme 's3' in s3://bucket/gencode.gtf.gz",
    ),
    Case(
        "URL on a host outside download.allowed_hosts",
        lambda inputs, o: o["reference"].update(annotation_url="https://mirror.example.org/gencode.gtf.gz"),
        r"kgpex: config: field 'reference.annotation_url': https://mirror.example.org/gencode.gtf.gz: host mirror.example.org is not in download.allowed_hosts",
    ),
    Case(
        "missing GTF",
        _remove("annotation.gtf.gz"),
        rf"kgpex: config: field 'reference.annotation_url': file not found: {SHEET}annotation.gtf.gz$",
    ),
    Case(
        "missing VCF",
        _remove("cohort_chr22.vcf.gz"),
        rf"kgpex: config: field 'genotypes.vcf_url \(chr22\)': file not found: {SHEET}cohort_chr22.vcf.gz$",
    ),
    Case(
        "VCF without its index",
        _remove("cohort_chr21.vcf.gz.tbi"),
        rf"kgpex: config: field 'genotypes.vcf_url \(chr21\)': index not found: {SHEET}cohort_chr21.vcf.gz.tbi",
    ),
    Case(
        "missing run table",
        _remove("run_table.tsv"),
        rf"kgpex: config: field 'samples.run_table': file not found: {SHEET}run_table.tsv$",
    ),
    # -- file contents (jobs before the expensive ones) --
    Case(
        "md5 of the wrong length in the run table",
        _run_table_md5("0123456789abcdef"),
        r"kgpex error in rule resolve_samples: .*run_table.tsv line 2: fastq_md5 entry '0123456789abcdef' is not an md5$",
        at_run_time=True,
    ),
    Case(
        "run table URL with an unsupported scheme",
        _raw_sheet(
            "run_table.tsv",
            "run_accession\tfastq_ftp\n"
            "SRR0000001\ts3://bucket/SRR0000001_1.fastq.gz;s3://bucket/SRR0000001_2.fastq.gz\n"
            "SRR0000002\ts3://bucket/SRR0000002_1.fastq.gz;s3://bucket/SRR0000002_2.fastq.gz\n",
        ),
        r"kgpex error in rule check_inputs: results/DEMO/samples/run_sources.tsv line 2: field 'url_1': unsupported URL scheme 's3'",
        at_run_time=True,
    ),
    Case(
        "run missing from the run table",
        _run_table_without("SRR0000002"),
        r"kgpex error in rule resolve_samples: .*run_table.tsv: 1 run\(s\) of .* have no source of reads: SRR0000002 \(not in the run table\)$",
        at_run_time=True,
    ),
    Case(
        "GTF with no gene_name",
        _gtf(named=False),
        rf"kgpex error in rule check_inputs: {SHEET}annotation.gtf.gz line 2: gene ENSG00000000001.1 has no gene_name attribute",
        at_run_time=True,
    ),
    Case(
        "GTF without genes on a genotyped chromosome",
        _gtf(chroms=["chr21"]),
        rf"kgpex error in rule check_inputs: {SHEET}annotation.gtf.gz: no genes on chr22 \(genotypes.chromosomes\)",
        at_run_time=True,
    ),
    Case(
        "GTF and VCF disagree on chromosome naming",
        _gtf(chroms=["21", "22"]),
        rf"kgpex error in rule check_inputs: {SHEET}annotation.gtf.gz: chromosome naming: the GTF names chromosomes without 'chr' \(21, 22\)",
        at_run_time=True,
    ),
    Case(
        "VCF naming its chromosome differently",
        _vcf("chr22", contigs=["NC_000022.11"]),
        rf"kgpex error in rule check_inputs: {SHEET}cohort_chr22.vcf.gz: chromosome naming: neither chr22 nor 22 is among the VCF's contigs \(NC_000022.11\)$",
        at_run_time=True,
    ),
    Case(
        "VCF header of GRCh37 (b37) against genome_build GRCh38",
        _vcf("chr22", contigs=["22"], lengths={"22": 51304566}, reference="hs37d5.fa"),
        rf"kgpex error in rule check_inputs: {SHEET}cohort_chr22.vcf.gz: contig 22 has length 51304566 \(GRCh37's length\), the config's genome_build is GRCh38 \(chr22 50818468\)",
        at_run_time=True,
    ),
    Case(
        "VCF header and records disagree on chromosome naming",
        _vcf("chr22", contigs=["22"], record_chrom="chr22"),
        rf"kgpex error in rule check_inputs: {SHEET}cohort_chr22.vcf.gz: chromosome naming: the header's ##contig is 22, the records' chromosome is chr22",
        at_run_time=True,
    ),
    Case(
        "GTF of GRCh37 against genome_build GRCh38",
        _gtf(description="evidence-based annotation of the human genome (GRCh37), version 19"),
        rf"kgpex error in rule check_inputs: {SHEET}annotation.gtf.gz line 1: the GTF is on GRCh37 \(.*\), the config's genome_build is GRCh38",
        at_run_time=True,
    ),
    Case(
        "VCF without samples",
        _vcf("chr21", samples=[]),
        rf"kgpex error in rule check_inputs: {SHEET}cohort_chr21.vcf.gz: the VCF has no samples",
        at_run_time=True,
    ),
    Case(
        "individual missing from the VCF",
        _vcf("chr22", samples=["HG00096", "HG00097"]),
        rf"kgpex error in rule check_inputs: {SHEET}cohort_chr22.vcf.gz: 1 cohort individual\(s\) not among the VCF's 2 samples: NA12878$",
        at_run_time=True,
    ),
    Case(
        "VCF that is not a VCF",
        _garbage("cohort_chr21.vcf.gz"),
        rf"kgpex error in rule check_inputs: {SHEET}cohort_chr21.vcf.gz: not a readable VCF",
        at_run_time=True,
    ),
]


def _output(proc) -> str:
    return proc.stdout + proc.stderr


def _workdir(tmp_path: Path, case: Case | None = None) -> Path:
    inputs = tmp_path / "inputs"
    overrides = write_cohort(inputs)
    if case is not None:
        case.breaks(inputs, overrides)
    return scratch_workdir(tmp_path / "work", overrides, reuse_demo=False)


def test_the_table_holds_at_least_20_malformed_inputs():
    assert len(CASES) >= 20
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_input_stops_with_one_line_before_expensive_jobs(tmp_path, case):
    work = _workdir(tmp_path, case)
    if case.at_run_time:
        # The whole workflow, for real: only the checks' failure may stop it.
        args = snakemake_args(work, "--cores", "2")
    else:
        args = snakemake_args(work, "--dry-run")
    proc = snakemake(*args, check=False, timeout=300)
    out = _output(proc)
    assert proc.returncode != 0, f"snakemake accepted the input:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    if not case.at_run_time:
        assert "Building DAG of jobs" not in out, out[-3000:]
    started = EXPENSIVE_JOB.findall(out)
    assert not started, f"expensive jobs started: {started}\n{out[-3000:]}"
    lines = [line for line in out.splitlines() if KGPEX_LINE.match(line)]
    assert len(lines) == 1, out[-3000:]
    assert re.match(case.line, lines[0]), (
        f"error line:\n{lines[0]}\ndoes not match:\n{case.line}"
    )


def test_the_valid_cohort_passes_the_checks(tmp_path):
    # The control: every case above breaks exactly one thing of this cohort.
    work = _workdir(tmp_path)
    proc = snakemake(
        *snakemake_args(work, "--cores", "2", "results/DEMO/preflight/inputs_checked.tsv"),
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, _output(proc)[-3000:]
    checked = (work / "results/DEMO/preflight/inputs_checked.tsv").read_text()
    assert "vcf chr22" in checked and "annotation" in checked
