# Shared by every stage: config and sheet validation, the layout's roots (paths.smk names the
# paths between stages), wildcard constraints, tool environments and the helpers every stage
# uses; nothing here reads a name from a later file. Keep imports light: every dry-run and job
# parses this. Logic: kgpex.common.config, kgpex.common.methods, kgpex.common.sources,
# kgpex.samples.sheets, kgpex.samples.runtable and kgpex.preflight.config_checks (local files).
import functools
import os
import sys

sys.path.insert(0, f"{workflow.basedir}/src")

from kgpex.common.config import validate_config
from kgpex.common.errors import KgpexError
from kgpex.common.methods import apply_methods
from kgpex.common.sources import local_path
from kgpex.preflight import config_checks as kgpex_config_checks
from kgpex.samples import runtable as kgpex_runtable
from kgpex.samples import sheets as kgpex_sheets


def _stop(err):
    # One clear line, no traceback: the message already names the file, row or field.
    sys.exit(f"kgpex: {err}")


# A phenotype BED (expression.input bed) is its own cohort: no sample sheets, no reference.
# samples.individuals names the BED only so that no input path is empty; resolve_samples
# never runs for a BED (matrix_input.smk's ruleorder).
if config.get("expression", {}).get("input") == "bed":
    _bed_url = config["expression"].get("bed", {}).get("url", "")
    config.setdefault(
        "samples", {"method": "sheets", "individuals": _bed_url, "runs": ""}
    )
    config.setdefault("reference", {"transcripts_url": "", "annotation_url": ""})

try:
    validate_config(config, label="config")
    # methods: mage sets MAGE's published settings over the config (kgpex.common.methods).
    apply_methods(config)
    # Reads need runs: samples.runs "" is for the matrix entry point only (and the BED's,
    # whose cohort is its sample columns: kgpex.matrix_input.bed).
    if config["expression"]["input"] != "bed":
        kgpex_sheets.check_samples_config(config)
    elif config["samples"]["method"] != "sheets" or config["samples"]["runs"]:
        raise KgpexError(
            "config: field 'samples': expression.input bed takes its cohort from the BED's "
            "sample columns; leave the samples section out"
        )
    elif not config["covariates"]["input"]:
        raise KgpexError(
            "config: field 'covariates.input': expression.input bed needs your covariates "
            "(FastQTL's 'id <samples...>' file); kgpex's own need the sheets' sex"
        )
except KgpexError as err:
    _stop(err)

COHORT = config["cohort"]
RELEASE = config["release"]
TAG = f"{COHORT}.{RELEASE}"
RESULTS = f"results/{COHORT}"
LOGS = f"logs/{COHORT}"

SAMPLES_CONFIG = config["samples"]
# The demo cohort's generated files (made by make_demo_cohort in demo.smk): not yet there is not missing.
DEMO_DIR = "resources/demo/generated"
# Every local file the config names (sheets, matrix, run table, reference, VCFs) is there or made
# by a rule; else one line lists them all, each with its config key, and names the --configfile
# (a preset) whose header says how to make them. Before the sheets are read below.
try:
    kgpex_config_checks.check_local_files(
        config, produced_under=[DEMO_DIR], configfiles=workflow.overwrite_configfiles
    )
except KgpexError as err:
    _stop(err)
# The phenotype-BED entry point: the cohort is the BED's sample columns (matrix_input.smk).
BED_INPUT = config["expression"]["input"] == "bed"
# A cohort of individuals alone (method sheets, samples.runs ""; expression.input matrix): no
# runs, no run table, and resolve_samples writes the run tables with their headers only.
INDIVIDUALS_ONLY = kgpex_sheets.individuals_only(config)
# Sheets given in the config are checked now, so a typo stops the run before any job.
GIVEN_SHEETS = None
if SAMPLES_CONFIG["method"] == "sheets" and not BED_INPUT:
    try:
        GIVEN_SHEETS = (
            kgpex_sheets.load_individuals(SAMPLES_CONFIG["individuals"])
            if INDIVIDUALS_ONLY
            else kgpex_sheets.load_sheets(
                SAMPLES_CONFIG["individuals"], SAMPLES_CONFIG["runs"]
            )
        )
    except KgpexError as err:
        _stop(err)

GENOTYPE_CHROMS = config["genotypes"]["chromosomes"]
AUTOSOMES = [c for c in GENOTYPE_CHROMS if c != "chrX"]


wildcard_constraints:
    # The runs schema's pattern: runs are known only after resolve_samples.
    run="[A-Za-z0-9][A-Za-z0-9_.-]*",
    library="[A-Za-z0-9][A-Za-z0-9_.-]*",
    chrom="|".join(GENOTYPE_CHROMS),
    mate="1|2",


def by_attempt(base):
    """A resource that grows with each retry (SLURM resubmits a job killed for memory or time)."""
    return lambda wildcards, attempt: base * attempt


@functools.lru_cache(maxsize=4)
def _library_runs(runs_tsv, mtime):
    # Read once per version of runs.tsv, not once per library's job.
    by_library = {}
    for row in kgpex_sheets.read_tsv(runs_tsv):
        by_library.setdefault(row["library"], []).append(row["run_accession"])
    return {library: sorted(runs) for library, runs in by_library.items()}


# Checkpoint outputs once they exist. Checkpoint.get() expands the rule's output again on each
# call, thousands of times in a MAGE-scale DAG (benchmarks/mage_dry_run.py). Only success is
# remembered: Snakemake's set of created checkpoint outputs only grows within a run, and until
# the checkpoint is done get() must keep raising so that Snakemake waits for it.
_CHECKPOINT_OUTPUT = {}


def checkpoint_output(checkpoint):
    """``checkpoint.get().output`` of a checkpoint without wildcards, remembered once present."""
    output = _CHECKPOINT_OUTPUT.get(checkpoint.rule.name)
    if output is None:
        output = _CHECKPOINT_OUTPUT[checkpoint.rule.name] = checkpoint.get().output
    return output


def cohort_library_runs():
    """Library -> its runs, from the resolved runs.tsv (kgpex.samples.libraries; available once
    the checkpoint resolve_samples has run)."""
    runs_tsv = checkpoint_output(checkpoints.resolve_samples).runs
    return _library_runs(runs_tsv, os.path.getmtime(runs_tsv))


def per_library(pattern):
    """An input function: ``pattern`` expanded over the resolved libraries, sorted, once the
    checkpoint check_inputs (preflight.smk) has passed.

    Waiting here keeps the per-run and per-library jobs (download_fastq, salmon_quant: 779 each
    for MAGE) out of the DAG until the inputs are checked. Otherwise each of them would carry
    an incomplete gate, which Snakemake re-creates at every pass over the DAG: a MAGE-scale
    dry-run took twice as long (benchmarks/mage_dry_run.py)."""

    def inputs(wildcards):
        checkpoint_output(checkpoints.check_inputs)
        return expand(pattern, library=sorted(cohort_library_runs()))

    return inputs


@functools.lru_cache(maxsize=4)
def _resolved_columns(path, mtime, key, column):
    # Read once per version of the sheet, not once per job.
    return {row[key]: row[column] for row in kgpex_sheets.read_tsv(path)}


def cohort_run_individuals():
    """Run -> its labelled individual, from the resolved runs.tsv (after resolve_samples)."""
    runs_tsv = checkpoint_output(checkpoints.resolve_samples).runs
    return _resolved_columns(
        runs_tsv, os.path.getmtime(runs_tsv), "run_accession", "individual"
    )


def cohort_sexes():
    """Individual -> sex, from the resolved individuals.tsv (after resolve_samples)."""
    path = checkpoint_output(checkpoints.resolve_samples).individuals
    return _resolved_columns(path, os.path.getmtime(path), "individual", "sex")


def library_runs(library):
    """The runs salmon quantifies together as ``library``."""
    runs = cohort_library_runs().get(library)
    if not runs:
        raise KgpexError(
            f"{checkpoint_output(checkpoints.resolve_samples).runs}: no run of library {library}"
        )
    return runs


def after_checkpoint(gate):
    """An input function that holds a job back until the checkpoint ``gate`` has run, and adds
    no file once it has: re-running the gate never re-runs the job (what ancient() was for).
    Not ancient(): Snakemake 9.27 drops every job reachable from a job that must run only
    through an ancient input (tests/test_snakemake_ancient_checkpoint.py)."""

    def inputs(wildcards):
        checkpoint_output(gate)
        return []

    return inputs


@functools.lru_cache(maxsize=4)
def _run_layouts(sources, mtime):
    # Read once per version of run_sources.tsv, not once per run's job.
    return kgpex_runtable.read_layouts(sources)


def run_layout(run):
    """The run's layout, ``paired`` or ``single``, in the resolved run_sources.tsv (available
    once the checkpoint resolve_samples has run)."""
    sources = checkpoint_output(checkpoints.resolve_samples).sources
    layouts = _run_layouts(sources, os.path.getmtime(sources))
    if run not in layouts:
        raise KgpexError(f"{sources}: no row for run {run}")
    return layouts[run]


# One pinned conda env and one pinned container per tool (envs/*.yaml, envs/containers.yaml).
def _load_containers():
    import yaml

    with open(f"{workflow.basedir}/envs/containers.yaml") as fh:
        return yaml.safe_load(fh)


CONTAINERS = _load_containers()


def env(tool):
    return f"{workflow.basedir}/envs/{tool}.yaml"


def container(tool):
    return CONTAINERS[tool]


def local_input(source):
    """The local file behind a config source, so Snakemake knows which rule makes it."""
    path = local_path(source)
    return [] if path is None else [str(path)]


def fastq_output(path):
    """FASTQs are temporary unless download.keep_fastq is set."""
    return path if config["download"]["keep_fastq"] else temp(path)


# A job that no node of its partition can run pends forever on SLURM (Reason=PartitionConfig)
# while Snakemake polls in silence: stop before the first submission instead, with one line.
# Snakemake calls onstart after building the DAG and before scheduling any job (never in a
# dry-run); _stop's SystemExit leaves through Snakemake's lock, exit status 1, no traceback.
onstart:
    if getattr(workflow.executor_plugin, "name", None) == "slurm":
        from kgpex.common.slurm import check as check_slurm_limits
        from kgpex.common.slurm import workflow_requests

        try:
            line = check_slurm_limits(workflow_requests(workflow))
        except KgpexError as err:
            _stop(err)
        if line:
            _stop(line)
