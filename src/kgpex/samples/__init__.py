"""Stage samples (samples.smk): the run table, the metadata each method joins runs to, and the checkpoint that resolves individuals, runs and their sources."""
