"""Rule make_demo_cohort: generate the demo cohort for the sheets (see kgpex.demo.generate)."""

from dataclasses import replace
from pathlib import Path

import _bootstrap  # noqa: F401

from kgpex.common.errors import KgpexError
from kgpex.common.rulescript import run
from kgpex.demo import DemoSpec, generate


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
