"""Input checks that run before any expensive job, each failure one line naming file and field.

Two layers, both cheap:

- Parse time (``check_config``, called from workflow/rules/preflight.smk while Snakemake reads
  the workflow): what the config alone decides. Every source (URL or path) has an allowed
  scheme; local files the workflow reads exist unless a rule makes them; option strings that
  reach a shell command hold no shell syntax; salmon's k-mer is odd.
- Rule ``check_inputs`` (``check_inputs``), after resolve_samples and download_reference and
  before the downloads, indexing, quantification and genotype jobs: what needs file contents.
  The GTF's first gene records carry gene_id, gene_name and gene_type, and every genotype
  chromosome has genes under the pipeline's ``chr`` names (a matrix with its own annotation:
  that table instead, and no GTF); each VCF's header (only the header and first record: remote
  VCFs are not downloaded) has samples, every cohort individual among them, and the chromosome,
  named alike in header and records; the contig's length and the ##reference line, and the
  GTF's header, agree with the config's ``genome_build`` (kgpex.common.genome CHROM_LENGTHS)
  unless ``genotypes.check_build`` is false; the resolved sheets' IDs and URLs match their
  patterns again (they may come from an API) before they reach file names and commands.

Its output, ``{R}/preflight/inputs_checked.tsv``, is ``input source finding``: one row per
input checked, saying what was found.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable

from kgpex.common.errors import KgpexError
from kgpex.common.genome import bare_chrom, build_named_in, build_of_length, chrom_length
from kgpex.common.http import UrlPolicy, open_url
from kgpex.common.io import atomic_path, open_text
from kgpex.common.sources import local_path
from kgpex.preflight.config_checks import (
    MD5,
    check_individual_id,
    check_run_id,
    check_source,
)

GTF_GENE_RECORDS = 1000

OUTPUT_COLUMNS = ("input", "source", "finding")


@dataclass(frozen=True)
class Finding:
    input: str
    source: str
    finding: str


_ATTRIBUTE = {
    key: re.compile(rf'(?:^|;)\s*{key} "([^"]*)"')
    for key in ("gene_id", "gene_name", "gene_type", "gene_biotype")
}


def check_gtf(
    gtf: str | os.PathLike,
    chromosomes: Iterable[str],
    gene_records: int = GTF_GENE_RECORDS,
    label: str | None = None,
    build: str | None = None,
) -> Finding:
    """The first ``gene_records`` gene rows carry gene_id, gene_name and gene_type (or
    gene_biotype); every chromosome in ``chromosomes`` has a gene row under that name. With a
    ``build``, a header line that names a build (GENCODE's ``##description: ... (GRCh37) ...``,
    Ensembl's ``#!genome-build GRCh38.p14``) must name that one.

    Only the first column of the rest is looked at (a GENCODE GTF is sorted by chromosome).
    """
    gtf = Path(gtf)
    label = label or str(gtf)
    genes_checked = 0
    gene_chroms: set[str] = set()
    header_build = None
    try:
        with open_text(gtf, what="GTF") as fh:
            for n, line in enumerate(fh, start=1):
                if line.startswith("#"):
                    named = _header_build(line)
                    if build and named and named != build:
                        raise KgpexError(
                            f"{label} line {n}: the GTF is on {named} ({line.strip()[:80]}), "
                            f"the config's genome_build is {build} (genotypes.check_build: "
                            "false skips this check)"
                        )
                    header_build = header_build or named
                    continue
                if not line.strip():
                    continue
                fields = line.split("\t", 3)
                if len(fields) < 4:
                    raise KgpexError(f"{label} line {n}: not a GTF row (fewer than 9 tab-separated fields)")
                if fields[2] != "gene":
                    continue
                gene_chroms.add(fields[0])
                if genes_checked < gene_records:
                    _check_gene_attributes(line, label, n)
                    genes_checked += 1
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise KgpexError(f"{label}: cannot read the GTF ({err})") from None
    if not genes_checked:
        raise KgpexError(f"{label}: no gene rows (feature 'gene') in the GTF")
    missing = [c for c in chromosomes if c not in gene_chroms]
    if missing:
        bare = [c.removeprefix("chr") for c in missing if c.removeprefix("chr") in gene_chroms]
        shown = ", ".join(sorted(gene_chroms)[:8]) + (", ..." if len(gene_chroms) > 8 else "")
        if bare:
            raise KgpexError(
                f"{label}: chromosome naming: the GTF names chromosomes without 'chr' "
                f"({', '.join(bare)}), the config and VCFs use {', '.join(missing)}; use a "
                "GENCODE GTF (chr-prefixed names)"
            )
        raise KgpexError(
            f"{label}: no genes on {', '.join(missing)} (genotypes.chromosomes); "
            f"chromosomes with genes in the GTF: {shown}"
        )
    return Finding(
        "annotation",
        label,
        f"{genes_checked} gene records carry gene_id, gene_name, gene_type; "
        f"genes on {len(gene_chroms)} chromosomes"
        + (f"; header names {header_build}" if header_build else ""),
    )


_BUILD_HEADER = re.compile(r"#+!?\s*(description|genome-build|genome-version|reference)\b", re.I)


def _header_build(line: str) -> str | None:
    """The build a GTF header line declares (description or genome-build lines only)."""
    return build_named_in(line) if _BUILD_HEADER.match(line) else None


def check_gene_table(
    genes: str | os.PathLike,
    chromosomes: Iterable[str],
    build: str | None = None,
    label: str | None = None,
) -> Finding:
    """A matrix's own annotation, imported as a genes table (kgpex.reference.genes), in place
    of the GTF: every chromosome in ``chromosomes`` has genes; with a ``build``, no gene lies
    beyond its chromosome's end in that build."""
    import pandas as pd

    label = label or str(genes)
    # Written by import_gene_annotation, which checked every field (kgpex.matrix_input.read);
    # the columns are kgpex.reference.genes GENES_COLUMNS (a later stage: not imported here).
    try:
        table = pd.read_csv(genes, sep="\t", dtype={"gene_id": str, "chrom": str}).set_index("gene_id")
        table = table[["chrom", "end", "tss"]]
    except (OSError, KeyError, ValueError, pd.errors.ParserError) as err:
        raise KgpexError(f"{label}: cannot read the imported gene table {genes} ({err})") from None
    gene_chroms = set(table["chrom"])
    missing = [c for c in chromosomes if c not in gene_chroms]
    if missing:
        shown = ", ".join(sorted(gene_chroms)[:8]) + (", ..." if len(gene_chroms) > 8 else "")
        raise KgpexError(
            f"{label}: no genes on {', '.join(missing)} (genotypes.chromosomes); "
            f"chromosomes with genes in the annotation: {shown or 'none'}"
        )
    if build:
        for chrom, rows in table.groupby("chrom"):
            length = chrom_length(build, chrom)
            last = int(rows[["end", "tss"]].max().max())
            if length is not None and last > length:
                gene = rows.index[int(rows[["end", "tss"]].max(axis=1).to_numpy().argmax())]
                raise KgpexError(
                    f"{label}: gene {gene} at {chrom}:{last} lies beyond {chrom}'s end in "
                    f"{build} ({length}); is the annotation on another build? "
                    "(genotypes.check_build: false skips this check)"
                )
    return Finding(
        "annotation",
        label,
        f"{len(table)} genes on {len(gene_chroms)} chromosomes"
        + (f", within {build}'s chromosome lengths" if build else ""),
    )


def _check_gene_attributes(line: str, label: str, n: int) -> None:
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 9:
        raise KgpexError(f"{label} line {n}: expected 9 tab-separated GTF fields, found {len(fields)}")
    attributes = fields[8]
    gene_id = _ATTRIBUTE["gene_id"].search(attributes)
    if not gene_id:
        raise KgpexError(f"{label} line {n}: gene row without gene_id")
    for key, alternative in (("gene_name", None), ("gene_type", "gene_biotype")):
        if not _ATTRIBUTE[key].search(attributes) and not (
            alternative and _ATTRIBUTE[alternative].search(attributes)
        ):
            raise KgpexError(
                f"{label} line {n}: gene {gene_id.group(1)} has no {key} attribute "
                "(a GENCODE GTF names every gene)"
            )


# A VCF header is well under this (NYGC's: ~10 kB); more without a #CHROM line is not a VCF.
HEADER_LIMIT = 16 << 20


def _open_source(source: str, label: str, access: UrlPolicy) -> IO[bytes]:
    """A byte stream of a local file or a URL (http, https, ftp); retried on network errors.

    URLs are opened by ``kgpex.common.http.open_url``: the same URL and redirect policy as
    every download."""
    import time
    import urllib.error

    path = local_path(source)
    if path is not None:
        if not path.is_file():
            raise KgpexError(f"{label}: VCF not found: {path}")
        return open(path, "rb")
    try:
        url = access.url(source)
    except KgpexError as err:
        raise KgpexError(f"{label}: {err}") from None
    retries, backoff = access.retries, access.backoff
    for attempt in range(retries + 1):
        try:
            return open_url(url, access)
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt == retries:
                raise KgpexError(f"{label}: cannot read the VCF (HTTP {err.code} {err.reason})") from None
        except KgpexError as err:
            raise KgpexError(f"{label}: {err}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            if attempt == retries:
                raise KgpexError(f"{label}: cannot read the VCF ({err})") from None
        time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def _header_text(stream: IO[bytes], label: str) -> str:
    """The header lines and the first record of a (b)gzipped or plain VCF stream; stops there."""
    import zlib

    first = stream.read(2)
    decompressor = zlib.decompressobj(wbits=31) if first == b"\x1f\x8b" else None
    pending = first if decompressor is None else decompressor.decompress(first)
    text = b""
    while True:
        text += pending
        chrom_line = text.find(b"\n#CHROM") if not text.startswith(b"#CHROM") else 0
        if chrom_line >= 0:
            after = text.find(b"\n", chrom_line + 1)
            record_end = text.find(b"\n", after + 1) if after >= 0 else -1
            if record_end >= 0:
                return text[: record_end + 1].decode("utf-8", "replace")
        if len(text) > HEADER_LIMIT:
            raise KgpexError(f"{label}: not a VCF (no #CHROM line in its first {HEADER_LIMIT} bytes)")
        chunk = stream.read(1 << 16)
        if not chunk:
            if decompressor is not None and not decompressor.eof:
                raise KgpexError(f"{label}: not a readable VCF (truncated gzip)")
            if chrom_line >= 0:
                return text.decode("utf-8", "replace")  # header only, or a last record without newline
            raise KgpexError(f"{label}: not a VCF (no #CHROM header line)")
        if decompressor is None:
            pending = chunk
            continue
        try:
            pending = decompressor.decompress(chunk)
            while decompressor.eof and decompressor.unused_data:  # next BGZF block
                rest = decompressor.unused_data
                decompressor = zlib.decompressobj(wbits=31)
                pending += decompressor.decompress(rest)
        except zlib.error as err:
            raise KgpexError(f"{label}: not a readable VCF ({err})") from None


@dataclass(frozen=True)
class VcfHeader:
    samples: list[str]
    contigs: list[str]  # the ##contig IDs; without any, the first record's chromosome
    lengths: dict[str, int]  # ##contig lengths, where given
    declared: bool  # the contigs come from ##contig lines
    first_chrom: str | None  # the first record's chromosome (None: no record)
    reference: str  # the ##reference line's value ("" if none)


def read_vcf_header(source: str, label: str, access: UrlPolicy | None = None) -> VcfHeader:
    """Samples, contigs (with lengths) and first record's chromosome of a VCF (local path or
    URL), from its header and first record only.

    Only the first bytes are transferred, up to the first record; no index is read (htslib
    would fetch a remote one into the working directory). pysam parses the header.
    """
    import tempfile

    import pysam

    with _open_source(source, label, access or UrlPolicy()) as stream:
        text = _header_text(stream, label)
    lines = text.splitlines()
    chrom_line = next((i for i, line in enumerate(lines) if line.startswith("#CHROM")), None)
    record = lines[chrom_line + 1] if chrom_line is not None and chrom_line + 1 < len(lines) else ""
    first_chrom = record.split("\t", 1)[0] if record.strip() else None
    reference = next(
        (line.split("=", 1)[1] for line in lines if line.startswith("##reference=")), ""
    )
    with tempfile.TemporaryDirectory(prefix="kgpex-preflight-") as tmp:
        header_file = Path(tmp) / "header.vcf"
        header_file.write_text(text)
        try:
            with pysam.VariantFile(str(header_file)) as vf:
                contigs = list(vf.header.contigs)
                lengths = {
                    c: int(vf.header.contigs[c].length)
                    for c in contigs
                    if vf.header.contigs[c].length is not None
                }
                declared = bool(contigs)
                if not contigs:
                    # No ##contig lines: the first record names the chromosome.
                    first = next(iter(vf), None)
                    contigs = [first.chrom] if first is not None else []
                return VcfHeader(
                    list(vf.header.samples), contigs, lengths, declared, first_chrom, reference
                )
        except (OSError, ValueError, StopIteration) as err:
            raise KgpexError(f"{label}: not a readable VCF ({err})") from None


def vcf_header(
    source: str, label: str, access: UrlPolicy | None = None
) -> tuple[list[str], list[str]]:
    """Samples and contigs of a VCF (local path or URL), from its header only."""
    header = read_vcf_header(source, label, access)
    return header.samples, header.contigs


def check_vcf_build(header: VcfHeader, contig: str, build: str, label: str) -> str:
    """``contig``'s ##contig length and the ##reference line agree with ``build``.

    A length that is another known build's, or longer than the chromosome in ``build``, stops
    the run; a shorter length of no known build (a synthetic or cut-down genome, such as the
    demo's) passes, and the finding says so. Returns the finding's words."""
    length = header.lengths.get(contig)
    expected = chrom_length(build, contig)
    hint = "(genotypes.check_build: false skips this check)"
    if length is not None and expected is not None and length != expected:
        other = build_of_length(contig, length)
        if other or length > expected:
            of = f"{other}'s length" if other else f"longer than {build}'s {expected}"
            raise KgpexError(
                f"{label}: contig {contig} has length {length} ({of}), the config's "
                f"genome_build is {build} (chr{bare_chrom(contig)} {expected}) {hint}"
            )
    named = build_named_in(header.reference) if header.reference else None
    if named and named != build:
        raise KgpexError(
            f"{label}: ##reference={header.reference[:80]} is {named}, the config's genome_build "
            f"is {build} {hint}"
        )
    if length is None or expected is None:
        return f"{build} not checked (no ##contig length for {contig})"
    if length != expected:
        return f"length {length}, not {build}'s {expected} (no known build: not checked)"
    return f"length {length} ({build})"


def check_record_naming(header: VcfHeader, label: str) -> None:
    """The first record's chromosome is named as the header's ##contig lines name it (a header
    of ``22`` over records of ``chr22`` is a VCF re-headered from another file)."""
    first = header.first_chrom
    if not header.declared or first is None or first in header.contigs:
        return
    same = [c for c in header.contigs if bare_chrom(c) == bare_chrom(first)]
    if same:
        raise KgpexError(
            f"{label}: chromosome naming: the header's ##contig is {same[0]}, the records' "
            f"chromosome is {first} (fix the header, e.g. bcftools reheader)"
        )


def check_vcf(
    source: str,
    chrom: str,
    individuals: Iterable[str],
    label: str,
    access: UrlPolicy | None = None,
    build: str | None = None,
) -> Finding:
    """The VCF has samples, every individual among them, and ``chrom`` (or its bare name); its
    header and first record name the chromosome alike; with a ``build``, the contig's length
    and the ##reference line agree with it (``check_vcf_build``)."""
    header = read_vcf_header(source, label, access)
    samples, contigs = header.samples, header.contigs
    if not samples:
        raise KgpexError(f"{label}: the VCF has no samples (a sites-only VCF); genotypes are needed")
    present = set(samples)
    missing = sorted(set(individuals) - present)
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise KgpexError(
            f"{label}: {len(missing)} cohort individual(s) not among the VCF's "
            f"{len(samples)} samples: {shown}"
        )
    bare = chrom.removeprefix("chr")
    if chrom in contigs:
        contig = chrom
    elif bare in contigs:
        contig = bare  # renamed to chr-prefixed by cohort_genotypes
    else:
        shown = ", ".join(contigs[:10]) + (" ..." if len(contigs) > 10 else "")
        raise KgpexError(
            f"{label}: chromosome naming: neither {chrom} nor {bare} is among the VCF's "
            f"contigs ({shown or 'none'})"
        )
    built = f" ({check_vcf_build(header, contig, build, label)})" if build else ""
    check_record_naming(header, label)
    return Finding(
        f"vcf {chrom}",
        label,
        f"{len(samples)} samples, all cohort individuals; contig {contig}{built}",
    )


def _rows(path: str | os.PathLike, columns: Iterable[str]) -> list[tuple[int, dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        absent = [c for c in columns if c not in (reader.fieldnames or [])]
        if absent:
            raise KgpexError(f"{path} line 1: missing column(s) {', '.join(absent)}")
        return list(enumerate(reader, start=2))


def check_resolved_samples(
    individuals: str | os.PathLike,
    runs: str | os.PathLike,
    sources: str | os.PathLike,
    access: UrlPolicy | None = None,
    any_ids: bool = False,
) -> tuple[list[str], list[Finding]]:
    """The resolved sheets' IDs, URLs (scheme, host) and md5s; returns the individuals.
    ``any_ids``: a phenotype BED's samples, which need not be 1000 Genomes IDs."""
    cohort = []
    for n, row in _rows(individuals, ["individual"]):
        if any_ids:
            cohort.append(row["individual"])
            continue
        cohort.append(check_individual_id(row["individual"], f"{individuals} line {n}"))
    run_ids = []
    for n, row in _rows(runs, ["run_accession", "individual"]):
        run_ids.append(check_run_id(row["run_accession"], f"{runs} line {n}"))
        check_individual_id(row["individual"], f"{runs} line {n}")
    for n, row in _rows(sources, ["run_accession", "url_1", "url_2", "md5_1", "md5_2"]):
        where = f"{sources} line {n}"
        check_run_id(row["run_accession"], where)
        for mate in ("1", "2"):
            if row[f"url_{mate}"]:
                check_source(row[f"url_{mate}"], f"{where}: field 'url_{mate}'", access)
            md5 = row[f"md5_{mate}"]
            if md5 and not MD5.fullmatch(md5):
                raise KgpexError(f"{where}: field 'md5_{mate}': '{md5}' is not an md5 (32 hex digits)")
    findings = [
        Finding("individuals", str(individuals), f"{len(cohort)} {'sample' if any_ids else 'individual'} IDs"),
        Finding("runs", str(runs), f"{len(run_ids)} run IDs"),
        Finding("run sources", str(sources), "URLs and md5s well-formed"),
    ]
    return cohort, findings


def _missing_line(cohort: list[str], present: Iterable[str], label: str, what: str) -> None:
    """One line naming ``label`` and the first cohort samples it lacks."""
    have = set(present)
    missing = [s for s in cohort if s not in have]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        some = ", ".join(list(present)[:3]) or "none"
        raise KgpexError(
            f"{label}: {len(missing)} of the cohort's {len(cohort)} samples not among its "
            f"{what}: {shown} (its first: {some})"
        )


def check_covariate_samples(path: str | os.PathLike, cohort: list[str], label: str) -> Finding:
    """The user's covariates (covariates.input) hold every cohort sample: in the header
    (FastQTL's ``id <samples...>``) or in the first column (transposed). The values are
    checked when imported (kgpex.covariates.user)."""
    with open_text(path, what="covariates file") as fh:
        rows = [line.rstrip("\r\n").split("\t") for line in fh if line.strip()]
    if not rows:
        raise KgpexError(f"{label}: empty covariates file")
    header, column = rows[0][1:], [r[0] for r in rows[1:]]
    transposed = len(set(cohort) & set(column)) > len(set(cohort) & set(header))
    _missing_line(cohort, column if transposed else header, label,
                  "rows' sample IDs" if transposed else "header's sample IDs")
    layout = "one row per sample" if transposed else "one row per covariate"
    return Finding("covariates", label, f"all {len(cohort)} cohort samples ({layout})")


def check_psam(psam: str | os.PathLike, chrom: str, cohort: list[str]) -> Finding:
    """A PLINK 2 fileset (genotypes.pgen) holds every cohort sample."""
    for ext in (".pgen", ".pvar", ".psam"):
        path = str(psam)[: -len(".psam")] + ext
        if not Path(path).is_file():
            raise KgpexError(f"{path}: not found (genotypes.pgen, {chrom})")
    with open(psam) as fh:
        lines = [line.rstrip("\n").split("\t") for line in fh if not line.startswith("##")]
    header = lines[0] if lines else []
    if not header or header[0] not in ("#IID", "#FID"):
        raise KgpexError(f"{psam} line 1: header must start with #IID or #FID")
    col = header.index("IID") if header[0] == "#FID" else 0
    _missing_line(cohort, [r[col] for r in lines[1:] if r and r[0]], str(psam), "samples")
    return Finding(f"pgen {chrom}", str(psam), f"{len(lines) - 1} samples, all cohort samples")


def check_inputs(
    individuals: str | os.PathLike,
    runs: str | os.PathLike,
    sources: str | os.PathLike,
    gtf: str | os.PathLike | None,
    vcf_sources: dict[str, str],
    dest: str | os.PathLike,
    gene_records: int = GTF_GENE_RECORDS,
    gtf_label: str | None = None,
    download: dict | None = None,
    genes: str | os.PathLike | None = None,
    genes_label: str | None = None,
    build: str | None = None,
    covariates: str | os.PathLike | None = None,
    psams: dict[str, str] | None = None,
    any_ids: bool = False,
) -> list[Finding]:
    """Rule check_inputs: every content check, then ``dest`` (``input source finding``).

    ``gtf`` None: a matrix with its own annotation, checked as the imported genes table
    ``genes`` instead. ``build``: the config's genome_build (None: genotypes.check_build
    false). ``download``: the config's download section (allowed hosts, timeout, retries).
    """
    access = UrlPolicy.from_config(download or {})
    cohort, findings = check_resolved_samples(individuals, runs, sources, access, any_ids)
    # Bring your own phenotypes: the samples of covariates and genotypes before any work.
    if covariates is not None:
        findings.append(check_covariate_samples(covariates, cohort, str(covariates)))
    for chrom, psam in (psams or {}).items():
        findings.append(check_psam(psam, chrom, cohort))
    if gtf is not None:
        findings.append(check_gtf(gtf, vcf_sources, gene_records, label=gtf_label, build=build))
    if genes is not None:
        findings.append(check_gene_table(genes, vcf_sources, build, label=genes_label))
    for chrom, source in vcf_sources.items():
        findings.append(
            check_vcf(source, chrom, cohort, label=source, access=access, build=build)
        )
    with atomic_path(dest) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(OUTPUT_COLUMNS)
        for finding in findings:
            writer.writerow([finding.input, finding.source, finding.finding])
    return findings
