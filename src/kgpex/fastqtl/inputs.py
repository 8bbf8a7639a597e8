"""FastQTL's inputs per chromosome: the phenotype BED split by chromosome, and the cohort genotypes
exported as a GT VCF in psam order (male chrX kept diploid), with ALT counts for the nominal pass.

The export (``export_genotypes_vcf``) writes a bgzipped, tabixed VCF with GT only (hard calls;
FastQTL reads DS when present, else GT), or GT and DS for every genotype when the pgen holds
dosages (imported user genotypes, kgpex.genotypes.user), the samples of the phenotype BED in psam order,
``chr``-prefixed contigs and IDs ``chrom:pos:ref:alt``. Sex is left out of the psam handed to
plink2, so male chrX calls stay diploid (0/0 or 1/1) as in the pgen and as tensorQTL reads them;
plink2 would otherwise write them haploid, which FastQTL cannot parse. The same run writes
in-sample ALT allele counts (``plink2 --freq counts``), from which the nominal table's ``af``
comes (FastQTL's nominal output has no allele direction).
"""

from __future__ import annotations

import gzip
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, phenotype_bed_header
from kgpex.genotypes.plink import has_dosages, read_psam_ids

log = logging.getLogger(__name__)


def split_phenotypes(bed: str | Path, chromosomes: list[str], outputs: dict[str, str]) -> dict:
    """Write one bgzipped, tabixed BED per chromosome (header kept); return genes per chromosome.

    A chromosome without genes still gets its file, with the header only.
    """
    import pysam

    header = phenotype_bed_header(bed)
    counts = {}
    with pysam.TabixFile(str(bed)) as tbx:
        indexed = set(tbx.contigs)
        for chrom in chromosomes:
            dest = Path(outputs[chrom])
            rows = list(tbx.fetch(chrom)) if chrom in indexed else []
            ids = [r.split("\t", 4)[3] for r in rows]
            if len(set(ids)) != len(ids):
                dup = next(i for i in ids if ids.count(i) > 1)
                raise KgpexError(f"{bed}: phenotype {dup} appears twice on {chrom}")
            with (
                atomic_path(dest.with_name(dest.name + ".tbi")) as tmp_tbi,
                atomic_path(dest) as tmp,
            ):
                plain = tmp.with_suffix(".bed")
                try:
                    with open(plain, "w") as fh:
                        fh.write("\t".join(header) + "\n")
                        for row in rows:
                            fh.write(row + "\n")
                    pysam.tabix_compress(str(plain), str(tmp), force=True)
                finally:
                    plain.unlink(missing_ok=True)
                pysam.tabix_index(str(tmp), preset="bed", meta_char="#", force=True)
                Path(str(tmp) + ".tbi").replace(tmp_tbi)
            counts[chrom] = len(rows)
            log.info("%s: %d phenotypes -> %s", chrom, len(rows), dest)
    return counts


def bed_phenotype_ids(path: str | Path) -> list[str]:
    """Phenotype IDs of a BED, in file order."""
    phenotype_bed_header(path)
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as fh:
        next(fh)
        return [line.split("\t", 4)[3] for line in fh if line.strip()]


def plink2_export_command(
    pgen_prefix: str, psam: str, keep: str, out_prefix: str, threads: int, memory_mb: int,
    dosages: bool = False,
) -> list[str]:
    """plink2: the kept samples' GT as a BGZF VCF with chr-prefixed contigs, plus ALT counts;
    with ``dosages``, FORMAT/DS for every genotype too (FastQTL then reads DS)."""
    return [
        "plink2",
        "--pgen", f"{pgen_prefix}.pgen",
        "--pvar", f"{pgen_prefix}.pvar",
        "--psam", psam,
        "--keep", keep,
        "--export", "vcf", "bgz", "id-paste=iid", *(["vcf-dosage=DS-force"] if dosages else []),
        "--freq", "counts",
        "--output-chr", "chrM",
        "--threads", str(threads),
        "--memory", str(memory_mb),
        "--out", out_prefix,
    ]  # fmt: skip


def export_genotypes_vcf(
    pgen_prefix: str | Path,
    samples: list[str],
    vcf_out: str | Path,
    counts_out: str | Path,
    threads: int = 1,
    memory_mb: int = 4000,
) -> None:
    """Export ``samples`` of a pgen trio to a tabixed VCF for FastQTL, and their ALT counts."""
    import pysam

    prefix = str(pgen_prefix)
    for ext in (".pgen", ".pvar"):
        if not Path(prefix + ext).exists():
            raise KgpexError(f"{prefix}{ext}: genotype file not found")
    psam_ids = read_psam_ids(prefix + ".psam")
    missing = [s for s in samples if s not in set(psam_ids)]
    if missing:
        raise KgpexError(
            f"{prefix}.psam: no genotypes for sample {missing[0]} ({len(missing)} missing)"
        )
    vcf_out, counts_out = Path(vcf_out), Path(counts_out)
    vcf_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export.", dir=vcf_out.parent) as tmp:
        tmp = Path(tmp)
        # IIDs only, no SEX: male chrX calls stay diploid (see the module docstring).
        (tmp / "nosex.psam").write_text("#IID\n" + "".join(f"{s}\n" for s in psam_ids))
        (tmp / "keep.txt").write_text("#IID\n" + "".join(f"{s}\n" for s in samples))
        cmd = plink2_export_command(
            prefix,
            str(tmp / "nosex.psam"),
            str(tmp / "keep.txt"),
            str(tmp / "out"),
            threads,
            memory_mb,
            # Imported dosages (genotypes.vcf_url with FORMAT/DS, bring your own genotypes).
            dosages=has_dosages(prefix),
        )
        log.info("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        plink_log = tmp / "out.log"
        if plink_log.exists():
            log.info("plink2 log:\n%s", plink_log.read_text())
        if proc.returncode != 0:
            raise KgpexError(
                f"plink2 export of {prefix} failed ({proc.returncode}): "
                f"{last_line(proc.stdout + proc.stderr)}"
            )
        vcf = tmp / "out.vcf.gz"
        pysam.tabix_index(str(vcf), preset="vcf", force=True)
        exported = vcf_header_samples(vcf)
        if sorted(exported) != sorted(samples):
            raise KgpexError(
                f"{vcf_out}: plink2 exported {len(exported)} samples, expected {len(samples)}"
            )
        with atomic_path(counts_out) as t_counts:
            shutil.move(tmp / "out.acount", t_counts)
        with (
            atomic_path(vcf_out.with_name(vcf_out.name + ".tbi")) as t_tbi,
            atomic_path(vcf_out) as t_vcf,
        ):
            shutil.move(str(vcf) + ".tbi", t_tbi)
            shutil.move(vcf, t_vcf)


def read_alt_frequencies(path: str | Path) -> pd.Series:
    """In-sample ALT allele frequency by variant ID from a plink2 ``--freq counts`` .acount file."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: allele counts not found")
    df = pd.read_csv(path, sep="\t", dtype={"ID": str})
    for col in ("ID", "ALT_CTS", "OBS_CT"):
        if col not in df.columns:
            raise KgpexError(f"{path} line 1: column {col} missing")
    if df["ID"].duplicated().any():
        raise KgpexError(f"{path}: variant {df['ID'][df['ID'].duplicated()].iloc[0]} appears twice")
    obs = df["OBS_CT"].to_numpy(dtype=float)
    af = np.divide(
        df["ALT_CTS"].to_numpy(dtype=float), obs, out=np.full(len(df), np.nan), where=obs > 0
    )
    return pd.Series(af, index=df["ID"].to_numpy(), name="af")


def last_line(text: str) -> str:
    """A tool's last non-empty output line (its error, as a rule)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def vcf_header_samples(vcf: str | Path) -> list[str]:
    """Sample IDs of a VCF's header, in column order."""
    import pysam

    with pysam.VariantFile(str(vcf)) as fh:
        return list(fh.header.samples)
