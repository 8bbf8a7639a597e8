"""Stage report (report.smk): plots of a run's own outputs for the Snakemake report
(``snakemake --report``). ``plots`` has, for each plot, a data function that reads what is
plotted from the run's files (unit-tested on its own) and a plot function that draws it in kgpex's
one plotting style (kgpex.common.plotting): mapping rates and library types per library,
expression PCA by population and batch, the gene-level p-value QQ plot, lead variant distances
to the TSS, credible sets, aFC-n effect sizes and eGenes per chromosome.
"""
