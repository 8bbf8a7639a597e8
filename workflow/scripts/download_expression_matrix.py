"""download_expression_matrix: the matrix, its TPM matrix and annotation table (URLs or paths)."""

import _bootstrap  # noqa: F401

from kgpex.common.fetch import fetch
from kgpex.common.rulescript import run


def main(snakemake):
    for name, url in snakemake.params.urls.items():
        fetch(url, getattr(snakemake.output, name), **snakemake.params.options)


run(main, snakemake)  # noqa: F821
