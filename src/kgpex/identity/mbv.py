"""QTLtools ``mbv``: run it on one library's BAM against the cohort genotypes, read its table,
and call the library's identity.

mbv writes one row per genotyped individual: how many of that individual's heterozygous and
homozygous sites the reads cover (``n_het_covered``, ``n_hom_covered``) and the fractions
consistent with the genotype (``perc_het_consistent``, ``perc_hom_consistent``). A
heterozygous site is consistent when the reads show both alleles in proportions a binomial test
accepts; a homozygous site when the reads show one allele only (QTLtools 1.3.1 does not check
which one: ``cref == 0 || calt == 0``), so every individual's homozygous figure is high (~0.75
for an unrelated one on real Geuvadis genotypes) and it is the heterozygous figure that tells
individuals apart, while a second individual's RNA (contamination) lowers the homozygous one.
The call (eQTL Catalogue's reading of mbv, with thresholds in the config):

- ``unclear``: the labelled individual has too few covered sites to judge, or no individual
  agrees at both kinds of site (a mix of two individuals' RNA lowers both: contamination), or
  the best two individuals are too close to tell apart;
- ``match``: the best-agreeing individual is the labelled one;
- ``swap``: another individual agrees, and the labelled one does not.
"""

from __future__ import annotations

import csv
import math
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, read_text_tsv

MBV_COLUMNS = [
    "SampleID", "n_geno_missing", "n_het_total", "n_hom_total", "n_het_covered", "n_hom_covered",
    "n_het_consistent", "n_hom_consistent", "perc_het_consistent", "perc_hom_consistent",
    "n_het_in_ase",
]  # fmt: skip
# STAR gives uniquely mapped reads MAPQ 255; mbv counts reads at or above this quality.
MIN_MAPPING_QUALITY = 150
VERDICTS = ("match", "swap", "unclear")
IDENTITY_COLUMNS = [
    "run", "labelled_individual", "best_individual", "labelled_het_concordance",
    "labelled_hom_concordance", "best_het_concordance", "best_hom_concordance", "margin",
    "het_sites", "hom_sites", "verdict", "reason",
]  # fmt: skip


@dataclass(frozen=True)
class Thresholds:
    """What a call needs: covered sites of the labelled individual, concordance at both kinds
    of site for the individual called, and a margin over the next one.

    Heterozygous concordance is bounded by depth (a heterozygous site counts when the reads
    show both alleles; at 4 reads that happens 7 times in 8). Homozygous concordance falls with
    a second individual's RNA, and with sequencing errors at very deep sites (one read of the
    other allele makes a site inconsistent): hence two thresholds."""

    min_het_sites: int = 50
    min_hom_sites: int = 50
    min_het_concordance: float = 0.8
    min_hom_concordance: float = 0.9
    min_margin: float = 0.15


@dataclass(frozen=True)
class IdentityCall:
    run: str
    labelled_individual: str
    best_individual: str
    labelled_het_concordance: float
    labelled_hom_concordance: float
    best_het_concordance: float
    best_hom_concordance: float
    margin: float
    het_sites: int
    hom_sites: int
    verdict: str
    reason: str


def bam_contigs(bam: str | Path) -> list[str]:
    """The BAM's @SQ names; one line if it has no index (mbv reads it region by region)."""
    import pysam

    try:
        with pysam.AlignmentFile(str(bam), "rb") as fh:
            if not fh.has_index():
                raise KgpexError(f"{bam}: no BAM index (.bai or .csi) beside it; run samtools index")
            return list(fh.references)
    except (OSError, ValueError) as err:
        raise KgpexError(f"{bam}: not a readable BAM ({err})") from err


def vcf_contigs(vcf: str | Path) -> list[str]:
    """The contigs the genotypes hold records on (the tabix index's names)."""
    import pysam

    try:
        with pysam.TabixFile(str(vcf)) as fh:
            return list(fh.contigs)
    except OSError as err:
        raise KgpexError(f"{vcf}: not a bgzipped, tabix-indexed VCF ({err})") from err


def check_contigs(bam: str | Path, vcf: str | Path) -> None:
    """One line if no chromosome of the genotypes is named as in the BAM (chr1 against 1)."""
    in_bam, in_vcf = bam_contigs(bam), vcf_contigs(vcf)
    if not set(in_bam) & set(in_vcf):
        raise KgpexError(
            f"{bam}: contigs ({', '.join(in_bam[:3])}, ...) share no name with the genotypes "
            f"{vcf} ({', '.join(in_vcf[:3])}, ...): align to the genotypes' genome build and naming"
        )


# QTLtools mbv's own default: a genotype counts where at least this many reads cover it.
MIN_COVERAGE = 10


def mbv_command(bam: str | Path, vcf: str | Path, out: str | Path,
                min_coverage: int = MIN_COVERAGE) -> list[str]:  # fmt: skip
    return ["QTLtools", "mbv", "--bam", str(bam), "--vcf", str(vcf),
            "--filter-mapping-quality", str(MIN_MAPPING_QUALITY),
            "--filter-minimal-coverage", str(min_coverage), "--out", str(out)]  # fmt: skip


def run_mbv(bam: str | Path, vcf: str | Path, dest: str | Path, log: str | Path,
            min_coverage: int = MIN_COVERAGE) -> Path:  # fmt: skip
    """Run mbv on ``bam`` against ``vcf`` (the cohort's common biallelic exonic SNPs); its table
    lands at ``dest`` only when it ran to the end and reads back whole."""
    check_contigs(bam, vcf)
    dest = Path(dest)
    with atomic_path(dest) as tmp, open(log, "w") as log_fh:
        proc = subprocess.run(mbv_command(bam, vcf, tmp, min_coverage), stdout=log_fh,
                              stderr=subprocess.STDOUT, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise KgpexError(f"{bam}: QTLtools mbv exited {proc.returncode} (log: {log})")
        read_mbv(tmp, name=dest)
    return dest


def read_mbv(path: str | Path, name: str | Path | None = None) -> list[dict]:
    """mbv's rows, with counts as int and fractions as float; one line naming the file and row
    when it is not mbv's table."""
    name = name or path
    with open(path, newline="") as fh:
        reader = csv.reader(fh, delimiter=" ", skipinitialspace=True)
        header = next(reader, None)
        if header != MBV_COLUMNS:
            raise KgpexError(f"{name}: not a QTLtools mbv table (header {header})")
        rows = []
        for line, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) != len(MBV_COLUMNS):
                raise KgpexError(f"{name}: line {line} has {len(fields)} fields, not {len(MBV_COLUMNS)}")
            row = dict(zip(MBV_COLUMNS, fields))
            try:
                for column in MBV_COLUMNS[1:]:
                    row[column] = (float if column.startswith("perc_") else int)(row[column])
            except ValueError as err:
                raise KgpexError(f"{name}: line {line}: {err}") from err
            rows.append(row)
    if not rows:
        raise KgpexError(f"{name}: mbv reported no individual (no genotyped sample in the VCF?)")
    return rows


def _concordance(row: dict) -> float:
    # Both kinds of site count: heterozygous sites tell individuals apart, homozygous sites
    # reveal a second individual's alleles. No covered site (mbv writes nan) ranks last.
    value = (row["perc_het_consistent"] + row["perc_hom_consistent"]) / 2
    return -1.0 if math.isnan(value) else value


def call_identity(run: str, labelled: str, rows: list[dict],
                  thresholds: Thresholds = Thresholds()) -> IdentityCall:
    """The call for one library labelled ``labelled``, from its mbv ``rows``."""
    by_id = {row["SampleID"]: row for row in rows}
    if labelled not in by_id:
        raise KgpexError(f"run {run}: labelled individual {labelled} is not in the genotypes mbv read")
    ranked = sorted(rows, key=lambda row: (-_concordance(row), row["SampleID"]))
    best, own = ranked[0], by_id[labelled]
    runner_up = ranked[1] if len(ranked) > 1 else None
    margin = _concordance(best) - (_concordance(runner_up) if runner_up else 0.0)
    het_sites, hom_sites = own["n_het_covered"], own["n_hom_covered"]
    if het_sites < thresholds.min_het_sites or hom_sites < thresholds.min_hom_sites:
        verdict = "unclear"
        reason = (f"too few informative sites: {het_sites} heterozygous and {hom_sites} homozygous "
                  f"covered (needs {thresholds.min_het_sites} and {thresholds.min_hom_sites})")
    elif (best["perc_het_consistent"] < thresholds.min_het_concordance
          or best["perc_hom_consistent"] < thresholds.min_hom_concordance):
        verdict = "unclear"
        reason = (f"no individual agrees at both kinds of site (best {best['SampleID']}: "
                  f"{best['perc_het_consistent']:.2f} heterozygous, "
                  f"{best['perc_hom_consistent']:.2f} homozygous): contamination or not genotyped")
    elif margin < thresholds.min_margin:
        verdict = "unclear"
        reason = (f"{best['SampleID']} and {runner_up['SampleID']} agree almost equally "
                  f"(margin {margin:.2f}): related individuals or duplicate genotypes")
    elif best["SampleID"] == labelled:
        verdict, reason = "match", ""
    else:
        verdict = "swap"
        reason = f"the reads carry {best['SampleID']}'s genotypes, not {labelled}'s"
    return IdentityCall(
        run=run,
        labelled_individual=labelled,
        best_individual=best["SampleID"],
        labelled_het_concordance=own["perc_het_consistent"],
        labelled_hom_concordance=own["perc_hom_consistent"],
        best_het_concordance=best["perc_het_consistent"],
        best_hom_concordance=best["perc_hom_consistent"],
        margin=round(margin, 6),
        het_sites=het_sites,
        hom_sites=hom_sites,
        verdict=verdict,
        reason=reason,
    )


def write_identity_table(calls: list[IdentityCall], dest: str | Path) -> None:
    """``identity.tsv``: one row per run, IDENTITY_COLUMNS."""
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=IDENTITY_COLUMNS, delimiter="\t",
                                lineterminator="\n")  # fmt: skip
        writer.writeheader()
        for call in calls:
            writer.writerow(asdict(call))


ON_MISMATCH = ("stop", "exclude", "report")


def apply_policy(calls: list[IdentityCall], on_mismatch: str) -> list[str]:
    """The runs to leave out under ``identity.on_mismatch``: ``stop`` raises one line naming
    each swapped or unclear run and the individual it matches; ``exclude`` returns them;
    ``report`` returns none (the table still shows them)."""
    if on_mismatch not in ON_MISMATCH:
        raise KgpexError(f"config identity.on_mismatch: {on_mismatch!r} is not one of {', '.join(ON_MISMATCH)}")
    calls = [call if isinstance(call, dict) else asdict(call) for call in calls]
    flagged = [call for call in calls if call["verdict"] != "match"]
    if on_mismatch == "stop" and flagged:
        names = "; ".join(
            f"{c['run']} labelled {c['labelled_individual']} "
            + (f"matches {c['best_individual']}" if c["verdict"] == "swap"
               else f"is unclear ({c['reason']})")
            for c in flagged
        )
        raise KgpexError(f"identity check: {len(flagged)} run(s) do not match their label: {names}"
                         " (identity.on_mismatch: stop; see identity.tsv)")
    return [call["run"] for call in flagged] if on_mismatch == "exclude" else []


def read_identity_table(path: str | Path) -> dict[str, dict]:
    """identity.tsv's rows by run; one line when a column is missing."""
    table = read_text_tsv(path, "identity table")
    missing = [c for c in IDENTITY_COLUMNS if c not in table.columns]
    if missing:
        raise KgpexError(f"{path}: column '{missing[0]}' missing (expected {' '.join(IDENTITY_COLUMNS)})")
    rows = {row["run"]: row for row in table.to_dict("records")}
    for run, row in rows.items():
        if row["verdict"] not in VERDICTS:
            raise KgpexError(f"{path}: run {run}: verdict '{row['verdict']}' is not one of {', '.join(VERDICTS)}")
    return rows


def describe(row: dict) -> str:
    """A run's verdict in words, for run_status.tsv: ``match``, ``swap: the reads carry X's
    genotypes, not Y's`` or ``unclear: <why>``."""
    return row["verdict"] if row["verdict"] == "match" else f"{row['verdict']}: {row['reason']}"
