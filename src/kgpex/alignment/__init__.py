"""Stage alignment: STAR two-pass alignment of each library to the genome, with WASP tags from its
individual's heterozygous SNPs (MAGE's 01_align_dev.sh), for the identity check and splicing.

- :mod:`kgpex.alignment.star`: the STAR index (sjdbOverhang from the read length) and one
  library's alignment into a coordinate-sorted, indexed BAM, written under a hidden name and
  renamed into place only when whole.
- :mod:`kgpex.alignment.het_snps`: an individual's heterozygous biallelic SNPs, in MAGE's order
  of bcftools steps, as the VCF STAR's ``--varVCFfile`` reads.
"""
