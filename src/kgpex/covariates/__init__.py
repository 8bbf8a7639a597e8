"""Stage covariates (covariates.smk): hidden expression factors, genotype PCs and sex, joined by sample ID."""
