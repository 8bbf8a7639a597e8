"""The SNPs QTLtools mbv compares a library's reads with: the cohort's common biallelic SNPs
inside exons (eQTL Catalogue's practice), autosomes only.

Exons come from the GTF (merged intervals), so the panel is where RNA-seq reads land; a common
SNP (minor allele frequency >= ``min_maf`` among the cohort's individuals) is heterozygous in
many individuals and tells them apart. Split records of one multiallelic site are merged and
then dropped (``norm -m+snps``, then ``-m2 -M2``), as for the WASP VCFs. chrX is left out:
males' hemizygous calls would read as homozygous discordance for a female's reads.
"""

from __future__ import annotations

import gzip
import shlex
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path
from kgpex.common.shell import run_pipeline


def exon_intervals(gtf: str | Path, chromosomes: list[str]) -> list[tuple[str, int, int]]:
    """The GTF's exons on ``chromosomes`` as merged 0-based half-open intervals, in the order
    of ``chromosomes`` then position."""
    keep = set(chromosomes)
    by_chrom: dict[str, list[tuple[int, int]]] = {c: [] for c in chromosomes}
    opener = gzip.open if str(gtf).endswith(".gz") else open
    with opener(gtf, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            fields = line.split("\t", 5)
            if len(fields) > 4 and fields[2] == "exon" and fields[0] in keep:
                by_chrom[fields[0]].append((int(fields[3]) - 1, int(fields[4])))
    merged = []
    for chrom in chromosomes:
        end = -1
        for start, stop in sorted(by_chrom[chrom]):
            if merged and merged[-1][0] == chrom and start <= end:
                end = max(end, stop)
                merged[-1] = (chrom, merged[-1][1], end)
            else:
                merged.append((chrom, start, stop))
                end = stop
    if not merged:
        raise KgpexError(f"{gtf}: no exon on {', '.join(chromosomes)}")
    return merged


def common_exonic_snps(vcfs: list[str | Path], gtf: str | Path, individuals: list[str],
                       chromosomes: list[str], min_maf: float, dest: str | Path) -> int:  # fmt: skip
    """Write the panel (bgzipped, tabix-indexed VCF of the cohort's individuals) to ``dest``;
    return its number of SNPs."""
    dest = Path(dest)
    with atomic_path(dest, suffix=".vcf.gz") as tmp:
        bed, samples = Path(f"{tmp}.exons.bed"), Path(f"{tmp}.samples.txt")
        try:
            bed.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in exon_intervals(gtf, chromosomes)))
            samples.write_text("".join(f"{ind}\n" for ind in individuals))
            parts = []
            for vcf in vcfs:
                # Subset first, so that the allele frequency filter sees the cohort only.
                parts.append(
                    f"bcftools view --no-version -S {shlex.quote(str(samples))} -R "
                    f"{shlex.quote(str(bed))} -v snps -Ou {shlex.quote(str(vcf))}"
                    " | bcftools norm --no-version -m+snps -Ou"
                    f" | bcftools view --no-version -m2 -M2 -q {min_maf}:minor -Ob"
                )
            pieces = [Path(f"{tmp}.{k}.bcf") for k in range(len(parts))]
            for part, piece in zip(parts, pieces):
                run_pipeline(f"{part} -o {shlex.quote(str(piece))}", f"common exonic SNPs of {vcfs[0]}")
            run_pipeline(
                "bcftools concat --no-version -Oz -o " + shlex.quote(str(tmp)) + " "
                + " ".join(shlex.quote(str(p)) for p in pieces),
                "common exonic SNPs",
            )
            n = int(run_pipeline(f"bcftools view -H {shlex.quote(str(tmp))} | wc -l", "count").strip())
            if n == 0:
                raise KgpexError(
                    f"{dest}: no common (MAF >= {min_maf}) biallelic SNP of the cohort lies in "
                    "an exon: the identity check has nothing to compare"
                )
            run_pipeline(f"tabix -f -p vcf {shlex.quote(str(tmp))}", "tabix")
            # The index travels with the file it indexes.
            Path(f"{tmp}.tbi").replace(f"{dest}.tbi")
        finally:
            for path in [bed, samples, *Path(tmp).parent.glob(f"{Path(tmp).name}.*.bcf")]:
                path.unlink(missing_ok=True)
    return n

