"""Rule star_align: one library's STAR two-pass alignment with WASP tags from its individual's
heterozygous SNPs (kgpex.alignment), into a sorted, indexed BAM renamed into place when whole;
with splicing on, also the BAM's junctions as MAGE's regtools step counted them
(kgpex.splicing.junctions; output.introns), read here while the BAM is at hand."""

import logging
import os
from pathlib import Path

import _bootstrap  # noqa: F401

from kgpex.alignment.het_snps import personal_vcf
from kgpex.alignment.star import align_library
from kgpex.common.rulescript import run
from kgpex.splicing.junctions import extract_junctions, write_junc

log = logging.getLogger("kgpex")


def main(snakemake):
    inputs = snakemake.input
    # Namedlist: `in` would test the values, not the names.
    paired = "r1" in inputs.keys()  # noqa: SIM118
    mates = [list(inputs.r1), list(inputs.r2)] if paired else [list(inputs.reads)]
    work = Path(snakemake.params.work)
    library, individual = snakemake.wildcards.library, snakemake.params.individual
    work.parent.mkdir(parents=True, exist_ok=True)
    # The personal VCF sits beside STAR's work folder (align_library empties that folder).
    het_vcf = work.parent / f".{library}.het_snps.vcf"
    try:
        n_snps = personal_vcf(list(inputs.het_snps), individual, het_vcf)
        log.info("%s (%s): %d heterozygous biallelic SNPs for WASP", library, individual, n_snps)
        outputs = {
            "Aligned.sortedByCoord.out.bam": snakemake.output.bam,
            "bai": snakemake.output.bai,
            "Log.final.out": snakemake.output.log_final,
            "SJ.out.tab": snakemake.output.junctions,
            "ReadsPerGene.out.tab": snakemake.output.gene_counts,
        }
        with open(snakemake.log.star, "w") as star_log:
            summary = align_library(
                inputs.index, mates, library, outputs, het_vcf if n_snps else None,
                snakemake.threads, snakemake.params.max_read_pairs, snakemake.params.two_pass,
                work, star_log,
            )  # fmt: skip
    finally:
        if het_vcf.exists():
            os.unlink(het_vcf)
    log.info(
        "%s: %s input read pairs, %s uniquely mapped",
        library, summary.get("Number of input reads"), summary.get("Uniquely mapped reads %"),
    )
    if "introns" in snakemake.output.keys():  # noqa: SIM118
        j = snakemake.params.junctions
        junctions = extract_junctions(snakemake.output.bam, j["anchor"], j["min_intron"],
                                      j["max_intron"])
        write_junc(junctions, snakemake.output.introns)
        log.info("%s: %d junctions (regtools -a %d -m %d -M %d)", library, len(junctions),
                 j["anchor"], j["min_intron"], j["max_intron"])


run(main, snakemake)  # noqa: F821
