# Every path that one stage writes and another reads, named once; included right after
# common.smk (COHORT, TAG, RESULTS, LOGS and the config checks), before every stage. A stage's
# own intermediates stay in its rule file. Also here: the config's genotype sources, which
# preflight.smk checks before genotypes.smk downloads them (kgpex.common.sources).
import os.path
from urllib.parse import urlparse

from kgpex.common.sources import vcf_source

# MAGE's released layout (../shared MAGE_FORMATS.md): QTL_results/eQTL_results/...
MAGE = f"{RESULTS}/QTL_results/eQTL_results"
QUANTS = f"{MAGE}/expression_quants"

# samples.smk: the fetched run table (rule fetch_run_table), which a cohort of individuals alone
# has not, and the sheets of the checkpoint resolve_samples; every later stage reads these.
SAMPLES = f"{RESULTS}/samples"
RUN_TABLE = f"{SAMPLES}/run_table.tsv"
RESOLVED_INDIVIDUALS = f"{SAMPLES}/individuals.tsv"
RESOLVED_RUNS = f"{SAMPLES}/runs.tsv"
RESOLVED_SOURCES = f"{SAMPLES}/run_sources.tsv"
RUN_MAPPING = f"{SAMPLES}/run_mapping.tsv"

# preflight.smk: the checkpoint check_inputs writes it; every job that reads the checked files
# waits for it (AFTER_INPUTS_CHECKED).
INPUTS_CHECKED = f"{RESULTS}/preflight/inputs_checked.tsv"

# download.smk: each run's FASTQs (kgpex.quantify.salmon.fastq_inputs names them for salmon).
DOWNLOAD = f"{RESULTS}/download"

# reference.smk: the downloaded GENCODE files, the salmon index and the gene tables.
REFERENCE = f"{RESULTS}/reference"
REFERENCE_FILES = {
    "transcripts": f"{REFERENCE}/transcripts.fa.gz",
    "annotation": f"{REFERENCE}/annotation.gtf.gz",
    "genome": f"{REFERENCE}/genome.fa.gz",
}
SALMON_INDEX = f"{REFERENCE}/salmon_index"
GENES = f"{REFERENCE}/genes.tsv"
TX2GENE = f"{REFERENCE}/tx2gene.tsv"
# The genes table of whichever entry point made the expression (kgpex.reference.genes columns),
# which the MAGE tables and the plot read: the GTF's (GENES) for reads and for a matrix without
# an annotation table; the annotation table's (matrix_input.smk, import_gene_annotation) for a
# matrix with one, which then needs no reference at all (no GTF, no transcripts).
MATRIX_ANNOTATED = config["expression"]["input"] == "matrix" and bool(
    config["expression"]["matrix"]["annotation_url"]
)
# A phenotype BED (BED_INPUT, common.smk) brings its own: matrix_input.smk, import_phenotype_bed.
EXPRESSION_GENES = (
    f"{RESULTS}/expression/bed/genes.tsv"
    if BED_INPUT
    else f"{RESULTS}/expression/matrix/genes.tsv" if MATRIX_ANNOTATED else GENES
)
# Entry points whose genes table is not the GTF's: no reference is read at all.
OWN_GENES = MATRIX_ANNOTATED or BED_INPUT

# quantify.smk: salmon's folder per library ({library} is a wildcard: a run's accession, or the
# name of a library of several runs; kgpex.samples.libraries).
SALMON = f"{RESULTS}/salmon/{{library}}"
SALMON_QUANT = f"{SALMON}/quant.sf"
SALMON_LIB_FORMAT = f"{SALMON}/lib_format_counts.json"
SALMON_META_INFO = f"{SALMON}/aux_info/meta_info.json"

# alignment.smk: each library's STAR outputs ({library} is a wildcard), named as MAGE's
# ({library}.Aligned.sortedByCoord.out.bam); kgpex.alignment.star.library_outputs names them.
ALIGNMENT = f"{RESULTS}/alignment"
STAR_LIBRARY = f"{ALIGNMENT}/{{library}}/{{library}}"
STAR_BAM = f"{STAR_LIBRARY}.Aligned.sortedByCoord.out.bam"
STAR_BAI = f"{STAR_BAM}.bai"
STAR_LOG_FINAL = f"{STAR_LIBRARY}.Log.final.out"
# Its junctions in regtools' BED12, MAGE's name; splicing.smk clusters them.
STAR_INTRONS = f"{STAR_BAM}.junc"

# identity.smk: QTLtools mbv per library, and the call per run that select_libraries reads.
IDENTITY = f"{RESULTS}/identity"
IDENTITY_TABLE = f"{IDENTITY}/identity.tsv"

# expression.smk: the library kept for each individual (select_libraries), which splicing reads.
LIBRARY_CHOICE = f"{RESULTS}/expression/library_choice.tsv"

# splicing.smk: LeafCutter's intron usage, MAGE's sQTL phenotypes (QTL_results/sQTL_results/),
# which sqtl.smk maps.
SQTL_MAGE = f"{RESULTS}/QTL_results/sQTL_results"
SPLICING_QUANTS = f"{SQTL_MAGE}/splicing_quants"
SPLICING_BED = f"{SPLICING_QUANTS}/perind.counts.normed.genes.filtered.{TAG}.bed.gz"
SPLICING_TBI = f"{SPLICING_BED}.tbi"
SPLICING_GROUPS = f"{SPLICING_QUANTS}/phenotype_groups.{TAG}.txt"

# expression.smk (reads) or matrix_input.smk (matrix): either entry point writes these names.
INVERSE_NORMAL_BED = f"{QUANTS}/inverse_normal_TMM.filtered.TSS.{TAG}.bed.gz"
INVERSE_NORMAL_TBI = f"{INVERSE_NORMAL_BED}.tbi"
TMM_BED = f"{QUANTS}/TMM.filtered.TSS.{TAG}.bed.gz"
TMM_TBI = f"{TMM_BED}.tbi"
RAW_BED = f"{QUANTS}/raw_pseudocounts.filtered.TSS.{TAG}.bed.gz"
RAW_TBI = f"{RAW_BED}.tbi"
# MAGE's aFC-n input (normalize_and_filter.R): DESeq2 normalised counts, log2(x + 1), reads only.
DESEQ2_BED = (
    f"{QUANTS}/expression.filtered.DESeq2-normalized-logged-pseudocounts.{TAG}.bed.gz"
)
DESEQ2_TBI = f"{DESEQ2_BED}.tbi"
FILTERED_GENES = f"{MAGE}/expression_filteredGenes.{TAG}.txt.gz"
FILTERED_GENES_TBI = f"{FILTERED_GENES}.tbi"
TMM_FACTORS = f"{RESULTS}/expression/tmm_factors.tsv"
GENE_FILTER = f"{RESULTS}/expression/gene_filter.tsv.gz"

# genotypes.smk: each chromosome's cohort genotypes ({chrom} is a wildcard) and genotype PCs.
GENOTYPES = f"{RESULTS}/genotypes"
# download_vcf's copy of the config's VCF per chromosome (the NYGC panel, every sample).
GENOTYPE_VCF = f"{GENOTYPES}/vcf/{{chrom}}.vcf.gz"
GENOTYPE_PFILES = {
    ext: f"{GENOTYPES}/{{chrom}}.{ext}" for ext in ("pgen", "pvar", "psam")
}
GENOTYPE_PCS = f"{RESULTS}/covariates/genotype_pcs.tsv"
# The config's VCF per chromosome, and the local files behind its VCF, index and MD5SUMS, so
# the demo rule that writes them runs first (remote URLs give none).
GENOTYPE_MD5SUMS_URL = config["genotypes"]["md5sums_url"]
# genotypes.pgen (a local PLINK 2 fileset) replaces the VCFs.
GENOTYPE_PGEN = config["genotypes"]["pgen"]
VCF_SOURCES = (
    {}
    if GENOTYPE_PGEN
    else {chrom: vcf_source(config["genotypes"], chrom) for chrom in GENOTYPE_CHROMS}
)
# The user's own genotypes (a phenotype BED's cohort, or a pgen) are imported as they are by
# plink2 (genotypes.smk import_genotypes), not through the NYGC panel's checks.
USER_GENOTYPES = BED_INPUT or bool(GENOTYPE_PGEN)
VCF_LOCAL_INPUTS = {
    chrom: local_input(source)
    + local_input(f"{source}.tbi")
    + (local_input(GENOTYPE_MD5SUMS_URL) if GENOTYPE_MD5SUMS_URL else [])
    for chrom, source in VCF_SOURCES.items()
}

# covariates.smk: the covariates table both mappers read; the user's covariates
# (covariates.input, downloaded by download_user_inputs in matrix_input.smk), which
# check_inputs checks for the cohort's samples.
COVARIATES_TABLE = f"{QUANTS}/eQTL_covariates.tab.gz"
USER_INPUTS = f"{RESULTS}/expression/user_inputs"
USER_COVARIATES_SOURCE = config["covariates"]["input"]
USER_COVARIATES_FILE = (
    f"{USER_INPUTS}/covariates/{os.path.basename(urlparse(USER_COVARIATES_SOURCE).path)}"
    if USER_COVARIATES_SOURCE
    else None
)

# eqtl.smk (tensorqtl) and fastqtl.smk (fastqtl) write these per-chromosome tables, the eqtl
# stage reads those of eqtl.mapper ({mapper} and {chrom} are wildcards).
EQTL = f"{RESULTS}/eqtl"
EQTL_PERMUTATIONS = f"{EQTL}/{{mapper}}/permutations/{{chrom}}.tsv.gz"
EQTL_NOMINAL = f"{EQTL}/{{mapper}}/nominal/{{chrom}}.parquet"
