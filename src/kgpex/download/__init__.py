"""Stage download (download.smk): each run's FASTQs, checked, with the SRA fallback."""
