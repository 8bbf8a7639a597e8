"""The embedded demo cohort: a seeded generator of a small cohort in the real formats.

`make_sheets` gives the committed individuals and runs sheets; `generate` writes the reference,
phased VCFs, paired-end FASTQs with planted cis-eQTLs and splicing QTLs, an ENA-style run table
and the truth tables for those sheets. `DemoSpec` holds every size and rate, so tests can build a tiny cohort.
"""

from kgpex.demo.cohort import load_cohort, make_sheets, write_sheets
from kgpex.demo.generator import build_model, expected_outputs, generate, write_model
from kgpex.demo.spec import DemoSpec

__all__ = [
    "DemoSpec",
    "build_model",
    "expected_outputs",
    "generate",
    "load_cohort",
    "make_sheets",
    "write_model",
    "write_sheets",
]
