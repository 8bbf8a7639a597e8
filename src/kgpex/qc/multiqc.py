"""MultiQC over salmon's per-library folders (rule run_multiqc).

:func:`multiqc_config` builds the config from the resolved runs.tsv: each library is named
"library (individual)" (MultiQC's exact ``sample_names_replace``); the title carries the cohort's tag; MultiQC stays offline (no version
check, no AI toolbox) and draws interactive plots, whose JavaScript the HTML inlines, so the
report renders without a network. :func:`run_multiqc` gives MultiQC exactly the files its salmon
module reads (``aux_info/meta_info.json``, ``lib_format_counts.json``, ``libParams/flenDist.txt``),
writes into a hidden folder beside the outputs, checks that every library made it into the
report, and only then moves the HTML and its data folder into place.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from kgpex.common.errors import KgpexError
from kgpex.samples.sheets import read_tsv

log = logging.getLogger(__name__)

# The salmon files MultiQC's salmon module parses, relative to a library's folder. The first two
# are salmon_quant's declared outputs; salmon writes flenDist.txt beside them (paired-end only
# carries a real fragment-length distribution).
SALMON_FILES = ("aux_info/meta_info.json", "lib_format_counts.json", "libParams/flenDist.txt")
REPORT_NAME = "multiqc_report.html"
# MultiQC names its data folder after the report: multiqc_report_data.
DATA_NAME = f"{Path(REPORT_NAME).stem}_data"
GENERAL_STATS = "multiqc_general_stats.txt"
CONFIG_NAME = "kgpex_multiqc_config.yaml"


def library_table(runs_tsv: str | os.PathLike) -> dict[str, str]:
    """Library -> its individual, from resolve_samples' runs.tsv."""
    rows = read_tsv(runs_tsv)
    for field in ("run_accession", "individual", "library"):
        if field not in rows[0]:
            raise KgpexError(f"{runs_tsv}: column '{field}' missing")
    libraries: dict[str, str] = {}
    for n, row in enumerate(rows, start=2):
        library, individual = row["library"], row["individual"]
        if not library or not individual:
            raise KgpexError(f"{runs_tsv} line {n}: empty library or individual")
        if libraries.setdefault(library, individual) != individual:
            raise KgpexError(
                f"{runs_tsv} line {n}: library {library} belongs to {libraries[library]} "
                f"and {individual}"
            )
    return libraries


def display_name(library: str, individual: str) -> str:
    return f"{library} ({individual})"


def multiqc_config(libraries: dict[str, str], tag: str) -> dict:
    """The MultiQC config for the libraries of :func:`library_table`."""
    names = {lib: display_name(lib, individual) for lib, individual in sorted(libraries.items())}
    return {
        "title": f"{tag}: salmon quantification QC",
        "intro_text": (
            "kgpex: salmon's mapping rate, library type and fragment lengths of every library "
            "quantified, replicates included. Libraries are named 'library (individual)'; a "
            "library of one run is named by the run's accession."
        ),
        "report_header_info": [
            {"Cohort": tag},
            {"Libraries": str(len(libraries))},
            {"Individuals": str(len(set(libraries.values())))},
        ],
        # Offline: no call to multiqc.info, no AI toolbox, plots drawn by the inlined plotly.js.
        "no_version_check": True,
        "no_ai": True,
        "plots_force_interactive": True,
        # Absolute paths of one machine do not belong in a shared report.
        "show_analysis_paths": False,
        "run_modules": ["salmon"],
        # Library IDs are names already: no suffix trimming (a library "X_1" stays "X_1").
        "fn_clean_sample_names": False,
        # Exact renames, not sample_names_rename buttons: MultiQC 1.35's page applies the
        # buttons' second column on load, hiding the name the first button stands for.
        "sample_names_replace": names,
        "sample_names_replace_exact": True,
        # MultiQC waits for a click before drawing plots of over 100 samples; a cohort's report
        # (MAGE: 779 libraries) should show them at once. 1.35 still checks the deprecated key.
        "plots_defer_loading_numseries": 1000,
        "num_datasets_plot_limit": 1000,
    }


def salmon_files(folders: list[str | os.PathLike]) -> list[Path]:
    """The files of each salmon folder that MultiQC reads (those that exist)."""
    files = []
    for folder in folders:
        for name in SALMON_FILES:
            path = Path(folder) / name
            if path.is_file():
                files.append(path.resolve())
    return files


def reported_samples(general_stats: str | os.PathLike) -> set[str]:
    """The sample names in MultiQC's general statistics table."""
    with open(general_stats) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if not header or header[0] != "Sample":
            raise KgpexError(f"{general_stats}: no 'Sample' column")
        return {line.split("\t", 1)[0] for line in fh if line.strip()}


def run_multiqc(
    folders: list[str | os.PathLike],
    runs_tsv: str | os.PathLike,
    tag: str,
    html: str | os.PathLike,
    data_dir: str | os.PathLike,
) -> None:
    """MultiQC over the salmon ``folders`` (one per library, named by it): ``html`` and its
    ``data_dir``, written atomically (a hidden folder beside ``html``, renamed into place)."""
    libraries = library_table(runs_tsv)
    by_folder = {Path(f).name: f for f in folders}
    unknown = sorted(set(by_folder) - set(libraries))
    if unknown:
        raise KgpexError(f"{runs_tsv}: no run of library {unknown[0]} (salmon folder {by_folder[unknown[0]]})")
    missing = sorted(set(libraries) - set(by_folder))
    if missing:
        raise KgpexError(f"library {missing[0]} of {runs_tsv} has no salmon folder")
    html, data_dir = Path(html), Path(data_dir)
    html.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{html.stem}.", suffix=".partial", dir=html.parent))
    try:
        config = work / CONFIG_NAME
        config.write_text(yaml.safe_dump(multiqc_config(libraries, tag), sort_keys=False))
        file_list = work / "salmon_files.txt"
        file_list.write_text("".join(f"{path}\n" for path in salmon_files(folders)))
        out = work / "out"
        cmd = [
            sys.executable, "-m", "multiqc",
            "--file-list", str(file_list),
            "--config", str(config),
            "--outdir", str(out),
            "--filename", REPORT_NAME,
            "--force", "--no-version-check", "--no-ai", "--interactive", "--no-megaqc-upload",
            "--module", "salmon",
        ]  # fmt: skip
        log.info("%s", " ".join(cmd))
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        for line in (proc.stdout + proc.stderr).splitlines():
            log.info("multiqc: %s", line)
        if proc.returncode != 0:
            raise KgpexError(f"MultiQC failed (exit {proc.returncode}) for {html}; see the rule's log")
        report, data = out / REPORT_NAME, out / DATA_NAME
        if not report.is_file() or not (data / GENERAL_STATS).is_file():
            raise KgpexError(f"MultiQC wrote no {REPORT_NAME} with {DATA_NAME}/{GENERAL_STATS} in {out}")
        expected = {display_name(lib, individual) for lib, individual in libraries.items()}
        absent = sorted(expected - reported_samples(data / GENERAL_STATS))
        if absent:
            raise KgpexError(
                f"MultiQC's report leaves out {len(absent)} libraries, first {absent[0]}: "
                f"check its salmon files ({', '.join(SALMON_FILES[:2])})"
            )
        # The config as run, for whoever reruns MultiQC by hand.
        shutil.copy2(config, data / CONFIG_NAME)
        if data_dir.exists():
            shutil.rmtree(data_dir)
        os.replace(data, data_dir)
        os.replace(report, html)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("MultiQC: %d libraries in %s", len(libraries), html)
