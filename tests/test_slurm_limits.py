"""kgpex.common.slurm: each partition's largest node from sinfo, the rules no node can run, and
the one line that stops the run (the onstart handler in workflow/rules/common.smk)."""

from __future__ import annotations

import sys

import pytest

from kgpex.common.errors import KgpexError
from kgpex.common.slurm import (
    ClusterLimits,
    NodeLimits,
    Request,
    check,
    format_misfits,
    misfits,
    parse_sinfo,
    run_sinfo,
)

# `sinfo --noheader --Node --format="%P %N %c %m"`: one line per node and partition; the
# default partition carries a "*"; node c2 is in two partitions.
SINFO = """\
debug* d1 2 1998
debug* d2 1 3900
long c1 16 64000
long c2 32 32000
big c2 32 32000
big m1 8 512000
"""
CLUSTER = parse_sinfo(SINFO)


def test_sinfo_gives_each_partitions_largest_cpus_and_memory_and_the_default():
    assert CLUSTER == ClusterLimits(
        partitions={
            "debug": NodeLimits(cpus=2, mem_mb=3900),
            "long": NodeLimits(cpus=32, mem_mb=64000),
            "big": NodeLimits(cpus=32, mem_mb=512000),
        },
        default="debug",
    )


def test_sinfo_without_a_default_partition():
    assert parse_sinfo("long c1 16 64000\n").default is None


@pytest.mark.parametrize(
    "text",
    ["", "debug* d1 2\n", "debug* d1 2 1998+\n", "PARTITION NODELIST CPUS MEMORY\n"],
)
def test_unexpected_sinfo_output_is_an_error(text):
    with pytest.raises(KgpexError, match="sinfo"):
        parse_sinfo(text)


def test_requests_that_fit_their_partition_pass():
    requests = [
        Request("small", "", threads=2, mem_mb=3900),
        Request("wide", "long", threads=32, mem_mb=1000),
        Request("fat", "big", threads=1, mem_mb=512000),
        Request("later", "", threads=1, mem_mb=None),
    ]
    assert misfits(requests, CLUSTER) == []


def test_too_many_threads_or_too_much_memory_for_the_partition():
    requests = [
        Request("salmon_index", "", threads=8, mem_mb=1000),
        Request("fat", "long", threads=1, mem_mb=64001),
        Request("fine", "big", threads=8, mem_mb=64001),
    ]
    found = misfits(requests, CLUSTER)
    assert [(m.request.rule, m.partition, m.limits) for m in found] == [
        ("salmon_index", "debug", NodeLimits(2, 3900)),
        ("fat", "long", NodeLimits(32, 64000)),
    ]


def test_the_largest_request_of_a_rule_counts():
    # "" is the default partition, named or not.
    requests = [
        Request("quant", "", threads=1, mem_mb=1000),
        Request("quant", "debug", threads=4, mem_mb=None),
        Request("quant", "", threads=1, mem_mb=5000),
    ]
    (found,) = misfits(requests, CLUSTER)
    assert found.request == Request("quant", "debug", threads=4, mem_mb=5000)


def test_a_partition_sinfo_does_not_list():
    (found,) = misfits([Request("map", "gpu", threads=1, mem_mb=1)], CLUSTER)
    assert (found.partition, found.limits) == ("gpu", None)


def test_no_default_partition_or_a_picked_one_means_the_largest_node_of_all():
    nodefault = ClusterLimits(CLUSTER.partitions, default=None)
    assert misfits([Request("a", "", threads=32, mem_mb=512000)], nodefault) == []
    assert misfits([Request("a", None, threads=32, mem_mb=512000)], CLUSTER) == []
    (found,) = misfits([Request("a", None, threads=33, mem_mb=1)], CLUSTER)
    assert (found.partition, found.limits) == (None, NodeLimits(32, 512000))
    assert format_misfits([found], CLUSTER).startswith(
        "no node of any partition (largest: 32 CPUs, 512000 MB) can run rule a (33 threads): "
    )


def test_one_rule_one_line():
    cluster = parse_sinfo("debug* d1 2 1998\n")
    line = format_misfits(misfits([Request("salmon_index", "", 8, 1000)], cluster), cluster)
    assert line == (
        "no node of SLURM partition debug (largest: 2 CPUs, 1998 MB) can run rule salmon_index "
        "(8 threads): lower it with --max-threads 2 or --set-threads salmon_index=2"
    )


def test_several_rules_and_partitions_still_one_line():
    requests = [
        Request("salmon_quant", "", 8, 1000),
        Request("salmon_index", "", 8, 16000),
        Request("fat", "long", 1, 70000),
        Request("tensorqtl", "gpu", 1, 1),
        Request("susie", "gpu", 1, 1),
    ]
    line = format_misfits(misfits(requests, CLUSTER), CLUSTER)
    assert "\n" not in line
    assert line == (
        "no node of SLURM partition debug (largest: 2 CPUs, 3900 MB) can run rule salmon_index "
        "(8 threads, 16000 MB); rule salmon_quant (8 threads); "
        "no node of SLURM partition long (largest: 32 CPUs, 64000 MB) can run rule fat "
        "(70000 MB); "
        "SLURM has no partition gpu (sinfo lists big, debug, long) for rules susie, tensorqtl: "
        "lower them with --max-threads 2 or --set-threads salmon_index=2 salmon_quant=2 and "
        "--set-resources salmon_index:mem_mb=3900 fat:mem_mb=64000; "
        "set slurm_partition to a partition sinfo lists"
    )


def test_check_answers_none_when_every_rule_fits():
    assert check([Request("salmon_index", "", 2, 1998)], "debug* d1 2 1998\n") is None
    line = check([Request("salmon_index", "", 8, 1998)], "debug* d1 2 1998\n")
    assert line.startswith("no node of SLURM partition debug ") and "salmon_index=2" in line


def test_run_sinfo_returns_its_output():
    assert run_sinfo([sys.executable, "-c", "print('debug* d1 2 1998')"]) == "debug* d1 2 1998\n"


def test_missing_sinfo_is_one_line():
    with pytest.raises(KgpexError, match=r"^no-such-sinfo not found: .*PATH$"):
        run_sinfo(["no-such-sinfo"])


def test_failing_sinfo_is_one_line():
    failing = [
        sys.executable,
        "-c",
        "import sys; sys.exit('slurm_load_partitions: Unable\\nto contact')",
    ]
    with pytest.raises(KgpexError, match=r"failed: slurm_load_partitions: Unable to contact$"):
        run_sinfo(failing)


def test_hanging_sinfo_is_one_line():
    with pytest.raises(KgpexError, match="no answer within 0.5 s"):
        run_sinfo([sys.executable, "-c", "import time; time.sleep(10)"], timeout=0.5)
