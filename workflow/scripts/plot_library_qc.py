"""Rule plot_library_qc: library sizes by batch with the kept library marked; library types."""

import _bootstrap  # noqa: F401
import pandas as pd

from kgpex.common.rulescript import run
from kgpex.expression.libraries import plot_library_qc, read_library_choice


def main(snakemake):
    types = pd.read_csv(snakemake.input.types, sep="\t", dtype={"library": str, "batch": str})
    plot_library_qc(types, read_library_choice(snakemake.input.choice), snakemake.output.plot)


run(main, snakemake)  # noqa: F821
