"""Build the whole demo cohort and write it in the real formats, atomically.

Layout under ``out_dir`` (names match config/config.yaml):

    mirror/gencode/gencode.vDEMO.transcripts.fa.gz, gencode.vDEMO.annotation.gtf.gz,
                   GRCh38.DEMO.genome.fa.gz, MD5SUMS
    mirror/vcf/DEMO_{chrom}.filtered.shapeit2-duohmm-phased.vcf.gz (+ .tbi)
    mirror/fastq/{run}/{run}_1.fastq.gz, {run}_2.fastq.gz
    ena_filereport.tsv   ENA filereport columns; fastq_ftp holds absolute file:// URLs
    truth_eqtls.tsv      gene_id gene_name chrom tss n_causal causal_variants effect_sizes
                         heterogeneous_group heterogeneous_effect_size r2 mean_tpm
                         effect_sizes: log2 aFC per causal variant, as aFC-n's model states it
                         (kgpex.demo.expression); heterogeneous_group: the continental group
                         where the effect is heterogeneous_effect_size instead (NA: none)
    truth_sqtls.tsv      gene_id gene_name chrom tss causal_variant beta delta_psi
                         switch_transcript introns expected_junction_reads_per_library maf
                         baseline_share share_sd: the planted splicing QTLs, one row per sGene
                         (kgpex.demo.sqtls states the model and the columns)
    truth_swaps.tsv      run_accession labelled_individual true_individual: the planted sample
                         swaps (DemoSpec.n_swapped_pairs pairs of single-run individuals), one
                         row per swapped run; its reads (genotypes and expression) are the true
                         individual's, while the sheets and the run table keep the labels

Everything is written into a temporary sibling folder and renamed into place at the end, the
run table last, so a killed generation never leaves a complete-looking cohort.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.demo import spec as names
from kgpex.demo.cohort import Cohort, load_cohort, plan_swaps
from kgpex.demo.expression import ExpressionPlan, plan_expression
from kgpex.demo.genotypes import ChromVariants, Panel, build_panel, simulate_chromosome, write_vcf
from kgpex.demo.reads import (
    Fragments,
    Transcriptome,
    draw_fragments,
    fastq_bytes,
    fragment_reads,
    write_fastq_gz,
)
from kgpex.demo.reference import (
    Reference,
    build_reference,
    write_genome_fasta,
    write_gtf,
    write_transcripts_fasta,
)
from kgpex.demo.spec import DemoSpec, rng_for
from kgpex.demo.sqtls import plant_sqtls

log = logging.getLogger("kgpex.demo")

SWAP_COLUMNS = ("run_accession", "labelled_individual", "true_individual")
RUN_TABLE_COLUMNS = (
    "run_accession",
    "sample_accession",
    "sample_alias",
    "sample_title",
    "library_name",
    "read_count",
    "base_count",
    "fastq_ftp",
    "fastq_md5",
    "fastq_bytes",
)


@dataclass
class DemoModel:
    """The cohort before any file is written: reference, genotypes and the expression plan."""

    spec: DemoSpec
    seed: int
    cohort: Cohort
    reference: Reference
    panel: Panel
    variants: dict[str, ChromVariants]
    plan: ExpressionPlan
    swaps: dict[str, str]  # run -> the run whose library (individual and expression) it carries

    def source_run(self, run: str) -> str:
        """The run whose individual and expression ``run``'s reads really come from."""
        return self.swaps.get(run, run)

    def swap_table(self) -> pd.DataFrame:
        individual = {r["run_accession"]: r["individual"] for r in self.cohort.runs}
        rows = [(run, individual[run], individual[src]) for run, src in sorted(self.swaps.items())]
        return pd.DataFrame(rows, columns=list(SWAP_COLUMNS))


def build_model(spec: DemoSpec, seed: int, cohort: Cohort) -> DemoModel:
    reference = build_reference(spec, seed)
    panel = build_panel(spec, seed, cohort)
    variants = {c: simulate_chromosome(spec, seed, c, reference, panel) for c in spec.chromosomes}
    plan = plan_expression(spec, seed, reference, cohort, panel, variants)
    plan = plant_sqtls(spec, seed, reference, cohort, panel, variants, plan)
    swaps = plan_swaps(spec, seed, cohort)
    return DemoModel(spec, seed, cohort, reference, panel, variants, plan, swaps)


def library(
    model: DemoModel, run: str, transcriptome: Transcriptome
) -> tuple[Fragments, tuple[np.ndarray, np.ndarray]]:
    """The fragments and read codes (mates 1 and 2) of ``run``, with its own depth and error
    rate but the individual and expression of its source run (itself unless swapped)."""
    spec, plan = model.spec, model.plan
    source = model.source_run(run)
    individual = next(r["individual"] for r in model.cohort.runs if r["run_accession"] == source)
    rng = rng_for(model.seed, "reads", run)
    error_rate = rng.uniform(*spec.error_rate_range)
    share = plan.first_haplotype_share[:, model.cohort.individuals.index(individual)]
    frags = draw_fragments(
        rng, transcriptome, plan.fragment_probs[source], plan.read_pairs[run], spec, share
    )
    alleles = transcriptome.alleles(model.variants, model.panel.samples.index(individual))
    return frags, fragment_reads(rng, transcriptome, frags, spec, error_rate, alleles)


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fastq_path(out_dir: Path, run: str, mate: int) -> Path:
    return out_dir / names.FASTQ_DIR / run / f"{run}_{mate}.fastq.gz"


def vcf_path(out_dir: Path, chrom: str) -> Path:
    return out_dir / names.VCF_DIR / names.VCF_NAME.format(chrom=chrom)


def expected_outputs(out_dir: str | Path, runs: list[str], chromosomes: list[str]) -> list[Path]:
    """Every file ``generate`` writes, for checks and for the Snakemake rule."""
    out_dir = Path(out_dir)
    gencode = out_dir / names.GENCODE_DIR
    paths = [
        gencode / n
        for n in (names.TRANSCRIPTS_FA, names.ANNOTATION_GTF, names.GENOME_FA, names.MD5SUMS)
    ]
    for chrom in chromosomes:
        paths += [vcf_path(out_dir, chrom), Path(f"{vcf_path(out_dir, chrom)}.tbi")]
    paths += [fastq_path(out_dir, run, mate) for run in runs for mate in (1, 2)]
    return paths + [
        out_dir / names.RUN_TABLE,
        out_dir / names.TRUTH_TABLE,
        out_dir / names.SQTL_TABLE,
        out_dir / names.SWAP_TABLE,
    ]


def library_name(individual: str, batch: str, replicate: int) -> str:
    """MAGE-style sequencing IDs: Coriell's GM numbers for NA IDs, '-batch-k' for extra replicates."""
    base = f"GM{individual[2:]}" if individual.startswith("NA") else individual
    return base if replicate == 0 else f"{base}-{batch}-{replicate}"


def _write_reference(model: DemoModel, tmp: Path) -> None:
    gencode = tmp / names.GENCODE_DIR
    gencode.mkdir(parents=True)
    write_transcripts_fasta(model.reference, gencode / names.TRANSCRIPTS_FA)
    write_gtf(model.reference, gencode / names.ANNOTATION_GTF)
    write_genome_fasta(model.reference, gencode / names.GENOME_FA)
    files = (names.TRANSCRIPTS_FA, names.ANNOTATION_GTF, names.GENOME_FA)
    (gencode / names.MD5SUMS).write_text("".join(f"{md5_of(gencode / f)}  {f}\n" for f in files))


def _write_reads(model: DemoModel, tmp: Path, final_dir: Path) -> pd.DataFrame:
    spec, plan = model.spec, model.plan
    transcriptome = Transcriptome.from_reference(model.reference, model.variants)
    sample_accession = {ind: f"SAMN9{k + 1:07d}" for k, ind in enumerate(model.cohort.individuals)}
    replicate_count: dict[str, int] = {}
    rows = []
    for run_row in model.cohort.runs:
        run, ind = run_row["run_accession"], run_row["individual"]
        n_pairs = plan.read_pairs[run]
        _, mates = library(model, run, transcriptome)
        md5s, sizes, urls = [], [], []
        for mate, codes in enumerate(mates, start=1):
            path = fastq_path(tmp, run, mate)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_fastq_gz(path, fastq_bytes(run, mate, codes))
            md5s.append(md5_of(path))
            sizes.append(str(path.stat().st_size))
            urls.append(fastq_path(final_dir, run, mate).as_uri())
        replicate = replicate_count.get(ind, 0)
        replicate_count[ind] = replicate + 1
        rows.append(
            {
                "run_accession": run,
                "sample_accession": sample_accession[ind],
                "sample_alias": ind,
                "sample_title": f"{ind} lymphoblastoid cell line RNA-seq",
                "library_name": library_name(ind, run_row["batch"], replicate),
                "read_count": n_pairs,
                "base_count": 2 * n_pairs * spec.read_length,
                "fastq_ftp": ";".join(urls),
                "fastq_md5": ";".join(md5s),
                "fastq_bytes": ";".join(sizes),
            }
        )
    return pd.DataFrame(rows, columns=list(RUN_TABLE_COLUMNS))


def write_model(model: DemoModel, out_dir: str | Path) -> list[Path]:
    """Write every file of ``model`` under ``out_dir`` (atomically); return their paths."""
    out_dir = Path(out_dir)
    final_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        log.info("writing reference (%d genes)", len(model.reference.genes))
        _write_reference(model, tmp)
        for chrom, variants in model.variants.items():
            log.info(
                "writing %s VCF (%d records, %d samples)",
                chrom,
                len(variants.pos),
                len(model.panel.people),
            )
            path = vcf_path(tmp, chrom)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_vcf(variants, model.reference, model.panel, path)
        log.info("writing reads of %d runs", len(model.cohort.runs))
        run_table = _write_reads(model, tmp, final_dir)
        model.plan.truth.to_csv(tmp / names.TRUTH_TABLE, sep="\t", index=False)
        model.plan.sqtls.to_csv(tmp / names.SQTL_TABLE, sep="\t", index=False)
        model.swap_table().to_csv(tmp / names.SWAP_TABLE, sep="\t", index=False)
        run_table.to_csv(tmp / names.RUN_TABLE, sep="\t", index=False)

        produced = expected_outputs(
            tmp, [r["run_accession"] for r in model.cohort.runs], list(model.variants)
        )
        # The run table goes last: its presence means the cohort is complete.
        produced.sort(key=lambda p: p.name == names.RUN_TABLE)
        finals = []
        for path in produced:
            dest = out_dir / path.relative_to(tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            finals.append(dest)
        return finals
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def generate(
    seed: int,
    individuals_path: str | Path,
    runs_path: str | Path,
    out_dir: str | Path,
    spec: DemoSpec = DemoSpec(),
) -> list[Path]:
    """Generate the demo cohort for the sheets; return the paths written."""
    cohort = load_cohort(individuals_path, runs_path)
    log.info(
        "demo cohort: seed %d, %d individuals, %d runs", seed, len(cohort.people), len(cohort.runs)
    )
    model = build_model(spec, seed, cohort)
    log.info(
        "planted %d single- and %d two-variant eGenes, %d sGenes",
        model.plan.n_single,
        model.plan.n_double,
        len(model.plan.sqtls),
    )
    return write_model(model, out_dir)
