"""Stage provenance (provenance.smk): a provenance.json in every folder of final outputs."""
