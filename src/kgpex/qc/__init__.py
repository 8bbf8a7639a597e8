"""Stage qc (qc.smk): what a user looks at first. ``multiqc`` runs MultiQC over salmon's
per-library folders with a generated config (libraries named "library (individual)", offline,
no version check); ``summary`` writes the run's summary table (runs used, pooled and excluded
with reasons, individuals, genes tested, eGenes) as TSV and as a small standalone HTML page."""
