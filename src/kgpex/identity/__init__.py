"""Stage identity: does each library's RNA carry the genotypes of the individual it is labelled
with? QTLtools ``mbv`` (match BAM to VCF) counts, for every genotyped individual, how many of
its heterozygous and homozygous sites the library's reads agree with; ``kgpex.identity.mbv``
runs it, reads its table and calls each library a match, a swap or unclear."""
