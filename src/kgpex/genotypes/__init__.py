"""Stage genotypes (genotypes.smk): NYGC VCFs -> cohort PLINK 2 genotypes per chromosome, and genotype PCs."""
