"""The NYGC VCFs: sources per chromosome, download with index and md5, BGZF and index checks,
contig names and the cohort's samples in the header."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.sources import to_url
from kgpex.genotypes.plink import first_error

log = logging.getLogger(__name__)


# The empty BGZF block every complete bgzip file ends with (SAM/BAM spec, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def index_of(vcf: str | os.PathLike) -> Path | None:
    """The tabix (.tbi) or CSI (.csi) index beside ``vcf``, or None."""
    for suffix in (".tbi", ".csi"):
        candidate = Path(f"{vcf}{suffix}")
        if candidate.exists():
            return candidate
    return None


def check_bgzf(path: str | os.PathLike, threads: int = 1, label: str | None = None) -> None:
    """A complete, uncorrupted bgzip file: EOF block present and every block decompresses."""
    path = Path(path)
    label = label or str(path)
    size = path.stat().st_size
    if size < len(BGZF_EOF):
        raise KgpexError(f"{label}: {size} bytes: not a bgzip file (truncated download?)")
    with open(path, "rb") as fh:
        if fh.read(4) != BGZF_EOF[:4]:
            raise KgpexError(f"{label}: not bgzip-compressed (no BGZF header)")
        fh.seek(-len(BGZF_EOF), os.SEEK_END)
        if fh.read() != BGZF_EOF:
            raise KgpexError(f"{label}: no BGZF end-of-file block: the file is truncated")
    proc = subprocess.run(
        ["bgzip", "--test", "--threads", str(max(threads, 1)), str(path)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise KgpexError(f"{label}: corrupted bgzip data ({first_error(proc.stderr)})")


def vcf_contig(chrom: str, contigs: list[str], label: str) -> str:
    """The VCF's name for ``chrom``: itself, or its bare form (``22`` for ``chr22``).

    The one harmonisation rule: a VCF that writes chromosomes without the ``chr`` prefix is
    renamed to the prefixed names used everywhere else (GTF, BED, pvar). Anything else stops.
    """
    if chrom in contigs:
        return chrom
    bare = chrom.removeprefix("chr")
    if bare in contigs:
        return bare
    shown = ", ".join(contigs[:30]) + (" ..." if len(contigs) > 30 else "")
    raise KgpexError(
        f"{label}: chromosome {chrom} (or {bare}) is not in the VCF; its index lists: "
        f"{shown or 'no contigs'}"
    )


def index_contigs(vcf: str | os.PathLike, index: str | os.PathLike | None = None) -> list[str]:
    """Contigs with records, as the tabix/CSI index lists them."""
    import pysam

    index = index or index_of(vcf)
    if index is None:
        raise KgpexError(f"{vcf}: no index ({vcf}.tbi or .csi); index it with 'tabix -p vcf {vcf}'")
    try:
        with pysam.TabixFile(str(vcf), index=str(index)) as tbx:
            return list(tbx.contigs)
    except (OSError, ValueError) as err:
        raise KgpexError(f"{index}: not a readable index of {vcf} ({err})") from None


def check_index_answers(
    vcf: str | os.PathLike, index: str | os.PathLike, chrom: str, label: str | None = None
) -> str:
    """Query ``chrom`` through ``index``: the first record must come back, on that contig.

    Returns the VCF's contig name for ``chrom``. A stale or foreign index fails here.
    """
    import pysam

    label = label or str(vcf)
    contig = vcf_contig(chrom, index_contigs(vcf, index), label)
    try:
        with pysam.TabixFile(str(vcf), index=str(index)) as tbx:
            first = next(iter(tbx.fetch(contig)), None)
    except (OSError, ValueError, StopIteration) as err:
        raise KgpexError(
            f"{label}: the index does not answer a query of {contig} ({err})"
        ) from None
    if first is None or first.split("\t", 1)[0] != contig:
        raise KgpexError(f"{label}: the index does not answer a query of {contig} (stale index?)")
    return contig


def download_vcf(
    url: str,
    chrom: str,
    dest: str | os.PathLike,
    md5sums_url: str = "",
    threads: int = 1,
    options: dict | None = None,
) -> Path:
    """Fetch ``url`` and ``url.tbi`` to ``dest`` and ``dest.tbi``, verified.

    The index comes first (small, and a VCF without one is useless). The VCF must be complete
    bgzip (EOF block, every block decompresses), match the md5 in ``md5sums_url`` when one is
    configured (the VCF must be listed; the index is checked when listed), and its index must
    answer a query of ``chrom``. Both files get their final names only after all checks.
    """
    from kgpex.common.fetch import fetch, md5sums_lookup

    options = dict(options or {})
    dest = Path(dest)
    dest_tbi = Path(f"{dest}.tbi")
    url, tbi_url = to_url(url), to_url(url) + ".tbi"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
        tmp = Path(tmp)
        md5_vcf = md5_tbi = None
        if md5sums_url:
            md5sums = fetch(to_url(md5sums_url), tmp / "MD5SUMS", **options)
            md5_vcf = md5sums_lookup(md5sums, _url_name(url))
            try:
                md5_tbi = md5sums_lookup(md5sums, _url_name(tbi_url))
            except KgpexError:
                log.info(
                    "%s: no md5 listed for the index; it is checked by querying it", md5sums_url
                )
        tbi = fetch(tbi_url, tmp / "index.tbi", md5=md5_tbi, **options)

        def check(partial: Path) -> None:
            check_bgzf(partial, threads=threads)
            contig = check_index_answers(partial, tbi, chrom)
            log.info("%s: complete bgzip; index answers for %s", url, contig)

        fetch(url, dest, md5=md5_vcf, check=check, **options)
        os.replace(tbi, dest_tbi)
    # htslib warns when an index is older than its data file.
    os.utime(dest_tbi)
    return dest


def _url_name(url: str) -> str:
    from urllib.parse import unquote, urlparse

    return unquote(Path(urlparse(url).path).name)


def vcf_samples(vcf: str | os.PathLike) -> list[str]:
    import pysam

    try:
        with pysam.VariantFile(str(vcf)) as vf:
            return list(vf.header.samples)
    except (OSError, ValueError) as err:
        raise KgpexError(f"{vcf}: not a readable VCF ({err})") from None


def check_cohort_in_vcf(vcf: str | os.PathLike, individuals: list[str]) -> None:
    """Every cohort individual must be a sample of the VCF; list all who are not."""
    present = set(vcf_samples(vcf))
    missing = sorted(set(individuals) - present)
    if missing:
        raise KgpexError(
            f"{vcf}: {len(missing)} cohort individual(s) not among its {len(present)} samples: "
            + ", ".join(missing)
        )


def index_record_count(vcf: str | os.PathLike, contig: str) -> int | None:
    """Records on ``contig`` according to the index (bcftools index --stats), if it knows."""
    proc = subprocess.run(
        ["bcftools", "index", "--stats", str(vcf)], capture_output=True, text=True
    )
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] == contig and fields[2].isdigit():
            return int(fields[2])
    return None
