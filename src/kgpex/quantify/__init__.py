"""Stage quantify (quantify.smk): salmon quant's read options per run."""
