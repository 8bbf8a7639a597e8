"""Stage eqtl (eqtl.smk): cis-eQTL mapping with tensorQTL, q-values, fine-mapping and MAGE's tables."""
