"""Whether a SLURM cluster can run each rule at all, checked before the first job is submitted.

sbatch accepts a job that asks for more CPUs than any node of its partition has; it pends with
Reason=PartitionConfig forever, and Snakemake polls it without a word. (More memory than any
node has, sbatch refuses, but only when the job's turn comes, maybe hours into the run, and
each retry asks for more.) So the onstart handler in
workflow/rules/common.smk compares what each rule asks (threads, mem_mb) with the largest node of
its partition, as ``sinfo`` reports them, and stops the run with one line naming the rules.

The largest CPU count and the largest memory of a partition are taken over its nodes separately,
so a request is reported only when no node can run it whatever else it asks: never a false stop.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from kgpex.common.errors import KgpexError

# One line per node and partition (--Node): partition (the default one with a trailing "*"),
# node, CPUs, memory in MB. Only lines grouping several nodes show a minimum with a "+" ("250+",
# man sinfo, --exact); --Node prints no such line.
SINFO_COMMAND = ["sinfo", "--noheader", "--Node", "--format=%P %N %c %m"]
SINFO_TIMEOUT = 60


@dataclass(frozen=True)
class NodeLimits:
    """The largest CPU count and the largest memory (MB) among a partition's nodes."""

    cpus: int
    mem_mb: int


@dataclass(frozen=True)
class ClusterLimits:
    partitions: dict[str, NodeLimits]
    # The partition sbatch uses when none is given (None: sinfo marks none).
    default: str | None


@dataclass(frozen=True)
class Request:
    """What one rule asks of SLURM."""

    rule: str
    # "": the cluster's default partition; None: any partition (the plugin picks one, with
    # --slurm-partition-config).
    partition: str | None
    threads: int
    # None: not known yet (it depends on inputs not made yet).
    mem_mb: int | None = None


@dataclass(frozen=True)
class Misfit:
    """A request no node can run: its partition (None: any) and that partition's largest node
    (None: sinfo lists no such partition)."""

    request: Request
    partition: str | None
    limits: NodeLimits | None


def parse_sinfo(text: str) -> ClusterLimits:
    """``SINFO_COMMAND``'s output as each partition's largest node."""
    partitions: dict[str, NodeLimits] = {}
    default = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4 or not (fields[2].isdigit() and fields[3].isdigit()):
            raise KgpexError(
                f"sinfo line {number}: expected 'PARTITION NODE CPUS MEMORY_MB', got {line.strip()!r}"
            )
        name, cpus, mem_mb = fields[0], int(fields[2]), int(fields[3])
        if name.endswith("*"):
            name = name[:-1]
            default = name
        known = partitions.get(name, NodeLimits(0, 0))
        partitions[name] = NodeLimits(max(known.cpus, cpus), max(known.mem_mb, mem_mb))
    if not partitions:
        raise KgpexError("sinfo lists no SLURM nodes")
    return ClusterLimits(partitions, default)


def misfits(requests: Iterable[Request], cluster: ClusterLimits) -> list[Misfit]:
    """The requests no node of their partition can run: per partition and rule the largest
    request, sorted by partition and rule."""
    worst: dict[tuple[str, str], Request] = {}
    for request in requests:
        # None: any partition may take it (no partition named and no default, or the plugin
        # picks one), so its largest node is the largest of all.
        partition = request.partition or (None if request.partition is None else cluster.default)
        key = (partition or "", request.rule)
        threads, mems = request.threads, [request.mem_mb]
        if key in worst:
            threads = max(threads, worst[key].threads)
            mems.append(worst[key].mem_mb)
        mems = [m for m in mems if m is not None]
        worst[key] = Request(request.rule, partition, threads, max(mems) if mems else None)
    everywhere = NodeLimits(
        max(p.cpus for p in cluster.partitions.values()),
        max(p.mem_mb for p in cluster.partitions.values()),
    )
    found = []
    for _, request in sorted(worst.items()):
        if request.partition is None:
            limits = everywhere
        elif request.partition not in cluster.partitions:
            found.append(Misfit(request, request.partition, None))
            continue
        else:
            limits = cluster.partitions[request.partition]
        if request.threads > limits.cpus or (
            request.mem_mb is not None and request.mem_mb > limits.mem_mb
        ):
            found.append(Misfit(request, request.partition, limits))
    return found


def format_misfits(found: list[Misfit], cluster: ClusterLimits) -> str:
    """One line (the caller adds "kgpex: "): per partition its largest node and each rule with
    what it asks beyond that node, rules separated by "; ", then what to do."""
    clauses: list[str] = []
    set_threads, max_threads, set_memory = [], [], []
    unknown: dict[str, list[str]] = {}
    previous: object = ()
    for misfit in found:
        request, limits = misfit.request, misfit.limits
        if limits is None:
            unknown.setdefault(misfit.partition, []).append(request.rule)
            continue
        asks = []
        if request.threads > limits.cpus:
            asks.append(f"{request.threads} threads")
            set_threads.append(f"{request.rule}={limits.cpus}")
            max_threads.append(limits.cpus)
        if request.mem_mb is not None and request.mem_mb > limits.mem_mb:
            asks.append(f"{request.mem_mb} MB")
            set_memory.append(f"{request.rule}:mem_mb={limits.mem_mb}")
        rule = f"rule {request.rule} ({', '.join(asks)})"
        if misfit.partition != previous:
            # The first rule of each partition names it and its largest node.
            where = f"SLURM partition {misfit.partition}" if misfit.partition else "any partition"
            largest = f"largest: {limits.cpus} CPUs, {limits.mem_mb} MB"
            rule = f"no node of {where} ({largest}) can run {rule}"
            previous = misfit.partition
        clauses.append(rule)
    fixes = []
    if set_threads:
        fixes.append(f"--max-threads {min(max_threads)} or --set-threads {' '.join(set_threads)}")
    if set_memory:
        fixes.append(f"--set-resources {' '.join(set_memory)}")
    if fixes:
        fixes = [f"lower {'it' if len(clauses) == 1 else 'them'} with {' and '.join(fixes)}"]
    for name, rules in unknown.items():
        clauses.append(
            f"SLURM has no partition {name} (sinfo lists {', '.join(sorted(cluster.partitions))}) "
            f"for rule{'s' if len(rules) > 1 else ''} {', '.join(rules)}"
        )
    if unknown:
        fixes.append("set slurm_partition to a partition sinfo lists")
    return f"{'; '.join(clauses)}: {'; '.join(fixes)}"


def run_sinfo(command: list[str] = SINFO_COMMAND, timeout: float = SINFO_TIMEOUT) -> str:
    """``sinfo``'s output; KgpexError (one line) if it is missing, fails or hangs."""
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise KgpexError(
            f"{command[0]} not found: the SLURM executor needs SLURM's commands on PATH"
        ) from None
    except subprocess.TimeoutExpired:
        raise KgpexError(f"{command[0]} gave no answer within {timeout:g} s") from None
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise KgpexError(f"{' '.join(command)} failed: {detail}")
    return proc.stdout


def check(requests: Iterable[Request], sinfo_output: str | None = None) -> str | None:
    """The one line to stop with, or None when some node can run every request."""
    cluster = parse_sinfo(run_sinfo() if sinfo_output is None else sinfo_output)
    found = misfits(requests, cluster)
    return format_misfits(found, cluster) if found else None


def workflow_requests(workflow) -> Iterable[Request]:
    """What each SLURM job of this run asks (kgpex.common.slurm.Request): every job of the DAG
    that needs to run, and every other rule at attempt 1 (a lower bound), since the jobs after
    the checkpoint resolve_samples are not in the DAG yet. Threads and resources are Snakemake's
    own, after --max-threads, --set-threads, --set-resources and default-resources. A group job
    asks for the most of its rules' (one run per group job); --group-components bundles can
    ask for more, and are not checked."""
    from snakemake.common.tbdstring import TBDString
    from snakemake.exceptions import WorkflowError
    from snakemake.iocontainers import InputFiles

    # --slurm-partition-config lets the plugin pick a partition for jobs that name none.
    picks = bool(
        getattr(workflow.executor_settings, "partition_config", None)
        or os.environ.get("SNAKEMAKE_SLURM_PARTITIONS")
    )

    def request(name, resources):
        mem_mb, partition = resources.get("mem_mb"), resources.get("slurm_partition")
        if isinstance(partition, TBDString):
            partition = None  # not evaluated: compare with any partition
        elif not partition:
            partition = None if picks else ""
        # mem_mb is a TBD string while it depends on inputs not made yet: unknown.
        mem_mb = mem_mb if isinstance(mem_mb, int) else None
        return Request(name, partition, resources["_cores"], mem_mb)

    # Local jobs (rule all, localrules) run in this process and never reach SLURM.
    for job in workflow.dag.needrun_jobs():
        if not job.is_local:
            yield request(job.rule.name, job.resources)
    # No wildcards, no inputs, attempt 1.
    empty = InputFiles()
    for each in workflow.rules:
        if workflow.is_local(each):
            continue
        try:
            resources = each.expand_resources({}, empty, 1)
        except WorkflowError:
            # A resource that needs the rule's wildcards or named inputs (len(input.quant)):
            # without them, the rule's threads and partition alone.
            keep = {"_cores", "slurm_partition"}
            skip = {n for n, r in each.resources.items() if r.is_evaluable()} - keep
            try:
                resources = each.expand_resources({}, empty, 1, skip_evaluation=skip)
            except WorkflowError:
                # Threads that need wildcards: nothing to compare without them.
                continue
        yield request(each.name, resources)
