def genotype_outputs():
    return []
