"""Every preset dry-runs offline, before its runs are resolved; resolution runs offline on
fixtures in each method's real shape (MAGE at full scale: 779 libraries of 731 individuals);
and the MAGE preset then plans the whole cohort. Each Snakemake run works in its own scratch
directory (tests/workdirs.py), never in the repository's results/."""

from __future__ import annotations

import csv
import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mage_scale
import pytest
import yaml
from conftest import CLEAN_ENV, ROOT
from workdirs import scratch_workdir, snakemake_args

PRESETS = {
    # preset: (cohort, the metadata files its method fetches)
    "mage": ("MAGE", ["mage_metadata"]),
    "geuvadis": ("GEUVADIS", ["sdrf", "panel"]),
    "montgomery2010": ("MONTGOMERY2010", ["sdrf", "panel"]),
    "pickrell2010": ("PICKRELL2010", ["panel"]),
}


def run_snakemake(args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        check=False,  # a failure is reported below, with Snakemake's output
        cwd=ROOT,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-6000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's job stats table: rule -> count (the first table printed)."""
    counts: dict[str, int] = {}
    for line in output.splitlines():
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if m and m.group(1) not in counts:
            counts[m.group(1)] = int(m.group(2))
        if m and m.group(1) == "total":
            break
    return counts


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_dry_runs_offline_before_resolution(tmp_path, preset):
    cohort, metadata = PRESETS[preset]
    workdir = scratch_workdir(tmp_path, reuse_demo=False)
    configfile = str(ROOT / f"config/presets/{preset}.yaml")
    proc = run_snakemake(snakemake_args(workdir, "-n", "--configfile", configfile))
    out = proc.stdout + proc.stderr
    counts = job_counts(out)
    assert counts["fetch_run_table"] == 1 and counts["resolve_samples"] == 1, out[-3000:]
    assert counts["fetch_sample_metadata"] == len(metadata), out[-3000:]
    for name in metadata:
        assert f"results/{cohort}/samples/{name}.txt" in out
    # Per-run jobs wait for the checkpoint; the rest of the cohort is planned already.
    assert "download_fastq" not in counts and counts["download_vcf"] == 23
    assert not (workdir / "results").exists()


# --- an array cohort: individuals alone, no runs ---------------------------------------------

STRANGER_INDIVIDUALS = (
    "individual\tpopulation\tcontinental_group\tsex\n"
    "NA12878\tCEU\tEUR\tfemale\nNA19238\tYRI\tAFR\tfemale\nHG00096\tGBR\tEUR\tmale\n"
)
# Jobs that only a cohort with sequencing runs has.
RUN_JOBS = {"fetch_run_table", "fetch_sample_metadata", "download_fastq", "salmon_index",
            "salmon_quant", "select_libraries", "aggregate_genes", "normalize_expression"}


# The files the stranger2012 preset's header says to build, in its order of config keys.
STRANGER_FILES = {
    "samples.individuals": "individuals.tsv",
    "expression.matrix.url": "expression_log2.tsv.gz",
    "expression.matrix.annotation_url": "probe_annotation.tsv",
    "expression.matrix.arrays_url": "arrays.tsv",
}


def stranger_inputs(workdir: Path) -> None:
    """Small stand-ins for the files the stranger2012 preset's header says to build, at the
    preset's own paths, so that the preset runs as shipped: two replicate arrays per cell line,
    the matrix's columns named by array, and the arrays table naming each one's individual."""
    folder = workdir / "config/presets/stranger2012"
    folder.mkdir(parents=True)
    (folder / "individuals.tsv").write_text(STRANGER_INDIVIDUALS)
    with gzip.open(folder / "expression_log2.tsv.gz", "wt") as fh:
        fh.write(
            "probe\tHYB_1a\tHYB_1b\tHYB_2a\tHYB_2b\tHYB_3a\tHYB_3b\n"
            "ILMN_1\t7.5\t7.75\t8.25\t8.0\t6.0\t6.5\nILMN_2\t9.0\t9.25\t8.0\t8.5\t8.5\t8.25\n"
        )
    (folder / "arrays.tsv").write_text(
        "array\tindividual\nHYB_1a\tHG00096\nHYB_1b\tHG00096\nHYB_2a\tNA12878\nHYB_2b\tNA12878\n"
        "HYB_3a\tNA19238\nHYB_3b\tNA19238\n"
    )
    (folder / "probe_annotation.tsv").write_text(
        "gene_id\tchrom\ttss\tstrand\tgene_name\nILMN_1\tchr1\t1000\t+\tG1\nILMN_2\tchrX\t5000\t-\tG2\n"
    )


def fresh_clone(dest: Path) -> Path:
    """The working tree's files that git does not ignore (what a clone of it holds, uncommitted
    work included) copied to ``dest``: no generated demo, no results, no hand-built inputs."""
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def test_stranger2012_in_a_fresh_clone_stops_with_one_line_naming_each_missing_file(tmp_path):
    clone = fresh_clone(tmp_path / "clone")
    assert not (clone / "config/presets/stranger2012").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/presets/stranger2012.yaml"],
        cwd=clone, env=CLEAN_ENV, capture_output=True, text=True, timeout=600, check=False,
    )
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if line.startswith("kgpex: ")]
    listed = ", ".join(
        f"config/presets/stranger2012/{name} (field '{key}')" for key, name in STRANGER_FILES.items()
    )
    assert proc.returncode == 1 and errors == [
        (
            f"kgpex: config: 4 files not found; provide {listed} "
            "(how to make them: see the header of config/presets/stranger2012.yaml)"
        )
    ], out[-3000:]
    assert "Traceback" not in out and not (clone / "results").exists()
    # The header the line points to names every file at the same path.
    header = (clone / "config/presets/stranger2012.yaml").read_text()
    for name in STRANGER_FILES.values():
        assert f"config/presets/stranger2012/{name}:" in header, name
    # With the files there, the same clone plans the eQTL outputs.
    stranger_inputs(clone)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/presets/stranger2012.yaml"],
        cwd=clone, env=CLEAN_ENV, capture_output=True, text=True, timeout=600, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = job_counts(out)
    assert counts["normalize_array_expression"] == 1 and counts["map_cis_permutations"] == 23, counts
    assert "inverse_normal_TMM.filtered.TSS.STRANGER2012.v1.bed.gz" in out


def test_stranger2012_plans_its_eqtl_outputs_from_individuals_alone(tmp_path):
    workdir = scratch_workdir(tmp_path, reuse_demo=False)
    stranger_inputs(workdir)
    preset = str(ROOT / "config/presets/stranger2012.yaml")
    samples = "results/STRANGER2012/samples"
    eqtl_outputs = [
        (
            "results/STRANGER2012/QTL_results/eQTL_results/expression_quants/"
            "inverse_normal_TMM.filtered.TSS.STRANGER2012.v1.bed.gz"
        ),
        "results/STRANGER2012/QTL_results/eQTL_results/expression_quants/eQTL_covariates.tab.gz",
    ]
    for resolved in (False, True):
        proc = run_snakemake(snakemake_args(workdir, "-n", "--configfile", preset))
        out = proc.stdout + proc.stderr
        counts = job_counts(out)
        assert not RUN_JOBS & set(counts), out[-3000:]
        # The whole cohort is planned, to the eQTL tables, before and after resolution.
        assert counts["import_expression_matrix"] == counts["normalize_array_expression"] == 1
        assert counts["map_cis_permutations"] == counts["map_cis_nominal"] == 23, counts
        assert counts["mage_eqtl_summary"] == counts["check_inputs"] == 1, counts
        assert counts.get("resolve_samples", 0) == (0 if resolved else 1), counts
        for path in eqtl_outputs:
            assert path in out, path
        if not resolved:
            # resolve_samples reads the individuals sheet and nothing else (no run table).
            job = out[out.index("checkpoint resolve_samples:"):].split("\n\n")[0]
            assert "input: config/presets/stranger2012/individuals.tsv\n" in job, job
            assert "run_table" not in out
            target = [f"{samples}/{name}.tsv" for name in ("individuals", "runs", "run_sources")]
            run_snakemake(snakemake_args(workdir, *target, "--cores", "1", "--configfile", preset))
    individuals = read_tsv(workdir / samples / "individuals.tsv")
    assert [row["individual"] for row in individuals] == ["HG00096", "NA12878", "NA19238"]
    for name in ("runs", "run_sources", "run_mapping"):
        text = (workdir / samples / f"{name}.tsv").read_text()
        assert text.count("\n") == 1 and text.startswith("run_accession\t"), name
    assert not (workdir / samples / "run_table.tsv").exists()


# --- resolution offline, through the rules ---------------------------------------------------

PANEL = """FamilyID SampleID FatherID MotherID Sex Population Superpopulation
HG00096 HG00096 0 0 1 GBR EUR
NA20503 NA20503 0 0 2 TSI EUR
NA18486 NA18486 0 0 1 YRI AFR
"""
M = "0123456789abcdef0123456789abcdef"
ENA_HEADER = "run_accession\tsample_title\tlibrary_layout\tread_count\tfastq_ftp\tfastq_md5\tfastq_bytes\n"


def overlay(workdir: Path, samples: dict) -> Path:
    path = workdir / "overlay.yaml"
    path.write_text(yaml.safe_dump({"samples": samples}))
    return path


def test_geuvadis_resolves_from_its_sdrf_through_the_rules(tmp_path):
    workdir = scratch_workdir(tmp_path, reuse_demo=False)
    (workdir / "panel.txt").write_text(PANEL)
    sdrf = ["Source Name\tPerformer\tComment[ENA_RUN]\tComment[FASTQ_URI]\tCharacteristics[population]"]
    table = [ENA_HEADER.rstrip("\n")]
    for ind, run, pop in (("HG00096", "ERR188021", "GBR"), ("NA20503", "ERR188297", "TSI")):
        for mate in (1, 2):
            sdrf.append(f"{ind}\tUNIGE\t{run}\tftp://x/{run}_{mate}.fastq.gz\t{pop}")
        ftp = f"ftp.sra.ebi.ac.uk/vol1/fastq/ERR188/{run}/{run}"
        table.append(
            f"{run}\t{ind}\tPAIRED\t5\t{ftp}_1.fastq.gz;{ftp}_2.fastq.gz\t{M};{M}\t1;1"
        )
    (workdir / "sdrf.txt").write_text("\n".join(sdrf) + "\n")
    (workdir / "run_table.tsv").write_text("\n".join(table) + "\n")
    extra = overlay(
        workdir,
        {
            "sdrf": "sdrf.txt",
            "panel": "panel.txt",
            "run_table": "run_table.tsv",
            "expected_individuals": 2,
        },
    )
    preset = str(ROOT / "config/presets/geuvadis.yaml")
    resolved = [f"results/GEUVADIS/samples/{n}.tsv" for n in ("individuals", "runs", "run_sources")]
    # Targets before --configfile, which takes every path that follows it.
    run_snakemake(snakemake_args(workdir, *resolved, "--cores", "1", "--configfile", preset, str(extra)))
    runs = read_tsv(workdir / "results/GEUVADIS/samples/runs.tsv")
    assert [(r["run_accession"], r["individual"], r["batch"]) for r in runs] == [
        ("ERR188021", "HG00096", "UNIGE"),
        ("ERR188297", "NA20503", "UNIGE"),
    ]
    individuals = read_tsv(workdir / "results/GEUVADIS/samples/individuals.tsv")
    assert [i["sex"] for i in individuals] == ["male", "female"]  # from the panel
    query = yaml.safe_load((workdir / "results/GEUVADIS/samples/run_table.query.json").read_text())
    assert query["runs"] == 2 and query["source"].endswith("/run_table.tsv")


def test_pickrell_pools_every_lane_of_an_individual_and_plans_one_salmon_with_r(tmp_path):
    """Pickrell's shape: an individual's lanes at two centres (library_name NA18486_argonne for
    two lanes, NA18486_yale for one), single-end. The preset pools them (samples.replicates:
    pool): one salmon -r over all three FASTQs, and every run's status is pooled."""
    workdir = scratch_workdir(tmp_path, reuse_demo=False)
    (workdir / "panel.txt").write_text(PANEL)
    header = ENA_HEADER.replace("sample_title\t", "sample_title\tlibrary_name\t")
    rows = []
    for run, library in (("SRR031919", "NA18486_argonne"), ("SRR031920", "NA18486_argonne"),
                         ("SRR032001", "NA18486_yale")):
        ftp = f"ftp.sra.ebi.ac.uk/vol1/fastq/SRR031/{run}/{run}.fastq.gz"
        rows.append(f"{run}\t{library}\t{library}\tSINGLE\t5\t{ftp}\t{M}\t1\n")
    (workdir / "run_table.tsv").write_text(header + "".join(rows))
    extra = overlay(
        workdir, {"panel": "panel.txt", "run_table": "run_table.tsv", "expected_individuals": 1}
    )
    preset = str(ROOT / "config/presets/pickrell2010.yaml")
    target = "results/PICKRELL2010/samples/runs.tsv"
    proc = run_snakemake(
        snakemake_args(workdir, target, "--cores", "1", "--configfile", preset, str(extra)),
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    sources = read_tsv(workdir / "results/PICKRELL2010/samples/run_sources.tsv")
    assert [(s["run_accession"], s["layout"], s["url_2"]) for s in sources] == [
        ("SRR031919", "single", ""), ("SRR031920", "single", ""), ("SRR032001", "single", "")
    ]
    assert sources[0]["url_1"] == "https://ftp.sra.ebi.ac.uk/vol1/fastq/SRR031/SRR031919/SRR031919.fastq.gz"
    runs = read_tsv(workdir / "results/PICKRELL2010/samples/runs.tsv")
    assert {r["library"] for r in runs} == {"NA18486"}
    mapping = read_tsv(workdir / "results/PICKRELL2010/samples/run_mapping.tsv")
    assert [(m["run_accession"], m["status"], m["library"]) for m in mapping] == [
        ("SRR031919", "pooled", "NA18486"), ("SRR031920", "pooled", "NA18486"),
        ("SRR032001", "pooled", "NA18486"),
    ]
    # After resolution the plan downloads each FASTQ and quantifies them together with salmon -r.
    quant = "results/PICKRELL2010/salmon/NA18486/quant.sf"
    proc = run_snakemake(
        snakemake_args(workdir, quant, "-n", "-p", "--cores", "1", "--configfile", preset, str(extra)),
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.count("rule download_fastq_single:") == 3
    [shell] = [line for line in out.splitlines() if "salmon quant -i" in line]
    single = "results/PICKRELL2010/download/single"
    assert (
        f"-l A -r {single}/SRR031919.fastq.gz {single}/SRR031920.fastq.gz {single}/SRR032001.fastq.gz "
        in shell
    )


@pytest.fixture(scope="module")
def mage_at_scale(tmp_path_factory):
    """The MAGE preset's cohort resolved offline from the full-scale fixture, and its inputs
    checked (check_inputs), after which the whole DAG is planned."""
    workdir = tmp_path_factory.mktemp("mage_scale")
    extra = mage_scale.prepare(workdir)
    targets = [*mage_scale.RESOLVED, *mage_scale.CHECKED]
    run_snakemake(mage_scale.snakemake_args(workdir, extra, "--cores", "1", *targets))
    return workdir, extra


def test_mage_resolves_at_full_scale_with_the_swap_applied(mage_at_scale):
    workdir, _ = mage_at_scale
    samples = workdir / "results/MAGE/samples"
    runs = read_tsv(samples / "runs.tsv")
    assert len(runs) == 779 and len(read_tsv(samples / "individuals.tsv")) == 731
    by_run = {r["run_accession"]: r["individual"] for r in runs}
    assert (by_run["SRR37907958"], by_run["SRR37907959"]) == ("NA11919", "HG00237")
    assert "SRR19762530" not in by_run and "SRR19762653" not in by_run
    assert by_run["SRR19762247"] == "HG00237" and by_run["SRR19762765"] == "HG00100"
    per_individual: dict[str, int] = {}
    for individual in by_run.values():
        per_individual[individual] = per_individual.get(individual, 0) + 1
    assert sorted(per_individual.values()).count(3) == 24
    mapping = read_tsv(samples / "run_mapping.tsv")
    assert len(mapping) == 781 and sum(m["status"] == "excluded" for m in mapping) == 2
    assert len(read_tsv(samples / "run_sources.tsv")) == 779


def test_mage_dry_run_at_full_scale_plans_every_run_and_chromosome(mage_at_scale):
    workdir, extra = mage_at_scale
    checked = read_tsv(workdir / mage_scale.CHECKED[0])
    assert sum(row["input"].startswith("vcf ") for row in checked) == 23
    proc = run_snakemake(mage_scale.snakemake_args(workdir, extra, "-n", "--quiet", "rules"))
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["download_fastq"] == counts["salmon_quant"] == 779
    assert counts["download_vcf"] == counts["cohort_genotypes"] == 23
    assert counts["select_libraries"] == 1 and counts["fastqtl_permutations_chunk"] > 0
    assert "resolve_samples" not in counts and "map_cis_permutations" not in counts
    assert counts["total"] > 1600
