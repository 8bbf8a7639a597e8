"""Stage fastqtl (fastqtl.smk): FastQTL, MAGE's own mapper, writing the eqtl stage's tables."""
