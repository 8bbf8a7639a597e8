"""An individual's heterozygous biallelic SNPs for STAR's WASP tagging (``--varVCFfile``).

MAGE (01_align_dev.sh) built each personal VCF from the NYGC panel: subset to the individual,
SNPs only, no missing genotype, heterozygous only, ``bcftools norm -m+`` (so an individual
carrying two different ALT alleles of one site, split over two records, gets one multiallelic
record), biallelic only (``-m2 -M2``); chr1-22 always, chrX for females only.

kgpex splits the work in two so that a 3,202-sample VCF is read once per chromosome, not once
per library: rule split_het_snps runs ``bcftools +split`` over each chromosome (SNPs only, every
cohort individual in one pass, each output keeping its heterozygous records), and each
alignment job then finishes its own individual's file here (concatenate the chromosomes, merge
split records, keep biallelic ones) and gives STAR the plain-text VCF it reads.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.shell import run_pipeline

# bcftools +split names a sample's file after the sample, with these characters replaced.
_SPLIT_UNSAFE = str.maketrans({c: "_" for c in " \t:/\\"})


def split_file_name(individual: str) -> str:
    """The file ``bcftools +split -Oz`` writes for ``individual``."""
    return f"{individual.translate(_SPLIT_UNSAFE)}.vcf.gz"


def split_command(vcf: str, samples_file: str, out_dir: str) -> str:
    """A shell pipeline: every cohort individual's heterozygous SNP records of one chromosome,
    one bgzipped VCF per individual in ``out_dir`` (MAGE's first four steps)."""
    # +split applies -i to each output sample, not to the site (checked on bcftools 1.16 in
    # tests/test_alignment.py), so each file keeps the records where its own sample is het.
    return (
        f"bcftools view --no-version -v snps -Ou {shlex.quote(vcf)}"
        f" | bcftools +split -S {shlex.quote(samples_file)} -i 'GT=\"het\"' -Oz"
        f" -o {shlex.quote(out_dir)}"
    )


def chromosomes_for(chromosomes: list[str], sex: str) -> list[str]:
    """MAGE's personal VCFs hold chrX for females only and chrY never."""
    return [c for c in chromosomes if c != "chrY" and (c != "chrX" or sex == "female")]


def personal_vcf(split_dirs: list[str | Path], individual: str, dest: str | Path) -> int:
    """Write ``individual``'s heterozygous biallelic SNPs from its per-chromosome +split files
    (one per folder of ``split_dirs``, in chromosome order) as plain-text VCF at ``dest``;
    return the number of records. One line when a folder lacks the individual's file."""
    files = []
    for folder in split_dirs:
        path = Path(folder) / split_file_name(individual)
        if not path.exists():
            raise KgpexError(f"{folder}: no heterozygous-SNP file for {individual} ({path.name})")
        files.append(str(path))
    # concat keeps chromosome order; norm -m+snps merges an individual's split records of one
    # site (two different ALT alleles), which -m2 -M2 then drops, as MAGE's order does.
    pipeline = (
        "bcftools concat --no-version -Ou " + " ".join(shlex.quote(f) for f in files)
        + " | bcftools norm --no-version -m+snps -Ou"
        + " | bcftools view --no-version -m2 -M2 -v snps -Ov -o " + shlex.quote(str(dest))
    )
    run_pipeline(pipeline, f"heterozygous SNPs of {individual}")
    with open(dest) as fh:
        return sum(1 for line in fh if not line.startswith("#"))
