"""kgpex.quantify: salmon's read options and library type by run layout."""

from __future__ import annotations

import pytest

from kgpex.common.errors import KgpexError
from kgpex.quantify.salmon import fastq_inputs, library_type, read_options


def test_fastq_inputs_by_layout():
    assert fastq_inputs("r/download", "SRR1", "paired") == {
        "r1": ["r/download/SRR1_1.fastq.gz"],
        "r2": ["r/download/SRR1_2.fastq.gz"],
    }
    assert fastq_inputs("r/download", "SRR1", "single") == {"reads": ["r/download/single/SRR1.fastq.gz"]}
    with pytest.raises(KgpexError, match="run SRR1: layout 'mates' is not paired or single"):
        fastq_inputs("r/download", "SRR1", "mates")


def test_a_library_of_several_runs_gives_salmon_every_lane_mates_in_step():
    files = fastq_inputs("d", ["SRR2", "SRR1"], "paired")
    assert files == {"r1": ["d/SRR1_1.fastq.gz", "d/SRR2_1.fastq.gz"], "r2": ["d/SRR1_2.fastq.gz", "d/SRR2_2.fastq.gz"]}
    assert read_options("A", files) == "-l A -1 d/SRR1_1.fastq.gz d/SRR2_1.fastq.gz -2 d/SRR1_2.fastq.gz d/SRR2_2.fastq.gz"
    single = fastq_inputs("d", ["SRR9", "SRR3"], "single")
    assert read_options("IU", single) == "-l U -r d/single/SRR3.fastq.gz d/single/SRR9.fastq.gz"
    with pytest.raises(KgpexError, match="2 first-mate files but 1 second-mate"):
        read_options("A", {"r1": ["a", "b"], "r2": ["c"]})
    with pytest.raises(KgpexError, match="a library without runs"):
        fastq_inputs("d", [], "paired")


@pytest.mark.parametrize(
    "requested, paired, single",
    [("A", "A", "A"), ("IU", "IU", "U"), ("ISR", "ISR", "SR"), ("OSF", "OSF", "SF")],
)
def test_library_type_drops_the_mates_orientation_for_single_end(requested, paired, single):
    assert library_type(requested, "paired") == paired
    assert library_type(requested, "single") == single


def test_library_types_that_do_not_fit_the_layout_stop():
    with pytest.raises(KgpexError, match="'U' is not a paired-end type"):
        library_type("U", "paired")
    assert library_type("SR", "single") == "SR"
    with pytest.raises(KgpexError, match="'IX' has no single-end form"):
        library_type("IX", "single")


def test_read_options_choose_r_for_single_end_and_mates_for_paired():
    assert read_options("A", {"reads": "d/single/SRR1.fastq.gz"}) == "-l A -r d/single/SRR1.fastq.gz"
    assert read_options("IU", {"reads": "d/single/SRR1.fastq.gz"}) == "-l U -r d/single/SRR1.fastq.gz"
    assert read_options("IU", {"r1": "d/S_1.fq.gz", "r2": "d/S_2.fq.gz"}) == (
        "-l IU -1 d/S_1.fq.gz -2 d/S_2.fq.gz"
    )
    # Paths are quoted for the shell.
    assert read_options("A", {"reads": "my dir/x.fq.gz"}) == "-l A -r 'my dir/x.fq.gz'"
    with pytest.raises(KgpexError, match="needs 'reads' .* got: r1"):
        read_options("A", {"r1": "a"})
    with pytest.raises(KgpexError, match="got: reads, r1, r2"):
        read_options("A", {"reads": "x", "r1": "a", "r2": "b"})
