"""Stage splicing (splicing.smk): LeafCutter intron-excision phenotypes as MAGE made them.
``junctions`` counts each BAM's junctions as regtools did, ``clusters`` pools and clusters them
as leafcutter_cluster_regtools.py does, and ``genes``, ``filters``, ``normalize`` and
``phenotypes`` turn the per-library counts into MAGE's intron phenotype BED and groups."""
