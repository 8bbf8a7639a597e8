"""A synthetic cohort in MAGE's real shape, for the full-scale dry-run test and benchmark.

779 libraries of 731 individuals (24 sequenced in triplicate), 17 batches of up to 48
libraries, 26 populations: MAGE's library table (``updated_metadata.tsv`` columns) and ENA's
run table for it (filereport columns), with the runs of the 2026 sample swap and its two
replacement runs, and the documented runs (kgpex.samples.mage), so resolution at this scale goes
through every rule of the join. IDs, read counts and accessions are drawn from a seed; nothing
is copied from MAGE's files.

    python tests/mage_scale.py DEST [--seed N]   # writes DEST/updated_metadata.tsv, run_table.tsv

The run table shows the swap as first published (original labels, replacement runs present);
``generate``/``write`` take ``relabelled``, ``replacements`` and ``withdrawn`` for the other states
a fetched run table can show (``swap_state``).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kgpex.samples.mage import MAGE_KNOWN_RUNS, MAGE_SAMPLE_SWAP, METADATA_COLUMNS
from kgpex.samples.runtable import ENA_FIELDS

LIBRARIES, INDIVIDUALS, TRIPLICATES, BATCH_SIZE = 779, 731, 24, 48
POPULATIONS = {
    "AFR": ["YRI", "LWK", "GWD", "MSL", "ESN", "ASW", "ACB"],
    "AMR": ["MXL", "PUR", "CLM", "PEL"],
    "EAS": ["CHB", "JPT", "CHS", "CDX", "KHV"],
    "EUR": ["CEU", "TSI", "FIN", "GBR", "IBS"],
    "SAS": ["GIH", "PJL", "BEB", "STU", "ITU"],
}
# Individuals the join treats specially (the swap, the documented runs), with their populations.
NAMED = {"HG00237": ("EUR", "GBR", "female"), "NA11919": ("EUR", "CEU", "male"),
         "HG00100": ("EUR", "GBR", "female")}


def _coriell(kgp: str) -> str:
    return "GM" + kgp[2:] if kgp.startswith("NA") else kgp


def generate(
    seed: int = 20261122,
    relabelled: bool = False,
    replacements: bool = True,
    withdrawn: tuple[str, ...] = (),
) -> tuple[list[dict], list[dict]]:
    """(library table rows, run table rows); the keywords pick the swap's state (``swap_state``)."""
    rng = random.Random(seed)
    pops = [(sup, pop) for sup, names in POPULATIONS.items() for pop in names]
    ids = set(NAMED)
    while len(ids) < INDIVIDUALS:
        ids.add(rng.choice(["HG", "NA"]) + f"{rng.randrange(100, 21000):05d}")
    people = {}
    for kgp in sorted(ids):
        sup, pop = rng.choice(pops)
        people[kgp] = NAMED.get(kgp, (sup, pop, rng.choice(["male", "female"])))
    others = sorted(set(people) - set(NAMED))
    triplicated = ["HG00237"] + rng.sample(others, TRIPLICATES - 1)
    # Library names in sequencing order: one per individual, two more per triplicate.
    order = [(kgp, 0) for kgp in sorted(people)] + [(k, r) for k in triplicated for r in (1, 2)]
    rng.shuffle(order)
    counts = rng.sample(range(18_000_000, 91_000_000), len(order))
    libraries = []
    for i, ((kgp, rep), reads) in enumerate(zip(order, counts)):
        batch = i // BATCH_SIZE + 1
        sup, pop, sex = people[kgp]
        seq = _coriell(kgp) if rep == 0 else f"{_coriell(kgp)}-{batch}-{rep}"
        libraries.append(
            {
                "sequencing_id": seq,
                "coriell_id": _coriell(kgp),
                "kgp_id": kgp,
                "batch": str(batch),
                "file_path": f"${{fastqDir}}/batch{batch}/{seq}_R1_001.fastq.gz",
                "superpop": sup,
                "subpop": pop,
                "sex": sex,
                "hapmap": rng.choice(["yes", "no"]),
                "read_counts": str(reads),
            }
        )
    return libraries, swap_state(_runs(libraries, rng), relabelled, replacements, withdrawn)


def swap_state(
    runs: list[dict],
    relabelled: bool = False,
    replacements: bool = True,
    withdrawn: tuple[str, ...] = (),
) -> list[dict]:
    """The run table in another state of the 2026 sample swap: ``relabelled`` shows the
    mislabelled runs as SRA has since 2026-04-03 (sample_alias and sample_title of the true
    individual; library_name as submitted), ``replacements=False`` drops the replacement runs (an
    older snapshot), ``withdrawn`` drops those mislabelled runs. The defaults change nothing."""
    true = {fix.mislabelled_run: fix.true_individual for fix in MAGE_SAMPLE_SWAP}
    dropped = set(withdrawn)
    if not replacements:
        dropped |= {fix.replacement_run for fix in MAGE_SAMPLE_SWAP}
    out = []
    for row in runs:
        if row["run_accession"] in dropped:
            continue
        if relabelled and row["run_accession"] in true:
            individual = true[row["run_accession"]]
            title = f"LCL RNA-seq of {individual}"
            row = {**row, "sample_alias": individual, "sample_title": title}
        out.append(row)
    return out


def _runs(libraries: list[dict], rng: random.Random) -> list[dict]:
    by_seq = {lib["sequencing_id"]: lib for lib in libraries}
    special = {fix.mislabelled_run for fix in MAGE_SAMPLE_SWAP} | set(MAGE_KNOWN_RUNS)
    special |= {fix.replacement_run for fix in MAGE_SAMPLE_SWAP}
    accessions = iter(f"SRR{n}" for n in range(19762000, 19770000) if f"SRR{n}" not in special)
    fixed = {
        # The swapped pair, labelled as the notice says; HG00237's mapped library (a replicate
        # here) and HG00100's documented run.
        "SRR19762530": "HG00237",
        "SRR19762653": "GM11919",
        "SRR19762247": min(s for s in by_seq if s.startswith("HG00237-")),
        "SRR19762765": "HG00100",
    }
    rows = []
    assigned = {seq: run for run, seq in fixed.items()}
    for lib in libraries:
        seq = lib["sequencing_id"]
        run = assigned.get(seq) or next(accessions)
        replicate = seq != lib["coriell_id"]
        # Most runs name their library; a few triplicate runs only their individual, resolved
        # by read count as the join allows.
        library_name = seq if replicate and rng.random() < 0.7 else lib["coriell_id"]
        if run == "SRR19762530":
            library_name = ""  # named by sample_alias HG00237 and its read count
        rows.append(_run_row(run, lib["kgp_id"], library_name, int(lib["read_counts"])))
    for fix in MAGE_SAMPLE_SWAP:
        old = next(r for r in rows if r["run_accession"] == fix.mislabelled_run)
        rows.append(_run_row(fix.replacement_run, fix.true_individual, "", int(old["read_count"])))
    return sorted(rows, key=lambda r: r["run_accession"])


def _run_row(run: str, individual: str, library_name: str, reads: int) -> dict:
    ftp = f"ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/{run[-3:]}/{run}/{run}"
    digest = hashlib.md5(run.encode()).hexdigest()
    return {
        "run_accession": run,
        "study_accession": "SRP384216",
        # One experiment per run: MAGE sequenced each library once.
        "experiment_accession": f"SRX{int(run[3:]) + 5_000_000}",
        "sample_accession": f"SAMN{int(run[3:]) + 10_000_000}",
        "sample_alias": individual,
        "sample_title": f"LCL RNA-seq of {individual}",
        "library_name": library_name,
        "library_layout": "PAIRED",
        "read_count": str(reads),
        "base_count": str(reads * 300),
        "fastq_ftp": f"{ftp}_1.fastq.gz;{ftp}_2.fastq.gz",
        "fastq_md5": f"{digest};{digest[::-1]}",
        "fastq_bytes": f"{reads * 60};{reads * 61}",
    }


def write(dest: str | Path, seed: int = 20261122, **swap) -> tuple[Path, Path]:
    """Write ``updated_metadata.tsv`` and ``run_table.tsv`` under ``dest``; return their paths.
    ``swap``: ``generate``'s keywords for the swap's state."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    libraries, runs = generate(seed, **swap)
    meta, table = dest / "updated_metadata.tsv", dest / "run_table.tsv"
    for path, columns, rows in ((meta, METADATA_COLUMNS, libraries), (table, ENA_FIELDS, runs)):
        with open(path, "w") as fh:
            fh.write("\t".join(columns) + "\n")
            fh.writelines("\t".join(row[c] for c in columns) + "\n" for row in rows)
    return meta, table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    for path in write(args.dest, args.seed):
        print(path)


def prepare(workdir: str | Path, seed: int = 20261122) -> Path:
    """A scratch working directory for the MAGE preset on the synthetic cohort: the fixture
    under ``workdir/mage_scale/`` and ``workdir/mage_scale.yaml``, a config layered over
    config/presets/mage.yaml that points the run table and MAGE's library table (with its
    sha256) at it. Returns the overlay's path."""
    import yaml
    from workdirs import scratch_workdir

    workdir = Path(workdir).resolve()
    scratch_workdir(workdir, reuse_demo=False)
    meta, table = write(workdir / "mage_scale", seed)
    overlay = workdir / "mage_scale.yaml"
    samples = {
        "run_table": str(table),
        "mage_metadata": str(meta),
        "mage_metadata_sha256": hashlib.sha256(meta.read_bytes()).hexdigest(),
    }
    overlay.write_text(yaml.safe_dump({"samples": samples}))
    return overlay


def snakemake_args(workdir: str | Path, overlay: Path, *args: str) -> list[str]:
    """Arguments running the MAGE preset with ``overlay`` in ``workdir``."""
    from workdirs import ROOT
    from workdirs import snakemake_args as scratch_args

    preset = str(ROOT / "config/presets/mage.yaml")
    return scratch_args(Path(workdir), "--configfile", preset, str(overlay), *args)


# The checkpoint's outputs: the target that resolves the cohort (offline on this fixture).
RESOLVED = [
    "results/MAGE/samples/individuals.tsv",
    "results/MAGE/samples/runs.tsv",
    "results/MAGE/samples/run_sources.tsv",
    "results/MAGE/samples/run_mapping.tsv",
]
