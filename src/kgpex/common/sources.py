"""Where a file comes from: a URL, or a local path that is read through a file:// URL.

Config values may be http(s)://, ftp:// or file:// URLs, or plain paths relative to the
working directory (the demo's mirror). Plain paths become file:// URLs so that local files go
through exactly the same download code as remote ones.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

REMOTE_SCHEMES = ("http", "https", "ftp")


def local_path(source: str) -> Path | None:
    """The local file behind ``source``, or None when it is remote."""
    parsed = urlparse(source)
    if parsed.scheme in REMOTE_SCHEMES:
        return None
    if parsed.scheme == "file":
        return Path(parsed.path)
    return Path(source)


def to_url(source: str) -> str:
    """A URL for ``source``: remote URLs unchanged, local paths as absolute file:// URLs."""
    path = local_path(source)
    return source if path is None else path.resolve().as_uri()


def with_scheme(url: str, scheme: str = "https") -> str:
    """ENA's fastq_ftp entries come without a scheme ('ftp.sra.ebi.ac.uk/vol1/...')."""
    return url if "://" in url else f"{scheme}://{url}"


def vcf_source(genotypes_config: dict, chrom: str) -> str:
    """The configured URL or path of ``chrom``'s VCF (NYGC names chrX's file differently)."""
    if chrom == "chrX" and genotypes_config.get("vcf_url_chrX"):
        return genotypes_config["vcf_url_chrX"]
    return genotypes_config["vcf_url"].replace("{chrom}", chrom)
