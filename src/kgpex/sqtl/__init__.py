"""Stage sqtl (sqtl.smk): MAGE's sQTL release from the intron phenotypes: the gene-level merge of
intron credible sets (``gene_level``) and MAGE's sQTL tables (``tables``). The mapping itself
runs through kgpex.eqtl (grouped tensorQTL) and kgpex.fastqtl (FastQTL --grp)."""
