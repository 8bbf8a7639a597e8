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

Grouped permutation pass (``groups``: FastQTL's ``--grp`` file, phenotype ID and group ID, as
MAGE mapped sQTLs: LeafCutter introns grouped by gene, ``--permute 1000 10000``): one row per
group, its best phenotype and the group's permutation p-values. The nominal pass stays
ungrouped. Every phenotype of a group must share the group's BED start and end (the gene's
TSS, as the GTEx/MAGE sQTL BED places introns), and a group's phenotypes must be consecutive.
- Chunks: Debian's FastQTL (2.184+v7) splits ``--chunk k N`` by phenotype count, blind to
  groups (the GTEx fork chunks by group only from 2018, commit 0a6af33); but a chunk reads
  every BED line within its first..last phenotype's coordinates, so a group cut by a chunk
  boundary is read whole by both chunks (its phenotypes share coordinates) and reported twice:
  the merge keeps the first, as for genes with equal TSS, and checks every ``group_size``.
  Chunks are at most one per group (the later fork refuses more), and a count that v7 makes
  exactly (grouped_chunks); the others are written empty.
- Output: the v7 grouped pass writes 12 space-separated fields (FASTQTL_V7_GROUP_PERMUTATION_
  COLUMNS: no pval_true_df, ma_samples, ma_count, maf, ref_factor, slope, slope_se). run_chunk
  completes them into the later fork's 19 tab-separated columns: a second, ungrouped run of
  the chunk on the groups' best phenotypes only (``--include-phenotypes``, a few permutations)
  gives the best pair's ma_samples, ma_count, maf, ref_factor, slope and slope_se (its top
  variant must be the group's: same cis window, same tie rule), and pval_true_df is the best
  pair's correlation at the group's true_df (the correlation from pval_nominal at the nominal
  degrees of freedom, samples - 2 - covariates; checked against the slope's t statistic).
"""

from __future__ import annotations

import gzip
import logging
import subprocess
from pathlib import Path

import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, gzip_text_writer, phenotype_bed_header
from kgpex.eqtl.inputs import read_phenotype_groups
from kgpex.fastqtl.inputs import (
    bed_phenotype_ids,
    export_genotypes_vcf,
    last_line,
    read_alt_frequencies,
    split_phenotypes,
    vcf_header_samples,
)
from kgpex.fastqtl.merge import (
    FASTQTL_GROUP_PERMUTATION_COLUMNS,
    FASTQTL_PERMUTATION_COLUMNS,
    FASTQTL_V7_GROUP_PERMUTATION_COLUMNS,
    group_sizes,
    nominal_to_parquet,
    permutations_to_table,
    write_permutation_table,
)

log = logging.getLogger(__name__)


def effective_chunks(n_phenotypes: int, n_chunks: int) -> int:
    """FastQTL refuses more chunks than phenotypes: use at most one chunk per phenotype."""
    return max(0, min(int(n_chunks), int(n_phenotypes)))


def grouped_chunks(n_phenotypes: int, n_groups: int, n_chunks: int) -> int:
    """Chunks of a grouped run: at most one per group, and a count that FastQTL 2.184+v7 makes.

    v7 cuts a chromosome's phenotypes into runs of ceil(n / N): fewer than N chunks for some n
    (9 phenotypes in 4 chunks: 3 + 3 + 3), and ``--chunk 4 4`` then crashes (segfault). The
    largest count up to min(N, groups) that v7 makes exactly is used; the later fork, which
    chunks by group, makes any count up to the number of groups.
    """
    k = effective_chunks(n_groups, n_chunks)
    while k > 0 and -(-n_phenotypes // -(-n_phenotypes // k)) != k:
        k -= 1
    return k


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
    groups: str | None = None,
    include_phenotypes: str | None = None,
    executable: str = "fastQTL",
) -> list[str]:
    """The FastQTL command for chunk ``chunk`` of ``n_chunks``; nominal pass when no ``permute``.

    ``groups``: FastQTL's phenotype groups file (``--grp``), permutation pass only.
    ``include_phenotypes``: a file of the phenotype IDs to test (``--include-phenotypes``).
    """
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
    if groups is not None:
        if permute is None:
            raise KgpexError(
                "FastQTL phenotype groups (--grp) need the permutation pass; "
                "the nominal pass is ungrouped"
            )
        cmd += ["--grp", str(groups)]
    if include_phenotypes is not None:
        cmd += ["--include-phenotypes", str(include_phenotypes)]
    return cmd


def run_fastqtl(cmd: list[str], out: str | Path, log_file: str | Path) -> None:
    """Run FastQTL; fail loudly on a non-zero exit, an ERROR, no closing log line or no output."""
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
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
    groups: str | Path | None = None,
    executable: str = "fastQTL",
) -> None:
    """One FastQTL job (``mode`` "permutations" or "nominal"): checks, run, atomic output.

    ``groups`` (permutations only): FastQTL's ``--grp`` file; the chunk's output is then the
    grouped layout of merge.FASTQTL_GROUP_PERMUTATION_COLUMNS, whichever FastQTL ran.
    """
    if mode not in ("permutations", "nominal"):
        raise KgpexError(f"unknown FastQTL mode {mode!r}")
    if groups is not None and mode != "permutations":
        raise KgpexError("FastQTL phenotype groups (--grp) apply to the permutation pass only")
    samples = check_samples(bed, vcf, covariates)
    n_phenotypes = len(bed_phenotype_ids(bed))
    n_used = effective_chunks(n_phenotypes, n_chunks)
    if groups is not None:
        n_used = grouped_chunks(n_phenotypes, len(check_groups(bed, groups)), n_chunks)
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
            permute=permute if mode == "permutations" else None,
            groups=None if groups is None else str(groups), executable=executable,
        )  # fmt: skip
        run_fastqtl(cmd, tmp, fastqtl_log)
        if groups is not None:
            n_covariates = 0 if covariates is None else _count_covariates(covariates)
            _complete_grouped_output(
                tmp, cmd, fastqtl_log, nominal_df=len(samples) - 2 - n_covariates
            )


# --- grouped permutation pass ------------------------------------------------------------------

FILL_PERMUTATIONS = [10, 11]  # the ungrouped completion run: its p-values are not used


def _bed_coordinates(bed: str | Path) -> pd.DataFrame:
    frame = pd.read_csv(bed, sep="\t", usecols=[0, 1, 2, 3], dtype={3: str})
    frame.columns = ["chr", "start", "end", "phenotype_id"]
    return frame


def check_groups(bed: str | Path, groups: str | Path) -> dict[str, int]:
    """The BED's groups and their sizes; each group consecutive, on one start and end."""
    coords = _bed_coordinates(bed)
    table = read_phenotype_groups(groups)
    sizes = group_sizes(table, coords["phenotype_id"].tolist(), str(bed))
    coords["group_id"] = coords["phenotype_id"].map(table)
    spread = coords.groupby("group_id", sort=False)[["chr", "start", "end"]].nunique()
    bad = spread[(spread > 1).any(axis=1)]
    if len(bad):
        raise KgpexError(
            f"{bed}: the phenotypes of group {bad.index[0]} have different coordinates; a "
            "grouped FastQTL run needs them at the group's start and end (the gene's TSS)"
        )
    return sizes


def _count_covariates(path: str | Path) -> int:
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as fh:
        return sum(1 for line in fh if line.strip()) - 1


def _complete_grouped_output(
    out: Path, cmd: list[str], fastqtl_log: str | Path, *, nominal_df: int
) -> None:
    """Rewrite a grouped chunk in the 19 columns of FASTQTL_GROUP_PERMUTATION_COLUMNS.

    Output already in that layout (the GTEx fork from 2018) is kept. The 12 fields of Debian's
    2.184+v7 are completed from an ungrouped run on the groups' best phenotypes (module doc).
    """
    import numpy as np
    from scipy import stats

    with gzip.open(out, "rt") as fh:
        lines = [line.rstrip("\n") for line in fh if line.strip()]
    if not lines:
        return
    if len(lines[0].split("\t")) == len(FASTQTL_GROUP_PERMUTATION_COLUMNS):
        return
    fields = [line.split() for line in lines]
    bad = [f for f in fields if len(f) != len(FASTQTL_V7_GROUP_PERMUTATION_COLUMNS)]
    if bad:
        raise KgpexError(
            f"{out}: a grouped FastQTL line of {len(bad[0])} fields; expected "
            f"{len(FASTQTL_GROUP_PERMUTATION_COLUMNS)} (tab) or "
            f"{len(FASTQTL_V7_GROUP_PERMUTATION_COLUMNS)} (space, FastQTL 2.184+v7)"
        )
    v7 = pd.DataFrame(fields, columns=FASTQTL_V7_GROUP_PERMUTATION_COLUMNS)
    tested = v7[(v7["variant_id"] != "NA") & (v7["phenotype_id"] != "NA")]
    fill = pd.DataFrame(columns=FASTQTL_PERMUTATION_COLUMNS)
    if len(tested):
        out = Path(out)
        keep = out.with_name(out.name + ".best.txt")
        fill_out = out.with_name(out.name + ".best.txt.gz")
        fill_log = out.with_name(out.name + ".best.log")
        try:
            keep.write_text("".join(p + "\n" for p in tested["phenotype_id"].unique()))
            at = cmd.index("--grp")
            fill_cmd = cmd[:at] + cmd[at + 2 :]
            fill_cmd[fill_cmd.index("--out") + 1] = str(fill_out)
            fill_cmd[fill_cmd.index("--log") + 1] = str(fill_log)
            at = fill_cmd.index("--permute")
            fill_cmd[at + 1 : at + 3] = [str(n) for n in FILL_PERMUTATIONS]
            fill_cmd += ["--include-phenotypes", str(keep)]
            run_fastqtl(fill_cmd, fill_out, fill_log)
            with open(fastqtl_log, "a") as fh:
                fh.write("\n# kgpex: ungrouped run on the groups' best phenotypes, to complete "
                         "the grouped output\n" + fill_log.read_text(errors="replace"))  # fmt: skip
            fill = pd.read_csv(fill_out, sep="\t", header=None, names=FASTQTL_PERMUTATION_COLUMNS,
                               dtype=str, keep_default_na=False)  # fmt: skip
        finally:
            for path in (keep, fill_out, fill_log):
                path.unlink(missing_ok=True)
    fill = fill.drop_duplicates("phenotype_id").set_index("phenotype_id")
    rows = []
    for _, row in v7.iterrows():
        if row["variant_id"] == "NA" or row["phenotype_id"] == "NA":
            rows.append([row["phenotype_id"], row["num_var"]] + ["NA"] * 17)
            continue
        pid = row["phenotype_id"]
        if pid not in fill.index:
            raise KgpexError(f"{out}: the ungrouped run reported nothing for {pid}")
        best = fill.loc[pid]
        if (best["variant_id"], best["tss_distance"]) != (row["variant_id"], row["tss_distance"]):
            raise KgpexError(
                f"{out}: group {row['group_id']}: the grouped run's top variant of {pid} is "
                f"{row['variant_id']}, the ungrouped run's {best['variant_id']}"
            )
        pval = float(row["pval_nominal"])
        slope, slope_se = float(best["slope"]), float(best["slope_se"])
        # FastQTL: p = F(1, df) upper tail of t^2 = df r^2 / (1 - r^2).
        if slope_se > 0:
            t2 = (slope / slope_se) ** 2
            check = stats.f.sf(t2, 1, nominal_df)
            if not np.isclose(np.log(max(check, 1e-300)), np.log(max(pval, 1e-300)),
                              rtol=1e-3, atol=1e-3):  # fmt: skip
                raise KgpexError(
                    f"{out}: {pid}: pval_nominal {pval:g} but {check:g} from the slope's t "
                    f"statistic at {nominal_df} degrees of freedom"
                )
        else:
            t2 = stats.f.isf(pval, 1, nominal_df) if pval < 1 else 0.0
        r2 = t2 / (t2 + nominal_df)
        true_df = float(row["true_df"])
        pval_true_df = stats.f.sf(true_df * r2 / (1 - r2), 1, true_df) if r2 < 1 else 0.0
        rows.append([
            pid, row["num_var"], row["beta_shape1"], row["beta_shape2"], row["true_df"],
            f"{pval_true_df:.6g}", row["variant_id"], row["tss_distance"], best["ma_samples"],
            best["ma_count"], best["maf"], best["ref_factor"], row["pval_nominal"],
            best["slope"], best["slope_se"], row["pval_perm"], row["pval_beta"],
            row["group_id"], row["group_size"],
        ])  # fmt: skip
    with gzip_text_writer(out) as fh:
        fh.write("".join("\t".join(map(str, r)) + "\n" for r in rows))


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
    groups: str | Path | None = None,
) -> dict[str, Path]:
    """The rules of fastqtl.smk for one chromosome, in order, with ``workers`` chunks at a time.

    Returns the paths of the permutation table and (if ``nominal``) the nominal parquet.
    ``timings``, when given, receives the seconds of each step (prepare, permutations, nominal).
    ``groups``: FastQTL's phenotype groups file; the permutation pass is then grouped (table
    GROUPED_CIS_COLUMNS, one row per group), the nominal pass is not.
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
                      permute=permute,
                      groups=groups if mode == "permutations" else None)  # fmt: skip

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(one, range(1, n_chunks + 1)))
        if mode == "permutations":
            dest = workdir / "permutations" / f"{chrom}.tsv.gz"
            table = permutations_to_table(
                chunks, genes, chrom,
                groups=None if groups is None else read_phenotype_groups(groups),
            )  # fmt: skip
            write_permutation_table(table, dest)
        else:
            dest = workdir / "nominal" / f"{chrom}.parquet"
            nominal_to_parquet(chunks, read_alt_frequencies(counts), genes, dest, chrom)
        outputs[mode] = dest
        timings[mode] = time.perf_counter() - start
    return outputs
