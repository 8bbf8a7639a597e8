"""The knobs of the demo cohort, and the seeded random streams every part draws from."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

# File names under the generated folder; config/config.yaml points at exactly these.
GENCODE_DIR = "mirror/gencode"
TRANSCRIPTS_FA = "gencode.vDEMO.transcripts.fa.gz"
ANNOTATION_GTF = "gencode.vDEMO.annotation.gtf.gz"
GENOME_FA = "GRCh38.DEMO.genome.fa.gz"
MD5SUMS = "MD5SUMS"
VCF_DIR = "mirror/vcf"
VCF_NAME = "DEMO_{chrom}.filtered.shapeit2-duohmm-phased.vcf.gz"
FASTQ_DIR = "mirror/fastq"
RUN_TABLE = "ena_filereport.tsv"
TRUTH_TABLE = "truth_eqtls.tsv"
SWAP_TABLE = "truth_swaps.tsv"
SQTL_TABLE = "truth_sqtls.tsv"


@dataclass(frozen=True)
class DemoSpec:
    """Everything that shapes the demo cohort besides the seed. Defaults make the shipped demo."""

    # Sheets: individuals with RNA-seq, how many were sequenced three times, and batches.
    n_individuals: int = 100
    n_triplicates: int = 5
    n_batches: int = 4
    # Reference: chromosome lengths set how many variants fall in each TSS +-1 Mb window.
    chrom_lengths: tuple[tuple[str, int], ...] = (("chr21", 3_000_000), ("chr22", 3_500_000))
    chrM_length: int = 16_569
    n_genes: int = 300  # on the autosomes; chrM genes come on top
    n_mito_genes: int = 3
    max_isoforms: int = 4
    lncrna_fraction: float = 0.15
    min_transcript_length: int = 400
    # Genotypes: panel-only samples make the panel bigger than the cohort, as in NYGC's 3,202.
    n_panel_only: int = 40
    variants_per_kb: float = 0.8
    ld_block_kb: float = 25.0  # mean length of a block sharing one genealogy: sets the LD range
    # Common SNPs in exons on top of the sites above, so reads show each individual's alleles
    # at enough heterozygous sites for an RNA-vs-genotype identity check (QTLtools mbv).
    exonic_snps_per_kb: float = 2.0  # per kb of exonic sequence (union of a chromosome's exons)
    exonic_snp_min_maf: float = 0.2  # cohort MAF of each exonic SNP: common, often heterozygous
    # Planted cis-eQTLs.
    n_single_egenes: int = 70
    n_double_egenes: int = 14
    n_heterogeneous_egenes: int = 6  # single eGenes whose effect flips sign in one continental group
    egene_pool_fraction: float = 0.5  # eGenes are drawn from this top fraction by expression
    causal_min_maf: float = 0.05
    n_hidden_factors: int = 3
    # Planted splicing QTLs (kgpex.demo.sqtls), on eGenes and other genes alike (a switch keeps
    # the gene's reads).
    n_sgenes: int = 14
    sqtl_log_odds: tuple[float, float] = (2.0, 3.5)  # |beta|, log-odds per ALT allele, uniform
    sqtl_preferred_maf: float = 0.25  # least causal MAF, where a SNP near the TSS has it
    # (otherwise causal_min_maf)
    # Least expected junction reads per library (of all its pairs, which the demo aligns) of
    # an sGene: on the switch isoform's alternative introns and the introns competing with them
    # (LeafCutter's cluster) together, and on the rarer of the two sides.
    sqtl_min_junction_reads: float = 15.0
    sqtl_min_minor_reads: float = 2.5
    # Reads.
    read_pairs: int = 25_000  # mean read pairs of a library at depth 1
    read_length: int = 75
    fragment_mean: float = 250.0
    fragment_sd: float = 40.0
    error_rate_range: tuple[float, float] = (0.002, 0.005)
    # Sample swaps: pairs of single-run individuals whose runs carry each other's reads.
    n_swapped_pairs: int = 1

    @property
    def chromosomes(self) -> list[str]:
        return [c for c, _ in self.chrom_lengths]


def rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent stream per purpose, so changing one part never reshuffles another."""
    words = [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF]
    for key in keys:
        words.append(zlib.crc32(key.encode()) if isinstance(key, str) else int(key) & 0xFFFFFFFF)
    return np.random.default_rng(np.random.SeedSequence(words))
