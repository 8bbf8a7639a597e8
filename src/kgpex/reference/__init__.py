"""Stage reference (reference.smk): the GENCODE annotation as the genes table, tx2gene and the TSS BED."""
