"""A full disk, on a small tmpfs each test mounts (tests/diskfull.py): atomic table writes,
rule scripts, downloads, bcftools/plink2 and salmon (the rules' own shell commands) each stop with
one line naming the path and "no space left on device", leave nothing under a final name, and
succeed once space is freed."""

from __future__ import annotations

import ast
import errno
import gzip
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from diskfull import small_disk
from faultserver import FaultServer
from kgpex.common import diskspace
from kgpex.common.diskspace import SHELL_DISK_CHECK, NoSpaceError, mount_point
from kgpex.common.errors import KgpexError
from kgpex.common.fetch import fetch
from kgpex.common.io import atomic_path, write_bgzip_indexed, write_parquet, write_table
from kgpex.genotypes import cohort as genotypes_cohort
from kgpex.genotypes.plink import run_plink2

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(retries=3, backoff=0.001, timeout=10)
NO_SPACE = "no space left on device"


@pytest.fixture
def disk(tmp_path):
    with small_disk(tmp_path / "disk", "4m") as mounted:
        yield mounted


def one_line_about(text: str, path, rule: str | None = None) -> str:
    """The one line of ``text`` that reports the full disk; it must name ``path``."""
    lines = [line for line in text.splitlines() if NO_SPACE in line]
    assert len(lines) == 1, f"expected one '{NO_SPACE}' line, got:\n{text}"
    line = lines[0]
    if rule:
        assert line.startswith(f"kgpex error in rule {rule}: "), line
    assert str(path) in line, f"{path} not named: {line}"
    assert "then rerun the same command" in line, line
    return line


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != ".filler")


# -- atomic writes -----------------------------------------------------------------------------


def table(rows: int = 30_000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {"chr": "chr1", "start": np.arange(rows) * 10 + 1, "end": np.arange(rows) * 10 + 2,
         "value": rng.random(rows)}
    )


WRITERS = {
    "tsv": (lambda df, d: write_table(df, d, index=False), "t.tsv"),
    "gzip tsv": (lambda df, d: write_table(df, d, index=False), "t.tsv.gz"),
    "parquet": (write_parquet, "t.parquet"),
    "bgzip + tabix": (lambda df, d: write_bgzip_indexed(df, d, 0, 1, 2, header_prefix="#"),
                      "t.bed.gz"),
}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_table_write_on_a_full_disk_is_one_line_and_leaves_nothing(disk, kind):
    write, name = WRITERS[kind]
    out = disk.path / "tables"
    out.mkdir()
    dest = out / name
    disk.fill(leave=8192)
    with pytest.raises(NoSpaceError) as caught:
        write(table(), dest)
    message = str(caught.value)
    assert "\n" not in message
    line = one_line_about(message, dest)
    assert line.startswith(f"{dest}: {NO_SPACE} (")
    assert f"free space on {disk.path}, then rerun the same command" in line
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ENOSPC
    assert leftovers(out) == [], "a partial or temporary file was left"

    disk.free()
    write(table(), dest)
    assert sorted(leftovers(out)) == sorted([name] + ([name + ".tbi"] if "tabix" in kind else []))


def test_atomic_path_names_the_destination_for_an_exceeded_quota(tmp_path):
    dest = tmp_path / "out" / "x.tsv"
    with pytest.raises(KgpexError) as caught:
        with atomic_path(dest):
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    line = one_line_about(str(caught.value), dest)
    assert "disk quota exceeded" in line and "raise the quota" in line
    assert leftovers(dest.parent) == []


def test_other_os_errors_pass_unchanged(tmp_path):
    with pytest.raises(PermissionError):
        with atomic_path(tmp_path / "x.tsv"):
            raise PermissionError(errno.EACCES, "denied")


def test_mount_point_and_free_space(disk):
    assert mount_point(disk.path / "not" / "yet" / "made.tsv") == disk.path
    disk.fill(leave=0)
    assert diskspace.free_bytes(disk.path) == 0
    assert diskspace.tool_ran_out_of_space("[E::bgzf_flush] File write failed", disk.path)
    disk.free()
    assert not diskspace.tool_ran_out_of_space("[E::bgzf_flush] File write failed", disk.path)
    assert diskspace.tool_ran_out_of_space("Error: No space left on device.", disk.path)


# -- rule scripts ------------------------------------------------------------------------------

RULE_SCRIPT = """
import errno, sys
sys.path.insert(0, {src!r})
from types import SimpleNamespace
from kgpex.common.rulescript import run

mode, disk = sys.argv[1], sys.argv[2]

def main(snakemake):
    import logging
    log = logging.getLogger("kgpex.test")
    if mode == "write":  # a plain open()/write(): the OSError carries no file name
        with open(disk + "/out/big.bin", "wb") as fh:
            for _ in range(64):
                fh.write(b"x" * (1 << 16))
                log.info("wrote a block")  # the log file lies on the full disk too
    elif mode == "named":
        raise OSError(errno.ENOSPC, "No space left on device", disk + "/out/named.tsv")
    else:
        raise OSError(errno.EIO, "Input/output error")

snakemake = SimpleNamespace(rule="write_things", log=[disk + "/logs/write_things.log"],
                            output=[disk + "/out/a.tsv", disk + "/out/b.tsv"])
run(main, snakemake)
"""


def run_rule_script(tmp_path: Path, mode: str, disk) -> subprocess.CompletedProcess:
    script = tmp_path / "rule_script.py"
    script.write_text(RULE_SCRIPT.format(src=str(ROOT / "src")))
    return subprocess.run([sys.executable, str(script), mode, str(disk.path)],
                          capture_output=True, text=True, timeout=60)


def test_rule_script_on_a_full_disk_ends_with_one_line(tmp_path, disk):
    (disk.path / "out").mkdir()
    (disk.path / "logs").mkdir()
    disk.fill(leave=16384)
    proc = run_rule_script(tmp_path, "write", disk)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Logging error" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kgpex error in rule")]
    assert len(errors) == 1, proc.stderr
    # No file name in the OSError: the rule's output folder is named.
    one_line_about(errors[0], disk.path / "out", rule="write_things")

    proc = run_rule_script(tmp_path, "named", disk)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kgpex error in rule")]
    assert len(errors) == 1
    one_line_about(errors[0], disk.path / "out" / "named.tsv", rule="write_things")

    # Any other OSError is a bug to see whole: a traceback, as before.
    proc = run_rule_script(tmp_path, "other", disk)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert "kgpex error in rule" not in proc.stderr


# -- downloads ---------------------------------------------------------------------------------


def test_file_download_on_a_full_disk(tmp_path, disk):
    data = random.Random(1).randbytes(600_000)
    source = tmp_path / "reads_1.fastq.gz"
    source.write_bytes(data)
    dest = disk.path / "download" / "SRR1_1.fastq.gz"
    disk.fill(leave=200_000)
    with pytest.raises(NoSpaceError) as caught:
        fetch(source.as_uri(), dest, size=len(data), **FAST)
    line = one_line_about(str(caught.value), dest)
    assert f"while downloading {source.as_uri()}" in line
    assert leftovers(dest.parent) == [], "a local copy restarts anyway: nothing may stay"

    disk.free()
    fetch(source.as_uri(), dest, size=len(data), **FAST)
    assert dest.read_bytes() == data
    assert leftovers(dest.parent) == [dest.name]


def test_http_download_on_a_full_disk_is_not_retried_and_resumes(disk):
    data = random.Random(2).randbytes(1_500_000)
    dest = disk.path / "download" / "SRR1_1.fastq.gz"
    dest.parent.mkdir()
    disk.fill(leave=400_000)
    with FaultServer() as server:
        url = server.add("/SRR1_1.fastq.gz", data)
        with pytest.raises(NoSpaceError) as caught:
            fetch(url, dest, size=len(data), **FAST)
        one_line_about(str(caught.value), dest)
        assert len(server.requests()) == 1, "a full disk was retried"
        assert not dest.exists()
        partial = dest.with_name(dest.name + ".partial")
        held = partial.stat().st_size
        assert 0 < held < len(data) and partial.read_bytes() == data[:held]

        disk.free()
        fetch(url, dest, size=len(data), **FAST)
        assert dest.read_bytes() == data
        assert server.requests()[-1].range == f"bytes={held}-", "the rerun did not resume"
    assert leftovers(dest.parent) == [dest.name]


def test_sra_fallback_on_a_full_disk_names_the_fastqs(tmp_path, disk, monkeypatch):
    from kgpex.download.reads import sra_to_fastq

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {
        "prefetch": 'mkdir -p "$5/$1" && touch "$5/$1/$1.sra"\n',
        # fasterq-dump <dir> --split-files --threads N --outdir OUT --temp TMP; says nothing useful
        "fasterq-dump": 'mkdir -p "$6"; head -c 8000000 /dev/zero > "$6/SRR3_1.fastq" 2>/dev/null'
                        ' || { echo "err: storage exhausted" >&2; exit 3; }\n',
    }.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = disk.path / "download"
    disk.fill(leave=1 << 20)
    with pytest.raises(NoSpaceError) as caught:
        sra_to_fastq("SRR3", out)
    line = one_line_about(str(caught.value), f"{out}/SRR3_1.fastq.gz, {out}/SRR3_2.fastq.gz")
    assert "in the SRA fallback for SRR3 (fasterq-dump)" in line
    assert leftovers(out) == []


# -- bcftools and plink2 -----------------------------------------------------------------------

SAMPLES = [f"HG{i:05d}" for i in range(1, 41)]


def write_cohort_vcf(path: Path, records: int = 4000) -> Path:
    rng = random.Random(3)
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr22,length=50818468>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                   *SAMPLES]),
    ]
    for i in range(records):
        gts = [f"{rng.randint(0, 1)}|{rng.randint(0, 1)}" for _ in SAMPLES]
        lines.append("\t".join(["chr22", str(1000 + 10 * i), ".", "A", "G", ".", "PASS", ".",
                                "GT", *gts]))
    plain = path.with_suffix("")
    plain.write_text("\n".join(lines) + "\n")
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return path


def test_genotypes_on_a_full_disk_name_the_pgen(tmp_path, disk):
    vcf = write_cohort_vcf(tmp_path / "chr22.vcf.gz")
    sexes = {s: ("male" if i % 2 else "female") for i, s in enumerate(SAMPLES)}
    out = disk.path / "genotypes" / "chr22"
    out.parent.mkdir()
    # Room for the small files, not for the cohort BCF: bcftools fails ("File write failed").
    disk.fill(leave=16384)
    with pytest.raises(NoSpaceError) as caught:
        genotypes_cohort.cohort_genotypes(vcf, "chr22", sexes, out, maf=0.01)
    line = one_line_about(str(caught.value), f"{out}.pgen")
    assert "in bcftools view" in line
    assert leftovers(out.parent) == [], "the temporary folder or a partial set was left"

    disk.free()
    assert genotypes_cohort.cohort_genotypes(vcf, "chr22", sexes, out, maf=0.01) == 4000
    assert leftovers(out.parent) == ["chr22.pgen", "chr22.psam", "chr22.pvar"]


def test_plink2_on_a_full_disk_names_the_output(tmp_path, disk):
    vcf = write_cohort_vcf(tmp_path / "chr22.vcf.gz")
    bcf = tmp_path / "cohort.bcf"
    subprocess.run(["bcftools", "view", "-Ob", "-o", str(bcf), str(vcf)], check=True)
    disk.fill(leave=8192)
    with pytest.raises(NoSpaceError) as caught:
        run_plink2(["--bcf", str(bcf), "--make-pgen"], disk.path / "imported", 1, 1000,
                   writes="results/genotypes/chr22.pgen")
    line = one_line_about(str(caught.value), "results/genotypes/chr22.pgen")
    assert "in plink2 --bcf" in line
    disk.free()
    run_plink2(["--bcf", str(bcf), "--make-pgen"], disk.path / "imported", 1, 1000)
    assert (disk.path / "imported.pgen").stat().st_size > 0


# -- salmon, through the rules' own shell commands ---------------------------------------------


def rule_shell(rule_file: str, rule: str) -> str:
    """The shell command of ``rule`` in ``rule_file`` (its string literals, joined)."""
    text = (ROOT / "workflow" / "rules" / rule_file).read_text()
    body = text[text.index(f"rule {rule}:") :]
    body = body[body.index("    shell:\n") + len("    shell:\n") :]
    literals = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if not stripped.startswith(('"', "'", 'f"')):
            break
        literals.append(ast.literal_eval(stripped))
    assert literals, f"no shell command found for rule {rule}"
    return "".join(literals)


def salmon_index_files() -> str:
    text = (ROOT / "workflow" / "rules" / "reference.smk").read_text()
    match = re.search(r"^SALMON_INDEX_FILES = (\(.*?\n\))", text, re.S | re.M)
    return ast.literal_eval(match.group(1))


def run_rule_shell(command: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    # As Snakemake runs a shell rule: bash in strict mode.
    return subprocess.run(["bash", "-c", "set -euo pipefail; " + command], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def random_seq(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def revcomp(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


@pytest.fixture(scope="module")
def salmon_inputs(tmp_path_factory):
    """A tiny transcriptome (GENCODE-style names), its index, and 4000 read pairs from it."""
    from snakemake.utils import format as sm_format

    root = tmp_path_factory.mktemp("salmon")
    rng = random.Random(4)
    transcripts = {f"ENST{i:011d}.1|ENSG{i:011d}.1|-|-|T{i}|G{i}|1500|protein_coding|":
                   random_seq(rng, 1500) for i in range(40)}
    fasta = root / "transcripts.fa.gz"
    with gzip.open(fasta, "wt") as fh:
        for name, seq in transcripts.items():
            fh.write(f">{name}\n{seq}\n")
    seqs = list(transcripts.values())
    with gzip.open(root / "r_1.fastq.gz", "wt") as m1, gzip.open(root / "r_2.fastq.gz", "wt") as m2:
        for i in range(4000):
            seq = rng.choice(seqs)
            start = rng.randrange(0, len(seq) - 300)
            frag = seq[start : start + 300]
            m1.write(f"@r{i}/1\n{frag[:100]}\n+\n{'I' * 100}\n")
            m2.write(f"@r{i}/2\n{revcomp(frag)[:100]}\n+\n{'I' * 100}\n")
    index = root / "salmon_index"
    params = SimpleNamespace(kmer=31, decoys="", disk_check=SHELL_DISK_CHECK,
                             index_files=salmon_index_files())
    command = sm_format(rule_shell("reference.smk", "salmon_index"),
                        input=SimpleNamespace(targets=str(fasta)), output=str(index),
                        params=params, threads=2, log=str(root / "index.log"))
    proc = run_rule_shell(command, root)
    assert proc.returncode == 0, proc.stderr + (root / "index.log").read_text()
    return SimpleNamespace(root=root, fasta=fasta, index=index, params=params)


def quant_command(inputs, salmon_dir: Path, run: str, log: Path) -> str:
    from snakemake.utils import format as sm_format

    reads = f"-l A -1 {inputs.root / 'r_1.fastq.gz'} -2 {inputs.root / 'r_2.fastq.gz'}"
    params = SimpleNamespace(outdir=str(salmon_dir / run),
                             partial=str(salmon_dir / f".{run}.partial"),
                             reads=reads, extra="", disk_check=SHELL_DISK_CHECK)
    return sm_format(rule_shell("quantify.smk", "salmon_quant"),
                     input=SimpleNamespace(index=str(inputs.index)), params=params, threads=2,
                     log=str(log))


@pytest.mark.parametrize("leave", [0, 40_000])
def test_salmon_quant_on_a_full_disk(salmon_inputs, disk, tmp_path, leave):
    # salmon 1.10 itself exits 0 here: every file empty (leave 0), or quant.sf written and
    # aux_info/meta_info.json empty (40 kB).
    salmon_dir = disk.path / "salmon"
    salmon_dir.mkdir()
    command = quant_command(salmon_inputs, salmon_dir, "SRR1", tmp_path / "quant.log")
    disk.fill(leave=leave)
    proc = run_rule_shell(command, tmp_path)
    assert proc.returncode == 1, proc.stderr
    one_line_about(proc.stderr, salmon_dir / "SRR1", rule="salmon_quant")
    assert leftovers(salmon_dir) == [], "salmon's output or its hidden folder was left"

    disk.free()
    proc = run_rule_shell(command, tmp_path)
    assert proc.returncode == 0, proc.stderr
    quant = pd.read_csv(salmon_dir / "SRR1" / "quant.sf", sep="\t")
    assert len(quant) == 40 and quant["NumReads"].sum() > 3000
    assert leftovers(salmon_dir) == ["SRR1"]


def test_salmon_index_on_a_full_disk(salmon_inputs, disk, tmp_path):
    from snakemake.utils import format as sm_format

    index = disk.path / "reference" / "salmon_index"
    index.parent.mkdir()
    command = sm_format(rule_shell("reference.smk", "salmon_index"),
                        input=SimpleNamespace(targets=str(salmon_inputs.fasta)),
                        output=str(index), params=salmon_inputs.params, threads=2,
                        log=str(tmp_path / "index.log"))
    disk.fill(leave=0)
    proc = run_rule_shell(command, tmp_path)
    assert proc.returncode == 1, proc.stderr
    one_line_about(proc.stderr, index, rule="salmon_index")
    assert leftovers(index.parent) == []

    disk.free()
    proc = run_rule_shell(command, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (index / "versionInfo.json").is_file()


FAKE_SALMON = """#!/bin/sh
# salmon index as 1.10 behaves when the disk fills while it writes mphf.bin: exit 0, file short.
while [ $# -gt 0 ]; do [ "$1" = --index ] && out=$2; shift; done
mkdir -p "$out"
for f in complete_ref_lens.bin ctable.bin ctg_offsets.bin pos.bin seq.bin refseq.bin \\
         reflengths.bin refAccumLengths.bin rank.bin; do printf 'x' > "$out/$f"; done
printf '{{\\n}}' > "$out/versionInfo.json"; printf '{{\\n}}' > "$out/info.json"
head -c {mphf_bytes} /dev/zero > "$out/mphf.bin"
echo "[info] mphf size = 0.461182 MB"
exit 0
"""


@pytest.mark.parametrize("mphf_bytes, ok", [(331_776, False), (484_020, True)])
def test_salmon_index_exiting_0_with_a_short_mphf_is_caught(salmon_inputs, tmp_path, mphf_bytes,
                                                            ok):
    """Seen with salmon 1.10 on a tmpfs of 4096-4528 kB: exit 0, mphf.bin cut short at a page
    boundary, and 1.5 MB free afterwards (its temporary FASTA removed) - salmon quant then hangs
    loading the index. The check compares mphf.bin with the size salmon logged."""
    from snakemake.utils import format as sm_format

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "salmon").write_text(FAKE_SALMON.format(mphf_bytes=mphf_bytes))
    (bin_dir / "salmon").chmod(0o755)
    index = tmp_path / "reference" / "salmon_index"
    command = sm_format(rule_shell("reference.smk", "salmon_index"),
                        input=SimpleNamespace(targets=str(salmon_inputs.fasta)),
                        output=str(index), params=salmon_inputs.params, threads=2,
                        log=str(tmp_path / "index.log"))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    proc = run_rule_shell(command, tmp_path, env=env)
    if ok:
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode == 1
    line = one_line_about(proc.stderr, index, rule="salmon_index")
    assert "salmon exited 0 but left mphf.bin (331776 bytes, mphf size 461182)" in line
    assert not index.exists()


def test_shell_check_is_posix(tmp_path):
    """The check runs under dash too (a container's /bin/sh), and passes a tool's own failure on."""
    script = textwrap.dedent(
        """
        mkdir -p out
        if sh -c 'echo "bad option" >&2; exit 7' > tool.log 2>&1; then rc=0; else rc=$?; fi
        kgpex_disk_check demo tool $rc out out tool.log quant.sf
        """
    )
    for shell in ("dash", "bash"):
        proc = subprocess.run([shell, "-c", SHELL_DISK_CHECK + script], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 7, (shell, proc.stderr)
        assert proc.stderr == ""
