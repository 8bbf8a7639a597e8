"""Rule make_demo_cohort: generate the demo cohort for the sheets (see kgpex.demo.generate)."""

import _bootstrap  # noqa: F401

from dataclasses import replace
from pathlib import Path

from kgpex.demo import DemoSpec, generate
from kgpex.errors import KgpexError
from kgpex.rulescript import run


def main(snakemake):
    spec = replace(DemoSpec(), read_pairs=int(snakemake.params.read_pairs))
    out_dir = Path(snakemake.output.run_table).parent
    written = {
        str(p)
        for p in generate(
            int(snakemake.params.seed),
            snakemake.input.individuals,
            snakemake.input.runs,
            out_dir,
            spec,
        )
    }
    # The rule's declared outputs and the generator's layout must agree exactly.
    missing = [p for p in snakemake.output if str(p) not in written]
    if missing:
        raise KgpexError(f"make_demo_cohort: generator did not write declared output {missing[0]}")


run(main, snakemake)
