"""Genotype stage: NYGC phased VCFs -> cohort genotypes in PLINK2 format, and genotype PCs.

Per chromosome (``cohort_genotypes``) the VCF is streamed through bcftools into a temporary
cohort-only BCF, which plink2 converts (plink2 reads its input twice, so it cannot sit on a pipe):

    bcftools view -r CONTIG -S cohort -m2 -M2 -e 'ALT="*"'   keep the cohort, biallelic records
      | tee FIFO -> bcftools query -i <bad genotypes>        checker, read here: first hit stops
      | bcftools annotate -x ID,QUAL,FILTER,INFO,^FORMAT/GT   panel INFO gone: AF/MAF come from GT
        [--rename-chrs]                                       22 -> chr22 (the one naming rule)
      | bcftools +fixploidy -- -f 2                            chrX only: haploid '1' -> '1/1'
      | bcftools view -i 'MAF>=maf [&& minor-allele samples]' -Ob  in-sample filter, after ploidy
    plink2 --bcf ... --make-pgen --output-chr chrM

Nothing here holds a chromosome in Python memory: Python reads only the checker's hits and
rewrites the .pvar line by line.

Conventions of the outputs (``{R}/genotypes/{chrom}.pgen/.pvar/.psam``):
- Samples are exactly the cohort, in Python ``sorted()`` order (ASCII, as ``INDIVIDUALS``); the
  .psam is ``#IID SEX`` (1 male, 2 female, from the individuals sheet).
- Chromosome names keep the ``chr`` prefix. A VCF whose contig is the bare name (``22``, ``X``)
  is renamed to ``chr22``/``chrX``; any other naming stops the run.
- Records: biallelic (``-m2 -M2``), spanning-deletion ``*`` alleles dropped; MAF >= ``maf``
  counted in the cohort only (and, optionally, >= ``min_minor_allele_samples`` samples carrying
  the minor allele). The VCF's FILTER column is not used (NYGC's files are already filtered).
- Variant IDs are ``chrom:pos:ref:alt`` (see ``variant_id``); REF/ALT in the .pvar stay full.
  Exact duplicate records (same chrom, pos, ref, alt) keep their first copy, logged.
- chrX: males' haploid calls outside the GRCh38 PARs become diploid homozygous, as MAGE did;
  females are untouched. A haploid call in a female, in a male inside a PAR, or on an autosome
  is an error, as is any unphased (``/``) genotype or an allele index other than 0/1.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import tempfile
from pathlib import Path

from kgpex.errors import KgpexError
from kgpex.sources import to_url

log = logging.getLogger("kgpex.genotypes")

# GRCh38 pseudo-autosomal regions on chrX, 1-based inclusive (Genome Reference Consortium).
PARS_GRCH38 = {"PAR1": (10_001, 2_781_479), "PAR2": (155_701_383, 156_030_895)}
# The empty BGZF block every complete bgzip file ends with (SAM/BAM spec, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
SEX_CODES = {"male": "1", "female": "2"}
CHECKER_HITS_SHOWN = 1


# -- sources and downloads ---------------------------------------------------------------------


def vcf_source(genotypes_config: dict, chrom: str) -> str:
    """The configured URL or path of ``chrom``'s VCF (NYGC names chrX's file differently)."""
    if chrom == "chrX" and genotypes_config.get("vcf_url_chrX"):
        return genotypes_config["vcf_url_chrX"]
    return genotypes_config["vcf_url"].replace("{chrom}", chrom)


def index_of(vcf: str | os.PathLike) -> Path | None:
    """The tabix (.tbi) or CSI (.csi) index beside ``vcf``, or None."""
    for suffix in (".tbi", ".csi"):
        candidate = Path(f"{vcf}{suffix}")
        if candidate.exists():
            return candidate
    return None


def check_bgzf(path: str | os.PathLike, threads: int = 1, label: str | None = None) -> None:
    """A complete, uncorrupted bgzip file: EOF block present and every block decompresses."""
    path = Path(path)
    label = label or str(path)
    size = path.stat().st_size
    if size < len(BGZF_EOF):
        raise KgpexError(f"{label}: {size} bytes: not a bgzip file (truncated download?)")
    with open(path, "rb") as fh:
        if fh.read(4) != BGZF_EOF[:4]:
            raise KgpexError(f"{label}: not bgzip-compressed (no BGZF header)")
        fh.seek(-len(BGZF_EOF), os.SEEK_END)
        if fh.read() != BGZF_EOF:
            raise KgpexError(f"{label}: no BGZF end-of-file block: the file is truncated")
    proc = subprocess.run(
        ["bgzip", "--test", "--threads", str(max(threads, 1)), str(path)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise KgpexError(f"{label}: corrupted bgzip data ({_first_error(proc.stderr)})")


def vcf_contig(chrom: str, contigs: list[str], label: str) -> str:
    """The VCF's name for ``chrom``: itself, or its bare form (``22`` for ``chr22``).

    The one harmonisation rule: a VCF that writes chromosomes without the ``chr`` prefix is
    renamed to the prefixed names used everywhere else (GTF, BED, pvar). Anything else stops.
    """
    if chrom in contigs:
        return chrom
    bare = chrom.removeprefix("chr")
    if bare in contigs:
        return bare
    shown = ", ".join(contigs[:30]) + (" ..." if len(contigs) > 30 else "")
    raise KgpexError(
        f"{label}: chromosome {chrom} (or {bare}) is not in the VCF; its index lists: "
        f"{shown or 'no contigs'}"
    )


def index_contigs(vcf: str | os.PathLike, index: str | os.PathLike | None = None) -> list[str]:
    """Contigs with records, as the tabix/CSI index lists them."""
    import pysam

    index = index or index_of(vcf)
    if index is None:
        raise KgpexError(f"{vcf}: no index ({vcf}.tbi or .csi); index it with 'tabix -p vcf {vcf}'")
    try:
        with pysam.TabixFile(str(vcf), index=str(index)) as tbx:
            return list(tbx.contigs)
    except (OSError, ValueError) as err:
        raise KgpexError(f"{index}: not a readable index of {vcf} ({err})") from None


def check_index_answers(
    vcf: str | os.PathLike, index: str | os.PathLike, chrom: str, label: str | None = None
) -> str:
    """Query ``chrom`` through ``index``: the first record must come back, on that contig.

    Returns the VCF's contig name for ``chrom``. A stale or foreign index fails here.
    """
    import pysam

    label = label or str(vcf)
    contig = vcf_contig(chrom, index_contigs(vcf, index), label)
    try:
        with pysam.TabixFile(str(vcf), index=str(index)) as tbx:
            first = next(iter(tbx.fetch(contig)), None)
    except (OSError, ValueError, StopIteration) as err:
        raise KgpexError(
            f"{label}: the index does not answer a query of {contig} ({err})"
        ) from None
    if first is None or first.split("\t", 1)[0] != contig:
        raise KgpexError(f"{label}: the index does not answer a query of {contig} (stale index?)")
    return contig


def download_vcf(
    url: str,
    chrom: str,
    dest: str | os.PathLike,
    md5sums_url: str = "",
    threads: int = 1,
    options: dict | None = None,
) -> Path:
    """Fetch ``url`` and ``url.tbi`` to ``dest`` and ``dest.tbi``, verified.

    The index comes first (small, and a VCF without one is useless). The VCF must be complete
    bgzip (EOF block, every block decompresses), match the md5 in ``md5sums_url`` when one is
    configured (the VCF must be listed; the index is checked when listed), and its index must
    answer a query of ``chrom``. Both files get their final names only after all checks.
    """
    from kgpex.download import fetch, md5sums_lookup

    options = dict(options or {})
    dest = Path(dest)
    dest_tbi = Path(f"{dest}.tbi")
    url, tbi_url = to_url(url), to_url(url) + ".tbi"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
        tmp = Path(tmp)
        md5_vcf = md5_tbi = None
        if md5sums_url:
            md5sums = fetch(to_url(md5sums_url), tmp / "MD5SUMS", **options)
            md5_vcf = md5sums_lookup(md5sums, _url_name(url))
            try:
                md5_tbi = md5sums_lookup(md5sums, _url_name(tbi_url))
            except KgpexError:
                log.info(
                    "%s: no md5 listed for the index; it is checked by querying it", md5sums_url
                )
        tbi = fetch(tbi_url, tmp / "index.tbi", md5=md5_tbi, **options)

        def check(partial: Path) -> None:
            check_bgzf(partial, threads=threads)
            contig = check_index_answers(partial, tbi, chrom)
            log.info("%s: complete bgzip; index answers for %s", url, contig)

        fetch(url, dest, md5=md5_vcf, check=check, **options)
        os.replace(tbi, dest_tbi)
    # htslib warns when an index is older than its data file.
    os.utime(dest_tbi)
    return dest


def _url_name(url: str) -> str:
    from urllib.parse import unquote, urlparse

    return unquote(Path(urlparse(url).path).name)


# -- variant IDs -------------------------------------------------------------------------------


def id_allele(allele: str, max_len: int) -> str:
    """An allele as written in a variant ID: itself up to ``max_len`` characters, else a token.

    The token ``<length>bp_<16 hex of sha256(allele)>`` starts with a digit, so it can never be
    read as a sequence, keeps the length visible, and differs for different alleles.
    """
    if len(allele) <= max_len:
        return allele
    return f"{len(allele)}bp_{hashlib.sha256(allele.encode()).hexdigest()[:16]}"


def variant_id(chrom: str, pos: int | str, ref: str, alt: str, max_allele_len: int) -> str:
    """``chrom:pos:ref:alt`` with alleles longer than ``max_allele_len`` replaced by a token."""
    return f"{chrom}:{pos}:{id_allele(ref, max_allele_len)}:{id_allele(alt, max_allele_len)}"


def write_variant_ids(
    pvar_in: str | os.PathLike, pvar_out: str | os.PathLike, max_allele_len: int
) -> tuple[int, list[str]]:
    """Copy a .pvar line by line with IDs set by ``variant_id``.

    Returns (number of variants, IDs given to exact duplicate records, to be excluded). An ID is
    unique unless the record is an exact duplicate; two different records with one ID (a hash
    collision) raise. Only the IDs at the current position are held in memory.
    """
    n = 0
    duplicates: list[str] = []
    with open(pvar_in) as src, open(pvar_out, "w") as out:
        columns = None
        here: tuple[str, str] | None = None
        seen: dict[str, tuple[str, str]] = {}
        for line in src:
            if line.startswith("##"):
                out.write(line)
                continue
            if columns is None:
                if not line.startswith("#CHROM"):
                    raise KgpexError(f"{pvar_in}: no '#CHROM' header line")
                columns = line.rstrip("\n").split("\t")
                c_chrom, c_pos, c_id, c_ref, c_alt = (
                    columns.index(c) for c in ("#CHROM", "POS", "ID", "REF", "ALT")
                )
                out.write(line)
                continue
            fields = line.rstrip("\n").split("\t")
            chrom, pos, ref, alt = fields[c_chrom], fields[c_pos], fields[c_ref], fields[c_alt]
            if (chrom, pos) != here:
                here, seen = (chrom, pos), {}
            vid = variant_id(chrom, pos, ref, alt, max_allele_len)
            if vid in seen:
                if seen[vid] != (ref, alt):
                    raise KgpexError(
                        f"{pvar_in}: variant ID {vid} names two different records at {chrom}:{pos}"
                    )
                vid = f"{vid}#duplicate{len(duplicates) + 1}"
                duplicates.append(vid)
            else:
                seen[vid] = (ref, alt)
            fields[c_id] = vid
            out.write("\t".join(fields) + "\n")
            n += 1
    return n, duplicates


# -- cohort genotypes ---------------------------------------------------------------------------


def vcf_samples(vcf: str | os.PathLike) -> list[str]:
    import pysam

    try:
        with pysam.VariantFile(str(vcf)) as vf:
            return list(vf.header.samples)
    except (OSError, ValueError) as err:
        raise KgpexError(f"{vcf}: not a readable VCF ({err})") from None


def check_cohort_in_vcf(vcf: str | os.PathLike, individuals: list[str]) -> None:
    """Every cohort individual must be a sample of the VCF; list all who are not."""
    present = set(vcf_samples(vcf))
    missing = sorted(set(individuals) - present)
    if missing:
        raise KgpexError(
            f"{vcf}: {len(missing)} cohort individual(s) not among its {len(present)} samples: "
            + ", ".join(missing)
        )


def index_record_count(vcf: str | os.PathLike, contig: str) -> int | None:
    """Records on ``contig`` according to the index (bcftools index --stats), if it knows."""
    proc = subprocess.run(
        ["bcftools", "index", "--stats", str(vcf)], capture_output=True, text=True
    )
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] == contig and fields[2].isdigit():
            return int(fields[2])
    return None


def genotype_check_expression(chrom: str, females_file: str | None) -> str:
    """bcftools expression that flags records holding a genotype this stage refuses.

    It only selects candidates: ``diagnose_genotypes`` decides, sample by sample.
    """
    parts = ['GT~"/"', 'GT~"[2-9]"', 'GT~"[0-9][0-9]"']
    if chrom == "chrX":
        in_par = " || ".join(f"(POS>={a} && POS<={b})" for a, b in PARS_GRCH38.values())
        parts.append(f'(GT="hap" && ({in_par}))')
        if females_file:
            parts.append(f'GT[@{females_file}]="hap"')
    else:
        parts.append('GT="hap"')
    return " || ".join(parts)


def in_par(pos: int) -> str | None:
    for name, (start, end) in PARS_GRCH38.items():
        if start <= pos <= end:
            return name
    return None


def diagnose_genotypes(line: str, chrom: str, sexes: dict[str, str]) -> str | None:
    """The problem in one checker line (``chrom pos ref alt SAMPLE=GT...``), or None."""
    fields = line.rstrip("\n").split("\t")
    vcf_chrom, pos, ref, alt = fields[:4]
    problems = []
    for entry in fields[4:]:
        sample, _, gt = entry.rpartition("=")
        alleles = gt.replace("|", "/").split("/")
        if "/" in gt:
            problems.append((sample, gt, "unphased genotype (the panel must be phased)"))
        elif any(a not in ("0", "1", ".") for a in alleles):
            problems.append(
                (sample, gt, "malformed genotype (a biallelic record allows alleles 0 and 1)")
            )
        elif len(alleles) == 1:
            if chrom != "chrX":
                problems.append((sample, gt, f"haploid genotype on {chrom}"))
            elif sexes.get(sample) != "male":
                problems.append((sample, gt, f"haploid chrX genotype in a {sexes.get(sample)}"))
            elif in_par(int(pos)):
                problems.append(
                    (sample, gt, f"haploid genotype in a male inside {in_par(int(pos))}")
                )
    if not problems:
        return None
    sample, gt, what = problems[0]
    more = f" (and {len(problems) - 1} more sample(s) at this record)" if len(problems) > 1 else ""
    return f"{vcf_chrom}:{pos} {ref}>{alt}: {what}: {sample} has GT '{gt}'{more}"


def minor_allele_filter(maf: float, min_minor_allele_samples: int) -> str:
    """bcftools include expression: in-sample MAF and, optionally, minor-allele carriers.

    With INFO stripped, bcftools computes AF and MAF from the genotypes of the samples kept.
    At AF = 0.5 the ALT allele counts as the minor one.
    """
    expression = f"MAF>={maf!r}"
    if min_minor_allele_samples > 0:
        k = min_minor_allele_samples
        expression += f' && ((AF<=0.5 && N_PASS(GT="alt")>={k}) || (AF>0.5 && N_PASS(GT="ref" | GT="het")>={k}))'
    return expression


def cohort_genotypes(
    vcf: str | os.PathLike,
    chrom: str,
    sexes: dict[str, str],
    out_prefix: str | os.PathLike,
    maf: float = 0.01,
    min_minor_allele_samples: int = 0,
    id_max_allele_len: int = 100,
    threads: int = 1,
    memory_mb: int = 1500,
) -> int:
    """Write ``out_prefix``.pgen/.pvar/.psam for the cohort ``sexes`` (individual -> sex).

    Returns the number of variants written. See the module docstring for the conventions.
    """
    vcf = Path(vcf)
    out_prefix = Path(out_prefix)
    samples = sorted(sexes)
    bad_sex = [s for s in samples if sexes[s] not in SEX_CODES]
    if bad_sex:
        raise KgpexError(
            f"individual {bad_sex[0]}: sex must be male or female, got {sexes[bad_sex[0]]!r}"
        )
    if not vcf.exists():
        raise KgpexError(f"{vcf}: no such file")
    # Cheap checks first: EOF block, index, contig, samples.
    with open(vcf, "rb") as fh:
        fh.seek(-min(len(BGZF_EOF), vcf.stat().st_size), os.SEEK_END)
        if fh.read() != BGZF_EOF:
            raise KgpexError(f"{vcf}: no BGZF end-of-file block: the file is truncated")
    index = index_of(vcf)
    if index is None:
        raise KgpexError(f"{vcf}: no index ({vcf}.tbi or .csi); index it with 'tabix -p vcf {vcf}'")
    contig = vcf_contig(chrom, index_contigs(vcf, index), str(vcf))
    check_cohort_in_vcf(vcf, samples)
    n_records = index_record_count(vcf, contig)
    log.info(
        "%s: %s records on %s (index); cohort of %d (%d male, %d female)",
        vcf,
        n_records if n_records is not None else "?",
        contig,
        len(samples),
        sum(sexes[s] == "male" for s in samples),
        sum(sexes[s] == "female" for s in samples),
    )

    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_prefix.name}.", dir=out_prefix.parent) as tmp:
        tmp = Path(tmp)
        cohort_bcf = tmp / "cohort.bcf"
        _stream_cohort_bcf(
            vcf,
            chrom,
            contig,
            samples,
            sexes,
            cohort_bcf,
            tmp,
            maf,
            min_minor_allele_samples,
            threads,
        )
        if not _has_records(cohort_bcf):
            raise KgpexError(
                f"{vcf}: no biallelic variant on {chrom} has MAF >= {maf} in the "
                f"{len(samples)} cohort individuals"
            )
        _plink2(
            ["--bcf", str(cohort_bcf), "--make-pgen", "--output-chr", "chrM"],
            tmp / "imported",
            threads,
            memory_mb,
        )
        cohort_bcf.unlink()
        n_variants, duplicates = write_variant_ids(
            tmp / "imported.pvar", tmp / "named.pvar", id_max_allele_len
        )
        imported_samples = _psam_ids(tmp / "imported.psam")
        if imported_samples != samples:
            raise KgpexError(f"{vcf}: plink2 wrote samples in an unexpected order (internal error)")
        (tmp / "named.pvar").replace(tmp / "imported.pvar")
        final = tmp / "imported"
        if duplicates:
            log.warning(
                "%s: %d exact duplicate record(s) removed (first copy kept), e.g. %s",
                chrom,
                len(duplicates),
                duplicates[0].split("#")[0],
            )
            (tmp / "duplicates.txt").write_text("\n".join(duplicates) + "\n")
            final = tmp / "deduplicated"
            _plink2(
                [
                    "--pfile",
                    str(tmp / "imported"),
                    "--exclude",
                    str(tmp / "duplicates.txt"),
                    "--make-pgen",
                    "--output-chr",
                    "chrM",
                ],
                final,
                threads,
                memory_mb,
            )
            n_variants -= len(duplicates)
        with open(f"{final}.psam", "w") as fh:
            fh.write("#IID\tSEX\n")
            fh.writelines(f"{s}\t{SEX_CODES[sexes[s]]}\n" for s in samples)
        # .psam last: a set with a final .psam was completely written.
        for ext in (".pgen", ".pvar", ".psam"):
            os.replace(f"{final}{ext}", f"{out_prefix}{ext}")
    log.info(
        "%s: %d variants written (biallelic, MAF >= %s%s) for %d samples to %s.pgen",
        chrom,
        n_variants,
        maf,
        f", >= {min_minor_allele_samples} minor-allele samples" if min_minor_allele_samples else "",
        len(samples),
        out_prefix,
    )
    return n_variants


def _stream_cohort_bcf(
    vcf: Path,
    chrom: str,
    contig: str,
    samples: list[str],
    sexes: dict[str, str],
    cohort_bcf: Path,
    tmp: Path,
    maf: float,
    min_minor_allele_samples: int,
    threads: int,
) -> None:
    samples_file = tmp / "samples.txt"
    samples_file.write_text("\n".join(samples) + "\n")
    females = [s for s in samples if sexes[s] == "female"]
    females_file = None
    if chrom == "chrX" and females:
        females_file = tmp / "females.txt"
        females_file.write_text("\n".join(females) + "\n")
    fifo = tmp / "checker.fifo"
    os.mkfifo(fifo)

    pipeline = _Pipeline(tmp)
    try:
        select = pipeline.start(
            "bcftools view (select cohort)",
            [
                "bcftools",
                "view",
                "--no-version",
                "--threads",
                str(max(threads - 1, 0)),
                "-r",
                contig,
                "-S",
                str(samples_file),
                "-m2",
                "-M2",
                "-e",
                'ALT="*"',
                "-Ou",
                str(vcf),
            ],
        )
        tee = pipeline.start("tee", ["tee", str(fifo)], stdin=select.stdout)
        checker = pipeline.start(
            "bcftools query (genotype check)",
            [
                "bcftools",
                "query",
                "-i",
                genotype_check_expression(chrom, females_file and str(females_file)),
                "-f",
                r"%CHROM\t%POS\t%REF\t%ALT[\t%SAMPLE=%GT]\n",
                str(fifo),
            ],
            stdin=subprocess.DEVNULL,
        )
        annotate_cmd = [
            "bcftools",
            "annotate",
            "--no-version",
            "-x",
            "ID,QUAL,FILTER,INFO,^FORMAT/GT",
        ]
        if contig != chrom:
            rename = tmp / "rename_chrs.txt"
            rename.write_text(f"{contig}\t{chrom}\n")
            annotate_cmd += ["--rename-chrs", str(rename)]
            log.info("%s: contig %s renamed to %s", vcf, contig, chrom)
        last = pipeline.start("bcftools annotate", annotate_cmd + ["-Ou"], stdin=tee.stdout)
        if chrom == "chrX":
            last = pipeline.start(
                "bcftools +fixploidy",
                ["bcftools", "+fixploidy", "--no-version", "-Ou", "-", "--", "-f", "2"],
                stdin=last.stdout,
            )
        pipeline.start(
            "bcftools view (MAF filter)",
            [
                "bcftools",
                "view",
                "--no-version",
                "--threads",
                "1",
                "-i",
                minor_allele_filter(maf, min_minor_allele_samples),
                "-Ob1",
                "-o",
                str(cohort_bcf),
            ],
            stdin=last.stdout,
            stdout=subprocess.DEVNULL,
        )
        problem = None
        for line in checker.stdout:
            problem = diagnose_genotypes(line.decode(), chrom, sexes)
            if problem:
                pipeline.kill()
                break
        if problem:
            raise KgpexError(f"{vcf}: {problem}")
        # A checker that died without reading the FIFO would leave tee blocked: fail now.
        if checker.wait() != 0:
            pipeline.kill()
        try:
            pipeline.wait()
        except KgpexError as err:
            raise KgpexError(f"{vcf}: {chrom}: {err}") from None
    finally:
        pipeline.kill()


class _Pipeline:
    """Processes chained by pipes; each one's stderr kept in a file for the error message."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.steps: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name, cmd, stdin=None, stdout=subprocess.PIPE) -> subprocess.Popen:
        err_path = self.tmp / f"stderr.{len(self.steps)}"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=err)
        if stdin not in (None, subprocess.DEVNULL):
            stdin.close()  # the child holds it now: EOF and SIGPIPE must reach the right process
        self.steps.append((name, proc, err_path))
        return proc

    def kill(self) -> None:
        for _, proc, _ in self.steps:
            if proc.poll() is None:
                proc.kill()
        for _, proc, _ in self.steps:
            proc.wait()
            if proc.stdout:
                proc.stdout.close()

    def wait(self) -> None:
        for _, proc, _ in self.steps:
            proc.wait()
        failed = [
            (name, proc, err)
            for name, proc, err in self.steps
            if proc.returncode not in (0, -signal.SIGPIPE, -signal.SIGKILL)
        ]
        if not failed and any(proc.returncode for _, proc, _ in self.steps):
            failed = [s for s in self.steps if s[1].returncode]
        if failed:
            # The most upstream real failure is the cause; the others starved, choked on a
            # closed pipe (SIGPIPE) or were killed here (SIGKILL) after it.
            name, proc, err = failed[0]
            raise KgpexError(f"{name} failed ({proc.returncode}): {_first_error(err.read_text())}")


def _first_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("[E::", "Error", "error")) or "rror" in line:
            return line
    return lines[0] if lines else "no message"


def _has_records(bcf: Path) -> bool:
    # bcftools rather than pysam: pysam complains on stderr that the BCF has no index.
    proc = subprocess.Popen(["bcftools", "view", "-H", str(bcf)], stdout=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.kill()
    proc.wait()
    proc.stdout.close()
    return bool(first)


def _psam_ids(psam: Path) -> list[str]:
    with open(psam) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        iid = header.index("#IID") if "#IID" in header else header.index("IID")
        return [line.rstrip("\n").split("\t")[iid] for line in fh]


def _plink2(args: list[str], out: Path, threads: int, memory_mb: int) -> None:
    cmd = [
        "plink2",
        *args,
        "--threads",
        str(max(threads, 1)),
        "--memory",
        str(int(memory_mb)),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KgpexError(
            f"plink2 {args[0]} {args[1]} failed: {_first_error(proc.stdout + proc.stderr)}"
        )
    for line in (proc.stdout or "").splitlines():
        if line.startswith("Warning"):
            log.warning("plink2: %s", line)


# -- genotype PCs --------------------------------------------------------------------------------

PCA_MIN_SAMPLES_FOR_LD = 50  # plink2 refuses LD and frequency estimates below this without flags


def genotype_pcs(
    pfile_prefixes: list[str | os.PathLike],
    individuals: list[str],
    out_tsv: str | os.PathLike,
    n_pcs: int = 20,
    maf: float = 0.05,
    indep_pairwise: tuple[float, float, float] = (200, 50, 0.2),
    threads: int = 1,
    memory_mb: int = 4000,
):
    """PCs of LD-pruned common autosomal variants; write ``sample_id PC1..PCk``, return the table.

    Per chromosome: ``plink2 --maf`` then ``--indep-pairwise`` (window in variants, step, r²),
    then the pruned sets are merged and ``plink2 --pca k`` runs. k is ``n_pcs`` clamped to
    samples - 1 and to the number of pruned variants (logged). Returns (table, eigenvalues).
    """
    import pandas as pd

    from kgpex.io import write_table

    if not pfile_prefixes:
        raise KgpexError("genotype PCs need at least one autosome (genotypes.chromosomes)")
    samples = sorted(individuals)
    out_tsv = Path(out_tsv)
    out_tsv.parent.mkdir(parents=True, exist_ok=True)
    window, step, r2 = indep_pairwise
    window, step = int(window), int(step)
    small = len(samples) < PCA_MIN_SAMPLES_FOR_LD
    if small:
        log.warning(
            "%d samples (< %d): LD and allele frequencies are estimated anyway (--bad-ld, --bad-freqs)",
            len(samples),
            PCA_MIN_SAMPLES_FOR_LD,
        )
    small_flags = ["--bad-ld"] if small else []
    with tempfile.TemporaryDirectory(prefix=".genotype_pcs.", dir=out_tsv.parent) as tmp:
        tmp = Path(tmp)
        pruned = []
        n_kept = 0
        for prefix in pfile_prefixes:
            name = Path(prefix).name
            psam_ids = _psam_ids(Path(f"{prefix}.psam"))
            if psam_ids != samples:
                raise KgpexError(f"{prefix}.psam: samples differ from the cohort's individuals")
            _plink2(
                [
                    "--pfile",
                    str(prefix),
                    "--maf",
                    repr(maf),
                    "--indep-pairwise",
                    str(window),
                    str(step),
                    repr(float(r2)),
                    *small_flags,
                ],
                tmp / name,
                threads,
                memory_mb,
            )
            prune_in = tmp / f"{name}.prune.in"
            n_in = sum(1 for _ in open(prune_in)) if prune_in.exists() else 0
            log.info("%s: %d variants kept after MAF >= %s and LD pruning", name, n_in, maf)
            if n_in == 0:
                continue
            _plink2(
                ["--pfile", str(prefix), "--extract", str(prune_in), "--make-pgen"],
                tmp / f"pruned_{name}",
                threads,
                memory_mb,
            )
            pruned.append(tmp / f"pruned_{name}")
            n_kept += n_in
        if n_kept < 2:
            raise KgpexError(
                f"genotype PCs: only {n_kept} variant(s) with MAF >= {maf} left after LD pruning"
            )
        merged = pruned[0]
        if len(pruned) > 1:
            merge_list = tmp / "merge_list.txt"
            merge_list.write_text("".join(f"{p}\n" for p in pruned))
            merged = tmp / "merged"
            _plink2(
                ["--pmerge-list", str(merge_list), "pfile", "--make-pgen"],
                merged,
                threads,
                memory_mb,
            )
        k = min(n_pcs, len(samples) - 1, n_kept - 1)
        if k < n_pcs:
            log.warning(
                "genotype PCs: %d requested, %d computed (%d samples, %d pruned variants)",
                n_pcs,
                k,
                len(samples),
                n_kept,
            )
        if k < 1:
            raise KgpexError(f"genotype PCs: {len(samples)} samples are too few for a PCA")
        freq_flags = ["--bad-freqs"] if small else []
        _plink2(
            ["--pfile", str(merged), "--pca", str(k), *freq_flags], tmp / "pca", threads, memory_mb
        )
        vec = pd.read_csv(tmp / "pca.eigenvec", sep="\t", dtype={"#IID": str, "IID": str})
        id_col = "IID" if "IID" in vec.columns else "#IID"
        table = vec.rename(columns={id_col: "sample_id"}).set_index("sample_id")
        table = table[[f"PC{i}" for i in range(1, k + 1)]]
        if sorted(table.index) != samples:
            raise KgpexError(
                f"{tmp / 'pca.eigenvec'}: samples differ from the cohort's individuals"
            )
        table = table.loc[samples]
        eigenvalues = [float(x) for x in (tmp / "pca.eigenval").read_text().split()]
    total = sum(eigenvalues)
    log.info(
        "genotype PCs from %d variants: eigenvalues %s",
        n_kept,
        ", ".join(f"PC{i + 1}={v:.3g}" for i, v in enumerate(eigenvalues)),
    )
    if total <= 0:
        raise KgpexError("genotype PCs: all eigenvalues are zero (no genetic variation)")
    write_table(table, out_tsv, float_format="%.6g")
    return table, eigenvalues


def plot_genotype_pcs(
    table, populations: dict[str, str], dest: str | os.PathLike, eigenvalues=None
):
    """PC1 against PC2, one colour per population, written atomically to ``dest`` (PNG).

    With ``eigenvalues``, axis labels give each PC's share of the variance among those computed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kgpex.io import atomic_path

    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    pops = [populations.get(s, "unknown") for s in table.index]
    # 1000 Genomes has 26 populations: colours repeat after 20, so the marker changes with them.
    colours, markers = plt.get_cmap("tab20"), "os^Dv"
    y = table["PC2"] if "PC2" in table.columns else [0.0] * len(table)
    for i, pop in enumerate(sorted(set(pops))):
        mask = [p == pop for p in pops]
        ax.scatter(
            table["PC1"][mask],
            [v for v, m in zip(y, mask) if m],
            s=16,
            alpha=0.85,
            color=colours(i % 20),
            marker=markers[(i // 20) % len(markers)],
            label=f"{pop} ({sum(mask)})",
        )
    ax.set_title(f"Genotype PCs, {len(table)} individuals")
    ax.legend(
        fontsize=7,
        ncol=2 if len(set(pops)) > 13 else 1,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        title="population",
        title_fontsize=8,
    )
    share = (
        [100 * v / sum(eigenvalues) for v in eigenvalues]
        if eigenvalues and sum(eigenvalues) > 0
        else []
    )
    labels = [f"PC{i + 1}" + (f" ({share[i]:.1f}%)" if i < len(share) else "") for i in range(2)]
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1] if "PC2" in table.columns else "(no PC2)")
    fig.tight_layout()
    with atomic_path(dest, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
