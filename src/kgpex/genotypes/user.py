"""The user's own genotypes (bring your own phenotypes): a VCF (GT or dosages) or a PLINK 2
fileset, imported as they are into the cohort's pgen of one chromosome (rule
``import_genotypes``, instead of ``cohort_genotypes``' NYGC-panel pipeline).

plink2 reads the source directly:
- VCF/BCF: dosages from FORMAT/DS when the header declares DS (``dosage=DS``: a VCF with DS and
  no GT works; hard calls then come from the dosages), else GT, phased or not; alleles are kept
  as written (FastQTL's example writes them literally as ``REF``/``ALT``).
- PLINK 2 fileset (``genotypes.pgen``): hard calls and dosages as stored.
The chromosome is selected as ``chr22`` or ``22`` (plink2 accepts either naming) and written
``chr``-prefixed; only the cohort's samples are kept, in sorted order; multi-allelic records
are dropped; ``--maf`` (``genotypes.maf``, dosage-based when dosages exist) filters in-sample.
Variant IDs become ``chrom:pos:ref:alt`` (kgpex.genotypes.variants; exact duplicate records
keep their first copy). The .psam is ``#IID SEX`` with SEX ``NA``: no chrX ploidy fix-up (the
source's calls are used as they are).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.genotypes.plink import publish_pfile, read_psam_ids, run_plink2
from kgpex.genotypes.variants import write_variant_ids

log = logging.getLogger(__name__)


def vcf_declares_dosages(vcf: str | Path) -> bool:
    """Whether the VCF header declares FORMAT/DS."""
    import pysam

    try:
        with pysam.VariantFile(str(vcf)) as fh:
            return "DS" in fh.header.formats
    except (OSError, ValueError) as err:
        raise KgpexError(f"{vcf}: cannot read the VCF header ({err})") from None


def source_args(vcf: str | None, pfile: str | None) -> list[str]:
    """plink2's input options for a VCF/BCF or a PLINK 2 fileset prefix."""
    if pfile:
        for ext in (".pgen", ".pvar", ".psam"):
            if not Path(pfile + ext).is_file():
                raise KgpexError(f"{pfile}{ext}: genotype file not found (genotypes.pgen)")
        return ["--pfile", pfile]
    if not vcf or not Path(vcf).is_file():
        raise KgpexError(f"{vcf}: genotype VCF not found")
    kind = "--bcf" if str(vcf).endswith(".bcf") else "--vcf"
    args = [kind, str(vcf)]
    if vcf_declares_dosages(vcf):
        args.append("dosage=DS")
    return args


def import_genotypes(
    chrom: str,
    samples: list[str],
    out_prefix: str | Path,
    vcf: str | None = None,
    pfile: str | None = None,
    maf: float = 0.0,
    id_max_allele_len: int = 100,
    threads: int = 1,
    memory_mb: int = 1500,
) -> int:
    """Write ``out_prefix``.pgen/.pvar/.psam: ``samples`` (sorted) on ``chrom``; returns the
    number of variants written."""
    out_prefix = Path(out_prefix)
    samples = sorted(samples)
    args = source_args(vcf, pfile)
    source = pfile or str(vcf)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_prefix.name}.", dir=out_prefix.parent) as tmp:
        tmp = Path(tmp)
        keep = tmp / "keep.txt"
        keep.write_text("#IID\n" + "".join(f"{s}\n" for s in samples))
        order = tmp / "order.txt"
        order.write_text("".join(f"{s}\n" for s in samples))
        bare = chrom.removeprefix("chr")
        filters = ["--max-alleles", "2"] + (["--maf", repr(float(maf))] if maf > 0 else [])
        try:
            run_plink2(
                [*args, "--chr", bare, "--keep", str(keep), *filters, "--make-pgen",
                 "--indiv-sort", "f", str(order), "--output-chr", "chrM"],
                tmp / "imported", threads, memory_mb, writes=f"{out_prefix}.pgen",
            )  # fmt: skip
        except KgpexError as err:
            if "No variants remaining" in str(err) or "No variants" in str(err):
                raise KgpexError(
                    f"{source}: no biallelic variant on {chrom} ({bare}) with MAF >= {maf} in "
                    f"the {len(samples)} cohort samples"
                ) from None
            raise KgpexError(f"{source}: {err}") from None
        imported = read_psam_ids(tmp / "imported.psam")
        if imported != samples:
            missing = [s for s in samples if s not in set(imported)]
            raise KgpexError(
                f"{source}: samples {', '.join(missing[:5]) or '(order)'} not imported "
                f"({len(missing)} missing)"
            )
        n_variants, duplicates = write_variant_ids(
            tmp / "imported.pvar", tmp / "named.pvar", id_max_allele_len
        )
        (tmp / "named.pvar").replace(tmp / "imported.pvar")
        final = tmp / "imported"
        if duplicates:
            log.warning("%s: %d exact duplicate record(s) removed (first copy kept), e.g. %s",
                        chrom, len(duplicates), duplicates[0].split("#")[0])
            (tmp / "duplicates.txt").write_text("\n".join(duplicates) + "\n")
            final = tmp / "deduplicated"
            run_plink2(["--pfile", str(tmp / "imported"), "--exclude", str(tmp / "duplicates.txt"),
                        "--make-pgen", "--output-chr", "chrM"], final, threads, memory_mb,
                       writes=f"{out_prefix}.pgen")  # fmt: skip
            n_variants -= len(duplicates)
        publish_pfile(final, out_prefix, [(s, "NA") for s in samples])
    log.info("%s: %d variants of %s imported for %d samples (%s)", chrom, n_variants, source,
             len(samples), " ".join(args[2:]) or "GT")
    return n_variants
