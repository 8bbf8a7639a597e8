"""FastQTL (GTEx fork 2.184, MAGE's own mapper): inputs, checked runs, and conversion of its
output to the tensorQTL-native tables that kgpex.qtl writes, so that everything downstream
(q-values, MAGE tables, fine-mapping) is shared by both mappers.

Design: one chromosome at a time, chunked within it.
- ``split_phenotypes``: the inverse-normal BED is split into one tabixed BED per chromosome.
- ``export_genotypes_vcf``: the chromosome's pgen becomes a bgzipped, tabixed VCF with GT only
  (hard calls; FastQTL reads DS when present, else GT), the samples of the phenotype BED in
  psam order, ``chr``-prefixed contigs and IDs ``chrom:pos:ref:alt``. Sex is left out of the
  psam handed to plink2, so male chrX calls stay diploid (0/0 or 1/1) as in the pgen and as
  tensorQTL reads them; plink2 would otherwise write them haploid, which FastQTL cannot parse.
  The same run writes in-sample ALT allele counts (``plink2 --freq counts``), from which the
  nominal table's ``af`` comes (FastQTL's nominal output has no allele direction).
- FastQTL runs with ``--chunk k N`` on the chromosome's BED (its chunks never cross chromosomes);
  N = min(eqtl.fastqtl.chunks, genes on the chromosome), chunks beyond N write empty files.
- Conversion merges the chunks of a chromosome. Permutation pass -> ``{chrom}.tsv.gz`` with
  ``af`` = maf when ref_factor is 1 (ALT is the minor allele), else 1 - maf; nominal pass ->
  ``{chrom}.parquet``. ``tss_distance`` becomes ``start_distance`` (both are variant position
  minus TSS). Genes without a variant in their cis window are left out, as tensorQTL does.

FastQTL can exit 0 after an error (a bad command line), so every run is checked: exit status,
the ``ERROR`` lines of its log, the log's closing ``Running time`` line and the output file.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.errors import KgpexError
from kgpex.io import atomic_path, gzip_text_writer, phenotype_bed_header

log = logging.getLogger(__name__)

# FastQTL's output columns, as the GTEx fork (Debian 2.184+v7) writes them, without a header.
FASTQTL_PERMUTATION_COLUMNS = [
    "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
    "variant_id", "tss_distance", "ma_samples", "ma_count", "maf", "ref_factor",
    "pval_nominal", "slope", "slope_se", "pval_perm", "pval_beta",
]  # fmt: skip
FASTQTL_NOMINAL_COLUMNS = [
    "phenotype_id", "variant_id", "tss_distance", "ma_samples", "ma_count", "maf",
    "pval_nominal", "slope", "slope_se",
]  # fmt: skip
# The shared intermediates (docs/architecture.md, stage eqtl): tensorQTL's own columns.
PERMUTATION_COLUMNS = [
    "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
    "variant_id", "start_distance", "ma_samples", "ma_count", "af", "pval_nominal", "slope",
    "slope_se", "pval_perm", "pval_beta",
]  # fmt: skip
NOMINAL_COLUMNS = [
    "phenotype_id", "variant_id", "start_distance", "af", "ma_samples", "ma_count",
    "pval_nominal", "slope", "slope_se",
]  # fmt: skip
_INT_COLUMNS = {"num_var", "start_distance", "ma_samples", "ma_count"}
_STR_COLUMNS = {"phenotype_id", "variant_id"}
# tensorQTL's dtypes for the nominal pairs (cis.map_nominal), kept so both backends match.
NOMINAL_ARROW_TYPES = {
    "phenotype_id": "string", "variant_id": "string", "start_distance": "int32",
    "af": "float32", "ma_samples": "int32", "ma_count": "int32", "pval_nominal": "float64",
    "slope": "float32", "slope_se": "float32",
}  # fmt: skip
NOMINAL_READ_ROWS = 2_000_000  # rows of FastQTL text converted at a time


# --- phenotypes -----------------------------------------------------------------------------


def split_phenotypes(bed: str | Path, chromosomes: list[str], outputs: dict[str, str]) -> dict:
    """Write one bgzipped, tabixed BED per chromosome (header kept); return genes per chromosome.

    A chromosome without genes still gets its file, with the header only.
    """
    import pysam

    header = phenotype_bed_header(bed)
    counts = {}
    with pysam.TabixFile(str(bed)) as tbx:
        indexed = set(tbx.contigs)
        for chrom in chromosomes:
            dest = Path(outputs[chrom])
            rows = list(tbx.fetch(chrom)) if chrom in indexed else []
            ids = [r.split("\t", 4)[3] for r in rows]
            if len(set(ids)) != len(ids):
                dup = next(i for i in ids if ids.count(i) > 1)
                raise KgpexError(f"{bed}: phenotype {dup} appears twice on {chrom}")
            with (
                atomic_path(dest.with_name(dest.name + ".tbi")) as tmp_tbi,
                atomic_path(dest) as tmp,
            ):
                plain = tmp.with_suffix(".bed")
                try:
                    with open(plain, "w") as fh:
                        fh.write("\t".join(header) + "\n")
                        for row in rows:
                            fh.write(row + "\n")
                    pysam.tabix_compress(str(plain), str(tmp), force=True)
                finally:
                    plain.unlink(missing_ok=True)
                pysam.tabix_index(str(tmp), preset="bed", meta_char="#", force=True)
                Path(str(tmp) + ".tbi").replace(tmp_tbi)
            counts[chrom] = len(rows)
            log.info("%s: %d phenotypes -> %s", chrom, len(rows), dest)
    return counts


def bed_phenotype_ids(path: str | Path) -> list[str]:
    """Phenotype IDs of a BED, in file order."""
    phenotype_bed_header(path)
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as fh:
        next(fh)
        return [line.split("\t", 4)[3] for line in fh if line.strip()]


# --- genotypes ------------------------------------------------------------------------------


def read_psam_ids(path: str | Path) -> list[str]:
    """Sample IDs (IID) of a .psam, in file order."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: psam not found")
    with open(path) as fh:
        lines = [line for line in fh if not line.startswith("##")]
    header = lines[0].rstrip("\n").split("\t")
    if header[0] not in ("#IID", "#FID"):
        raise KgpexError(f"{path} line 1: header must start with #IID or #FID, got {header[0]}")
    col = header.index("IID") if header[0] == "#FID" else 0
    ids = [line.rstrip("\n").split("\t")[col] for line in lines[1:] if line.strip()]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise KgpexError(f"{path}: sample {dup} appears twice")
    return ids


def plink2_export_command(
    pgen_prefix: str, psam: str, keep: str, out_prefix: str, threads: int, memory_mb: int
) -> list[str]:
    """plink2: the kept samples' GT as a BGZF VCF with chr-prefixed contigs, plus ALT counts."""
    return [
        "plink2",
        "--pgen", f"{pgen_prefix}.pgen",
        "--pvar", f"{pgen_prefix}.pvar",
        "--psam", psam,
        "--keep", keep,
        "--export", "vcf", "bgz", "id-paste=iid",
        "--freq", "counts",
        "--output-chr", "chrM",
        "--threads", str(threads),
        "--memory", str(memory_mb),
        "--out", out_prefix,
    ]  # fmt: skip


def export_genotypes_vcf(
    pgen_prefix: str | Path,
    samples: list[str],
    vcf_out: str | Path,
    counts_out: str | Path,
    threads: int = 1,
    memory_mb: int = 4000,
) -> None:
    """Export ``samples`` of a pgen trio to a tabixed VCF for FastQTL, and their ALT counts."""
    import pysam

    prefix = str(pgen_prefix)
    for ext in (".pgen", ".pvar"):
        if not Path(prefix + ext).exists():
            raise KgpexError(f"{prefix}{ext}: genotype file not found")
    psam_ids = read_psam_ids(prefix + ".psam")
    missing = [s for s in samples if s not in set(psam_ids)]
    if missing:
        raise KgpexError(
            f"{prefix}.psam: no genotypes for sample {missing[0]} ({len(missing)} missing)"
        )
    vcf_out, counts_out = Path(vcf_out), Path(counts_out)
    vcf_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export.", dir=vcf_out.parent) as tmp:
        tmp = Path(tmp)
        # IIDs only, no SEX: male chrX calls stay diploid (see the module docstring).
        (tmp / "nosex.psam").write_text("#IID\n" + "".join(f"{s}\n" for s in psam_ids))
        (tmp / "keep.txt").write_text("#IID\n" + "".join(f"{s}\n" for s in samples))
        cmd = plink2_export_command(
            prefix,
            str(tmp / "nosex.psam"),
            str(tmp / "keep.txt"),
            str(tmp / "out"),
            threads,
            memory_mb,
        )
        log.info("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        plink_log = tmp / "out.log"
        if plink_log.exists():
            log.info("plink2 log:\n%s", plink_log.read_text())
        if proc.returncode != 0:
            raise KgpexError(
                f"plink2 export of {prefix} failed ({proc.returncode}): "
                f"{_last_line(proc.stdout + proc.stderr)}"
            )
        vcf = tmp / "out.vcf.gz"
        pysam.tabix_index(str(vcf), preset="vcf", force=True)
        exported = _header_samples_vcf(vcf)
        if sorted(exported) != sorted(samples):
            raise KgpexError(
                f"{vcf_out}: plink2 exported {len(exported)} samples, expected {len(samples)}"
            )
        with atomic_path(counts_out) as t_counts:
            shutil.move(tmp / "out.acount", t_counts)
        with (
            atomic_path(vcf_out.with_name(vcf_out.name + ".tbi")) as t_tbi,
            atomic_path(vcf_out) as t_vcf,
        ):
            shutil.move(str(vcf) + ".tbi", t_tbi)
            shutil.move(vcf, t_vcf)


def read_alt_frequencies(path: str | Path) -> pd.Series:
    """In-sample ALT allele frequency by variant ID from a plink2 ``--freq counts`` .acount file."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: allele counts not found")
    df = pd.read_csv(path, sep="\t", dtype={"ID": str})
    for col in ("ID", "ALT_CTS", "OBS_CT"):
        if col not in df.columns:
            raise KgpexError(f"{path} line 1: column {col} missing")
    if df["ID"].duplicated().any():
        raise KgpexError(f"{path}: variant {df['ID'][df['ID'].duplicated()].iloc[0]} appears twice")
    obs = df["OBS_CT"].to_numpy(dtype=float)
    af = np.divide(
        df["ALT_CTS"].to_numpy(dtype=float), obs, out=np.full(len(df), np.nan), where=obs > 0
    )
    return pd.Series(af, index=df["ID"].to_numpy(), name="af")


# --- running FastQTL ------------------------------------------------------------------------


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


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


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
        why = errors[-1] if errors else _last_line(proc.stdout + proc.stderr)
        raise KgpexError(f"FastQTL failed (exit {proc.returncode}, log {log_file}): {why}")
    if "Running time" not in text:
        raise KgpexError(
            f"FastQTL did not finish (log {log_file} has no 'Running time' line): "
            f"{_last_line(text + proc.stderr)}"
        )
    if not Path(out).exists():
        raise KgpexError(f"FastQTL wrote no output {out} (log {log_file})")


def _header_samples_vcf(vcf: str | Path) -> list[str]:
    import pysam

    with pysam.VariantFile(str(vcf)) as fh:
        return list(fh.header.samples)


def _header_samples_covariates(path: str | Path) -> list[str]:
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as fh:
        header = fh.readline().rstrip("\n").split("\t")
    if header[0] != "id":
        raise KgpexError(f"{path} line 1: first field must be 'id', got {header[0]!r}")
    return header[1:]


def check_samples(bed: str | Path, vcf: str | Path, covariates: str | Path | None) -> list[str]:
    """Every phenotype sample must have genotypes and covariates (FastQTL matches by ID)."""
    samples = phenotype_bed_header(bed)[4:]
    sources = [(vcf, _header_samples_vcf(vcf))]
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


# --- conversion to the shared tables -------------------------------------------------------


def empty_table(columns: list[str]) -> pd.DataFrame:
    dtypes = {
        c: "int64" if c in _INT_COLUMNS else object if c in _STR_COLUMNS else "float64"
        for c in columns
    }
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})


def _read_fastqtl_text(path: str | Path, columns: list[str], **kwargs):
    """Read FastQTL's headerless output; an empty file (empty chunk) gives an empty table."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: FastQTL output not found")
    with gzip.open(path, "rt") as fh:
        first = fh.readline()
    if not first.strip():
        frame = empty_table(columns)
        return iter([frame]) if kwargs.get("chunksize") else frame
    n_fields = len(first.rstrip("\n").split("\t"))
    if n_fields != len(columns):
        raise KgpexError(f"{path} line 1: {n_fields} fields, FastQTL's table has {len(columns)}")
    return pd.read_csv(
        path, sep="\t", header=None, names=columns, na_values=["NA", "nan", "-nan"],
        dtype={"phenotype_id": str, "variant_id": str}, **kwargs,
    )  # fmt: skip


def permutations_to_table(
    chunks: list[str | Path], phenotype_ids: list[str], source: str
) -> pd.DataFrame:
    """Merge a chromosome's permutation chunks into the shared cis table (PERMUTATION_COLUMNS).

    ``phenotype_ids`` are the chromosome's genes (its BED): each must appear in the chunks.
    A gene that two chunks share (equal TSS on a chunk boundary) keeps its first result.
    """
    parts = []
    for i, path in enumerate(chunks):
        part = _read_fastqtl_text(path, FASTQTL_PERMUTATION_COLUMNS)
        parts.append(part.assign(_chunk=i))
    raw = pd.concat(parts, ignore_index=True) if parts else empty_table(FASTQTL_PERMUTATION_COLUMNS)
    twice = raw["phenotype_id"].duplicated()
    if twice.any():
        names = ", ".join(raw.loc[twice, "phenotype_id"][:5])
        log.info("%s: %d genes in two chunks (equal TSS at a boundary), first kept: %s",
                 source, int(twice.sum()), names)  # fmt: skip
        raw = raw[~twice]
    unknown = sorted(set(raw["phenotype_id"]) - set(phenotype_ids))
    if unknown:
        raise KgpexError(
            f"{source}: FastQTL reported gene {unknown[0]}, which is not in the phenotype BED"
        )
    missing = [p for p in phenotype_ids if p not in set(raw["phenotype_id"])]
    if missing:
        raise KgpexError(
            f"{source}: no FastQTL result for gene {missing[0]} ({len(missing)} missing)"
        )
    untested = (raw["num_var"] == 0) | raw["variant_id"].isna()
    if untested.any():
        names = ", ".join(raw.loc[untested, "phenotype_id"][:5])
        log.warning("%s: %d of %d genes have no variant in their cis window, left out: %s",
                    source, int(untested.sum()), len(raw), names)  # fmt: skip
        raw = raw[~untested]
    bad = ~raw["ref_factor"].isin([1, -1])
    if bad.any():
        first = raw[bad].iloc[0]
        raise KgpexError(
            f"{source}: gene {first['phenotype_id']} has ref_factor {first['ref_factor']}"
        )
    order = {p: i for i, p in enumerate(phenotype_ids)}
    raw = raw.assign(
        af=np.where(raw["ref_factor"] == 1, raw["maf"], 1.0 - raw["maf"]),
        _order=raw["phenotype_id"].map(order),
    ).sort_values("_order")
    table = raw.rename(columns={"tss_distance": "start_distance"})[PERMUTATION_COLUMNS]
    for col in _INT_COLUMNS & set(PERMUTATION_COLUMNS):
        table[col] = table[col].astype("int64")
    return table.reset_index(drop=True)


def write_permutation_table(table: pd.DataFrame, dest: str | Path) -> None:
    with atomic_path(dest) as tmp, gzip_text_writer(tmp) as fh:
        table.to_csv(fh, sep="\t", index=False, float_format="%.10g")


def nominal_to_parquet(
    chunks: list[str | Path],
    alt_frequencies: pd.Series,
    phenotype_ids: list[str],
    dest: str | Path,
    source: str,
    read_rows: int = NOMINAL_READ_ROWS,
) -> int:
    """Convert a chromosome's nominal chunks to one parquet (NOMINAL_COLUMNS), streaming.

    ``af`` comes from ``alt_frequencies`` (variant ID -> in-sample ALT frequency); a variant
    missing there is an error. Genes of a chunk that an earlier chunk already reported are
    skipped. Returns the number of pairs written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, NOMINAL_ARROW_TYPES[c]) for c in NOMINAL_COLUMNS])
    known = set(phenotype_ids)
    earlier: set[str] = set()
    n_rows = 0
    with atomic_path(dest, suffix=".parquet") as tmp:
        with pq.ParquetWriter(str(tmp), schema) as writer:
            for path in chunks:
                this_chunk: set[str] = set()
                for part in _read_fastqtl_text(path, FASTQTL_NOMINAL_COLUMNS, chunksize=read_rows):
                    if part.empty:
                        continue
                    unknown = set(part["phenotype_id"].unique()) - known
                    if unknown:
                        raise KgpexError(
                            f"{path}: gene {sorted(unknown)[0]} is not in the phenotype BED"
                        )
                    genes = set(part["phenotype_id"].unique())
                    this_chunk |= genes
                    repeated = genes & earlier
                    if repeated:
                        log.info(
                            "%s: genes already in an earlier chunk skipped: %s",
                            path,
                            ", ".join(sorted(repeated)),
                        )
                        part = part[~part["phenotype_id"].isin(repeated)]
                    af = alt_frequencies.reindex(part["variant_id"].to_numpy()).to_numpy()
                    if np.isnan(af).any():
                        variant = part["variant_id"].to_numpy()[np.isnan(af)][0]
                        raise KgpexError(f"{path}: variant {variant} has no allele frequency")
                    out = part.rename(columns={"tss_distance": "start_distance"}).assign(af=af)[
                        NOMINAL_COLUMNS
                    ]
                    writer.write_table(
                        pa.Table.from_pandas(out, schema=schema, preserve_index=False)
                    )
                    n_rows += len(out)
                earlier |= this_chunk
    log.info("%s: %d variant-gene pairs for %d genes -> %s", source, n_rows, len(earlier), dest)
    return n_rows


# --- one chromosome outside Snakemake (benchmarks, cross-checks) ---------------------------


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


def compare_top_variants(reference: pd.DataFrame, other: pd.DataFrame, genes=None) -> dict:
    """How two mappers' permutation tables agree on ``genes`` (default: genes in both).

    Returns the number of genes compared, the fraction with the same top variant and the
    Pearson correlation of -log10 pval_beta.
    """
    a = reference.set_index("phenotype_id")
    b = other.set_index("phenotype_id")
    common = a.index.intersection(b.index)
    if genes is not None:
        common = common.intersection(pd.Index(genes))
    if len(common) == 0:
        return {
            "genes": 0,
            "same_top_variant": float("nan"),
            "pearson_log10_pval_beta": float("nan"),
        }
    same = float((a.loc[common, "variant_id"] == b.loc[common, "variant_id"]).mean())
    la = -np.log10(a.loc[common, "pval_beta"].astype(float).clip(lower=1e-300))
    lb = -np.log10(b.loc[common, "pval_beta"].astype(float).clip(lower=1e-300))
    r = float(np.corrcoef(la, lb)[0, 1]) if len(common) > 1 else float("nan")
    return {"genes": int(len(common)), "same_top_variant": same, "pearson_log10_pval_beta": r}
