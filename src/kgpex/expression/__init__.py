"""Stage expression (expression.smk): library choice, gene-level counts, MAGE's filter, TMM and the TSS BED matrices."""
