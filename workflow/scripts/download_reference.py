"""download_reference: GENCODE transcripts and GTF (and genome for decoys), md5-checked."""

import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import _bootstrap  # noqa: F401

from kgpex.common.fetch import check_gzip, fetch, md5sums_lookup
from kgpex.common.rulescript import run


def main(snakemake):
    options = snakemake.params.options
    urls = snakemake.params.urls
    md5s = {}
    if snakemake.params.md5sums_url:
        outdir = Path(snakemake.output[0]).parent
        with tempfile.TemporaryDirectory(prefix=".md5sums.", dir=outdir) as tmp:
            md5sums = fetch(snakemake.params.md5sums_url, Path(tmp) / "MD5SUMS", **options)
            for name, url in urls.items():
                md5s[name] = md5sums_lookup(md5sums, unquote(Path(urlparse(url).path).name))
    for name, url in urls.items():
        fetch(url, getattr(snakemake.output, name), md5=md5s.get(name), check=check_gzip, **options)


run(main, snakemake)
