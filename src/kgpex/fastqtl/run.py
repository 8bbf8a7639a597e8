"""FastQTL (GTEx fork 2.184, MAGE's own mapper) runs: the command of one chunk, checked runs, and
``map_chromosome`` (every step of fastqtl.smk for one chromosome, for benchmarks and tests).

Design: one chromosome at a time, chunked within it.
- Inputs (kgpex.fastqtl.inputs): the inverse-normal BED split into one tabixed BED per
  chromosome, and the chromosome's pgen exported as a GT VCF with in-sample ALT counts.
- FastQTL runs with ``--chunk k N`` on the chromosome's BED (its chunks never cross chromosomes);
  N = min(eqtl.fastqtl.chunks, genes on the chromosome), chunks beyond N write empty files.
- Conversion (kgpex.fastqtl.merge) merges the chunks of a chromosome into the tables of
  kgpex.eqtl.tables, so that everything downstream (q-values, MAGE tables, fine-mapping) is
  shared by both mappers. Permutation pass -> ``{chrom}.tsv.gz`` with ``af`` = maf when
  ref_factor is 1 (ALT is the minor allele), else 1 - maf; nominal pass -> ``{chrom}.parquet``.
  ``tss_distance`` becomes ``start_distance`` (both are variant position minus TSS). Genes
  without a variant in their cis window are left out, as tensorQTL does.

FastQTL can exit 0 after an error (a bad command line), so every run is checked: exit status,
the ``ERROR`` lines of its log, the log's closing ``Running time`` line and the output file.
"""

from __future__ import annotations

import gzip
import logging
import subprocess
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, gzip_text_writer, phenotype_bed_header
from kgpex.fastqtl.inputs import (
    bed_phenotype_ids,
    export_genotypes_vcf,
    last_line,
    read_alt_frequencies,
    split_phenotypes,
    vcf_header_samples,
)
from kgpex.fastqtl.merge import nominal_to_parquet, permutations_to_table, write_permutation_table

log = logging.getLogger(__name__)


def effective_chunks(n_phenotypes: int, n_chunks: int) -> int:
    """FastQTL refuses more chunks than phenotypes: use at most one chunk per phenotype."""
    return max(0, min(int(n_chunks), int(n_phenotypes)))


def fastqtl_command(
    vcf: str,
    bed: str,
    out: str,
    log_file: str,
    *,
    window: int,
    maf: float,
    seed: int,
    chunk: int,
    n_chunks: int,
    covariates: str | None = None,
    permute: list[int] | None = None,
    executable: str = "fastQTL",
) -> list[str]:
    """The FastQTL command for chunk ``chunk`` of ``n_chunks``; nominal pass when no ``permute``."""
    if not 1 <= chunk <= n_chunks:
        raise KgpexError(f"FastQTL chunk {chunk} outside 1..{n_chunks}")
    if not 0 <= seed < 2**31:
        raise KgpexError(f"config eqtl.seed: FastQTL needs a seed in 0..{2**31 - 1}, got {seed}")
    if not 0 <= maf < 0.5:
        raise KgpexError(f"config eqtl.maf: FastQTL needs 0 <= maf < 0.5, got {maf}")
    cmd = [
        executable,
        "--vcf", str(vcf),
        "--bed", str(bed),
        "--out", str(out),
        "--log", str(log_file),
        "--window", str(int(window)),
        "--maf-threshold", repr(float(maf)),
        "--seed", str(int(seed)),
        "--chunk", str(int(chunk)), str(int(n_chunks)),
        "--silent",
    ]  # fmt: skip
    if covariates is not None:
        cmd += ["--cov", str(covariates)]
    if permute is not None:
        if len(permute) != 2 or not 0 < permute[0] < permute[1]:
            raise KgpexError(
                f"config eqtl.fastqtl.permute: expected [min, max], 0 < min < max, got {permute}"
            )
        cmd += ["--permute", str(int(permute[0])), str(int(permute[1]))]
    return cmd


def run_fastqtl(cmd: list[str], out: str | Path, log_file: str | Path) -> None:
    """Run FastQTL; fail loudly on a non-zero exit, an ERROR, no closing log line or no output."""
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log_file = Path(log_file)
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    # "ERROR: ..." from FastQTL's LOG.error; "Error parsing command line" comes with exit 0.
    output = text + "\n" + proc.stdout + "\n" + proc.stderr
    errors = [
        line.strip() for line in output.splitlines() if "ERROR" in line or line.startswith("Error")
    ]
    if proc.returncode != 0 or errors:
        why = errors[-1] if errors else last_line(proc.stdout + proc.stderr)
        raise KgpexError(f"FastQTL failed (exit {proc.returncode}, log {log_file}): {why}")
    if "Running time" not in text:
        raise KgpexError(
            f"FastQTL did not finish (log {log_file} has no 'Running time' line): "
            f"{last_line(text + proc.stderr)}"
        )
    if not Path(out).exists():
        raise KgpexError(f"FastQTL wrote no output {out} (log {log_file})")


def _header_samples_covariates(path: str | Path) -> list[str]:
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as fh:
        header = fh.readline().rstrip("\n").split("\t")
    if header[0] != "id":
        raise KgpexError(f"{path} line 1: first field must be 'id', got {header[0]!r}")
    return header[1:]


def check_samples(bed: str | Path, vcf: str | Path, covariates: str | Path | None) -> list[str]:
    """Every phenotype sample must have genotypes and covariates (FastQTL matches by ID)."""
    samples = phenotype_bed_header(bed)[4:]
    sources = [(vcf, vcf_header_samples(vcf))]
    if covariates is not None:
        sources.append((covariates, _header_samples_covariates(covariates)))
    for path, present in sources:
        missing = [s for s in samples if s not in set(present)]
        if missing:
            raise KgpexError(
                f"{path}: sample {missing[0]} of {bed} missing ({len(missing)} in all)"
            )
    return samples


def write_empty_gzip(dest: str | Path) -> None:
    with atomic_path(dest) as tmp, gzip_text_writer(tmp):
        pass


def run_chunk(
    mode: str,
    vcf: str | Path,
    bed: str | Path,
    covariates: str | Path | None,
    out: str | Path,
    fastqtl_log: str | Path,
    *,
    chunk: int,
    n_chunks: int,
    window: int,
    maf: float,
    seed: int,
    permute: list[int] | None = None,
    executable: str = "fastQTL",
) -> None:
    """One FastQTL job (``mode`` "permutations" or "nominal"): checks, run, atomic output."""
    if mode not in ("permutations", "nominal"):
        raise KgpexError(f"unknown FastQTL mode {mode!r}")
    check_samples(bed, vcf, covariates)
    n_phenotypes = len(bed_phenotype_ids(bed))
    n_used = effective_chunks(n_phenotypes, n_chunks)
    if chunk > n_used:
        log.info(
            "%s: %d phenotypes, %d chunks used; chunk %d is empty", bed, n_phenotypes, n_used, chunk
        )
        Path(fastqtl_log).write_text(
            f"kgpex: chunk {chunk} of {n_chunks} has no phenotypes ({n_phenotypes} in {bed})\n"
        )
        write_empty_gzip(out)
        return
    with atomic_path(out, suffix=".txt.gz") as tmp:
        cmd = fastqtl_command(
            str(vcf), str(bed), str(tmp), str(fastqtl_log),
            window=window, maf=maf, seed=seed, chunk=chunk, n_chunks=n_used,
            covariates=None if covariates is None else str(covariates),
            permute=permute if mode == "permutations" else None, executable=executable,
        )  # fmt: skip
        run_fastqtl(cmd, tmp, fastqtl_log)


def map_chromosome(
    pgen_prefix: str | Path,
    phenotype_bed: str | Path,
    covariates: str | Path,
    chrom: str,
    workdir: str | Path,
    *,
    window: int,
    maf: float,
    seed: int,
    permute: list[int],
    n_chunks: int,
    workers: int = 1,
    nominal: bool = True,
    timings: dict | None = None,
) -> dict[str, Path]:
    """The rules of fastqtl.smk for one chromosome, in order, with ``workers`` chunks at a time.

    Returns the paths of the permutation table and (if ``nominal``) the nominal parquet.
    ``timings``, when given, receives the seconds of each step (prepare, permutations, nominal).
    """
    import time
    from concurrent.futures import ThreadPoolExecutor

    workdir = Path(workdir)
    timings = {} if timings is None else timings
    start = time.perf_counter()
    bed = workdir / "phenotypes" / f"{chrom}.bed.gz"
    split_phenotypes(phenotype_bed, [chrom], {chrom: str(bed)})
    vcf = workdir / "genotypes" / f"{chrom}.vcf.gz"
    counts = workdir / "genotypes" / f"{chrom}.acount"
    export_genotypes_vcf(pgen_prefix, phenotype_bed_header(bed)[4:], vcf, counts, threads=workers)
    timings["prepare"] = time.perf_counter() - start
    genes = bed_phenotype_ids(bed)
    outputs = {}
    passes = ["permutations"] + (["nominal"] if nominal else [])
    for mode in passes:
        start = time.perf_counter()
        chunk_dir = workdir / "chunks" / mode
        chunk_dir.mkdir(parents=True, exist_ok=True)
        chunks = [chunk_dir / f"{chrom}.{k}.txt.gz" for k in range(1, n_chunks + 1)]

        def one(k, chunks=chunks, chunk_dir=chunk_dir, mode=mode):
            run_chunk(mode, vcf, bed, covariates, chunks[k - 1], chunk_dir / f"{chrom}.{k}.log",
                      chunk=k, n_chunks=n_chunks, window=window, maf=maf, seed=seed,
                      permute=permute)  # fmt: skip

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(one, range(1, n_chunks + 1)))
        if mode == "permutations":
            dest = workdir / "permutations" / f"{chrom}.tsv.gz"
            write_permutation_table(permutations_to_table(chunks, genes, chrom), dest)
        else:
            dest = workdir / "nominal" / f"{chrom}.parquet"
            nominal_to_parquet(chunks, read_alt_frequencies(counts), genes, dest, chrom)
        outputs[mode] = dest
        timings[mode] = time.perf_counter() - start
    return outputs
