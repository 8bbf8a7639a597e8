"""A real single-node SLURM cluster on this machine, for tests that submit through profiles/slurm.

The cluster is this host as both controller and compute node: its own munged (own key and
socket), slurmctld and slurmd, all started here and stopped here by their own PIDs, with state,
spool and logs in a temporary directory. It needs root and the Debian packages slurm-wlm and
munge (``make setup`` installs them); without them the tests that use it are skipped.

Batch jobs read /etc/slurm/slurm.conf (SLURM_CONF does not reach them), so the configuration is
written there, but only where no file is there or a stale one of ours (first line MARKER) is;
it is removed when the cluster stops. A lock file keeps two test sessions from running a
cluster at once. No accounting daemon runs: job states come from ``squeue`` (MinJobAge keeps
finished jobs listed) and every completed job is logged by jobcomp/filetxt.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

MARKER = "# Written by kgpex's tests (tests/slurm_cluster.py); removed when the test cluster stops."
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
LOCK = Path(tempfile.gettempdir()) / "kgpex-slurm-cluster.lock"
PARTITION = "kgpex"
COMMANDS = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "munged", "mungekey")
# squeue must still list a job when the plugin polls after it ended; also keeps records for
# tests that read job states after a long run.
MIN_JOB_AGE = 86400
START_TIMEOUT = 60
LOCK_TIMEOUT = 3600


@dataclass(frozen=True)
class SlurmCluster:
    """A running test cluster."""

    partition: str
    cpus: int
    real_memory_mb: int
    # jobcomp/filetxt: one line of KEY=value fields per job that ended.
    jobcomp_log: Path
    state_dir: Path

    def submit_args(self, profile: Path) -> list[str]:
        """Snakemake options that submit through ``profile`` to this cluster."""
        return [
            "--profile",
            str(profile),
            # No slurmdbd here: sacct cannot answer (MinJobAge keeps jobs in squeue) and cannot
            # guess an account (plugin 2.8.0 still tries, and only warns).
            "--slurm-status-command",
            "squeue",
            "--slurm-no-account",
            # Jobs of a few seconds: poll soon and often (defaults: first after 40 s, then every
            # 10 s; 150 jobs one after another on 2 CPUs took over 30 minutes).
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--seconds-between-status-checks",
            "2",
            # sbatch rejects more CPUs than the node has; local runs cap threads at --cores.
            "--max-threads",
            str(self.cpus),
            # The node's size as global limits (Snakemake sizes group jobs to fit them).
            "--cores",
            str(self.cpus),
            "--resources",
            f"mem_mb={self.real_memory_mb}",
        ]

    def finished_jobs(self) -> dict[str, dict[str, str]]:
        """Every job the controller saw end, by job ID: its jobcomp fields (JobState, Name, ...)."""
        jobs: dict[str, dict[str, str]] = {}
        if not self.jobcomp_log.exists():
            return jobs
        for line in self.jobcomp_log.read_text().splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
        return jobs


def unavailable_reason() -> str | None:
    """Why no test cluster can run here, or None."""
    if os.geteuid() != 0:
        return "the SLURM test cluster needs root (slurmd runs jobs as their user)"
    missing = [command for command in COMMANDS if shutil.which(command) is None]
    if missing:
        return (
            f"{', '.join(missing)} not on PATH: install the Debian packages slurm-wlm and munge "
            "(`make setup` does, as root)"
        )
    if SYSTEM_CONF.exists() and not _ours(SYSTEM_CONF):
        return f"{SYSTEM_CONF} belongs to a real SLURM installation; the test leaves it alone"
    return None


def _ours(conf: Path) -> bool:
    with conf.open() as handle:
        return handle.readline().rstrip("\n") == MARKER


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def node_hardware() -> dict[str, str]:
    """This host as slurmd sees it: `slurmd -C`'s NodeName line as fields."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("NodeName="))
    return dict(item.split("=", 1) for item in line.split())


def slurm_conf(
    state: Path, munge_socket: Path, node: dict[str, str], ctld_port: int, slurmd_port: int
) -> str:
    """A minimal cgroup-free configuration: this host as controller and only node."""
    host = node["NodeName"]
    hardware = " ".join(
        f"{key}={node[key]}"
        for key in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
        if key in node
    )
    return "\n".join(
        [
            MARKER,
            "ClusterName=kgpex-test",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            f"StateSaveLocation={state}/ctld",
            f"SlurmdSpoolDir={state}/slurmd",
            f"SlurmctldPidFile={state}/slurmctld.pid",
            f"SlurmdPidFile={state}/slurmd.pid",
            f"SlurmctldLogFile={state}/slurmctld.log",
            f"SlurmdLogFile={state}/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={state}/jobcomp.log",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "ReturnToService=2",
            f"MinJobAge={MIN_JOB_AGE}",
            f"NodeName={host} NodeAddr=127.0.0.1 {hardware} "
            f"RealMemory={node['RealMemory']} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


@contextmanager
def _exclusive_lock() -> Iterator[None]:
    with LOCK.open("a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another test cluster held {LOCK} for an hour") from None
                time.sleep(5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"({path} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _start(command: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for(check, what: str, logs: list[Path], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            details = "\n".join(f"--- {log}:\n{_tail(log)}" for log in logs)
            raise RuntimeError(f"test cluster: {what} within {timeout} s\n{details}")
        time.sleep(0.5)


def _node_idle() -> bool:
    proc = subprocess.run(
        ["sinfo", "-h", "-p", PARTITION, "-o", "%T"], capture_output=True, text=True
    )
    return proc.returncode == 0 and proc.stdout.strip() == "idle"


def _queue_empty() -> bool:
    proc = subprocess.run(["squeue", "-h", "-p", PARTITION], capture_output=True, text=True)
    return proc.returncode != 0 or not proc.stdout.strip()


@contextmanager
def running_cluster() -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd; yield the cluster; stop them and clean up."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    # A SIGTERM (a CI time limit, `timeout`) must still stop the daemons and remove the
    # configuration: turn it into an exception the finally below sees.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with _cluster() as cluster:
            yield cluster
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def _cluster() -> Iterator[SlurmCluster]:
    with _exclusive_lock(), tempfile.TemporaryDirectory(prefix="kgpex-slurm-") as tmp:
        state = Path(tmp)
        # munged and slurmd refuse sockets and spools under a directory others cannot enter.
        state.chmod(0o755)
        for sub in ("ctld", "slurmd"):
            (state / sub).mkdir()
        munge_socket = state / "munge.socket"
        node = node_hardware()
        processes: dict[str, subprocess.Popen] = {}
        wrote_conf = False
        try:
            subprocess.run(
                ["mungekey", "--create", "--keyfile", str(state / "munge.key")],
                check=True,
                capture_output=True,
            )
            processes["munged"] = _start(
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--socket={munge_socket}",
                    f"--key-file={state / 'munge.key'}",
                    f"--pid-file={state / 'munged.pid'}",
                    f"--seed-file={state / 'munged.seed'}",
                    f"--log-file={state / 'munged.log'}",
                ],
                state / "munged.out",
            )
            _wait_for(munge_socket.exists, "munged did not open its socket", [state / "munged.out"])

            # Re-checked under the lock: a foreign configuration may have appeared meanwhile.
            if SYSTEM_CONF.exists() and not _ours(SYSTEM_CONF):
                pytest.skip(f"{SYSTEM_CONF} belongs to a real SLURM installation")
            SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
            conf_text = slurm_conf(state, munge_socket, node, _free_port(), _free_port())
            SYSTEM_CONF.write_text(conf_text)
            wrote_conf = True

            conf = ["-f", str(SYSTEM_CONF)]
            processes["slurmctld"] = _start(
                ["slurmctld", "-D", "-c", "-i", *conf], state / "slurmctld.out"
            )
            processes["slurmd"] = _start(["slurmd", "-D", *conf], state / "slurmd.out")
            logs = [
                state / name
                for name in ("slurmctld.out", "slurmctld.log", "slurmd.out", "slurmd.log")
            ]

            def up() -> bool:
                for name, process in processes.items():
                    if process.poll() is not None:
                        details = "\n".join(f"--- {log}:\n{_tail(log)}" for log in logs)
                        raise RuntimeError(
                            f"test cluster: {name} exited ({process.returncode})\n{details}"
                        )
                return _node_idle()

            _wait_for(up, "the node did not become idle", logs)
            yield SlurmCluster(
                partition=PARTITION,
                cpus=int(node["CPUs"]),
                real_memory_mb=int(node["RealMemory"]),
                jobcomp_log=state / "jobcomp.log",
                state_dir=state,
            )
        finally:
            if "slurmctld" in processes and processes["slurmctld"].poll() is None:
                # Jobs left by a failed test must not outlive the cluster.
                subprocess.run(["scancel", "-p", PARTITION], capture_output=True)
                try:
                    _wait_for(_queue_empty, "cancelled jobs did not leave the queue", [], 60)
                except RuntimeError:
                    pass
            for name in ("slurmd", "slurmctld", "munged"):
                _stop(processes.get(name))
            if wrote_conf and SYSTEM_CONF.exists() and _ours(SYSTEM_CONF):
                SYSTEM_CONF.unlink()


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A running single-node cluster for the tests of one module (skipped where none can run)."""
    with running_cluster() as cluster:
        yield cluster
