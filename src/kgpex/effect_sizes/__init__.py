"""Stage effect_sizes (effect_sizes.smk): effect sizes and population-aware tests of the
fine-mapped lead variants, as MAGE computed them. ``arms`` decides which arms a run has;
``covariate_correction`` is MAGE's per-gene regression of significant covariates out of the
expression; ``afcn`` is the aFC-n model (log2 allelic fold change of each lead variant, joint over
the gene's leads, from phased haplotypes) and the rule's orchestration; ``interaction`` is the
genotype x continental-group interaction test.
"""
