"""Cohort genotypes: a NYGC phased VCF -> the cohort's PLINK 2 genotypes of one chromosome.

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

import functools
import logging
import os
import signal
import subprocess
import tempfile
from pathlib import Path

from kgpex.common.diskspace import NoSpaceError, no_space_error, tool_ran_out_of_space
from kgpex.common.errors import KgpexError
from kgpex.genotypes.plink import first_error, publish_pfile, read_psam_ids, run_plink2
from kgpex.genotypes.variants import write_variant_ids
from kgpex.genotypes.vcf import (
    BGZF_EOF,
    check_cohort_in_vcf,
    index_contigs,
    index_of,
    index_record_count,
    vcf_contig,
)

log = logging.getLogger(__name__)


# GRCh38 pseudo-autosomal regions on chrX, 1-based inclusive (Genome Reference Consortium).
PARS_GRCH38 = {"PAR1": (10_001, 2_781_479), "PAR2": (155_701_383, 156_030_895)}

SEX_CODES = {"male": "1", "female": "2"}

CHECKER_HITS_SHOWN = 1


# A genotype with an unphased separator or an allele index other than 0/1 (one digit 2-9, or two
# digits). bcftools formats each sample's GT once per regular expression, so one expression with
# GNU basic-regex alternation costs about a third of three (the checker was the pipeline's
# slowest step); the three separate ones where the C library lacks ``\|`` (e.g. macOS).
BAD_GT_ONE_REGEX = r'GT~"[/2-9]\|[0-9][0-9]"'
BAD_GT_REGEXES = 'GT~"/" || GT~"[2-9]" || GT~"[0-9][0-9]"'

_ALTERNATION_PROBE = (
    "##fileformat=VCFv4.2\n##contig=<ID=c>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts\n"
    "c\t1\t.\tA\tG\t.\t.\t.\tGT\t0/1\nc\t2\t.\tA\tG\t.\t.\t.\tGT\t0|1\n"
    "c\t3\t.\tA\tG\t.\t.\t.\tGT\t10|0\n"
)


@functools.cache
def bad_gt_expression() -> str:
    """``BAD_GT_ONE_REGEX`` when this bcftools's regular expressions know ``\\|``, checked on a
    three-record VCF (it must flag exactly the unphased and the two-digit record), else
    ``BAD_GT_REGEXES``."""
    proc = subprocess.run(
        ["bcftools", "query", "-i", BAD_GT_ONE_REGEX, "-f", "%POS\\n", "-"],
        input=_ALTERNATION_PROBE,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0 and proc.stdout == "1\n3\n":
        return BAD_GT_ONE_REGEX
    log.info("bcftools regular expressions without '\\|': the genotype check runs three")
    return BAD_GT_REGEXES


def genotype_check_expression(chrom: str, females_file: str | None) -> str:
    """bcftools expression that flags records holding a genotype this stage refuses.

    It only selects candidates: ``diagnose_genotypes`` decides, sample by sample.
    """
    parts = [bad_gt_expression()]
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
            writes=f"{out_prefix}.pgen",
        )
        if not _has_records(cohort_bcf):
            raise KgpexError(
                f"{vcf}: no biallelic variant on {chrom} has MAF >= {maf} in the "
                f"{len(samples)} cohort individuals"
            )
        run_plink2(
            ["--bcf", str(cohort_bcf), "--make-pgen", "--output-chr", "chrM"],
            tmp / "imported",
            threads,
            memory_mb,
            writes=f"{out_prefix}.pgen",
        )
        cohort_bcf.unlink()
        n_variants, duplicates = write_variant_ids(
            tmp / "imported.pvar", tmp / "named.pvar", id_max_allele_len
        )
        imported_samples = read_psam_ids(tmp / "imported.psam")
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
            run_plink2(
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
                writes=f"{out_prefix}.pgen",
            )
            n_variants -= len(duplicates)
        publish_pfile(final, out_prefix, [(s, SEX_CODES[sexes[s]]) for s in samples])
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
    writes: str | None = None,
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

    pipeline = _Pipeline(tmp, writes)
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
        except NoSpaceError:
            raise
        except KgpexError as err:
            raise KgpexError(f"{vcf}: {chrom}: {err}") from None
    finally:
        pipeline.kill()


class _Pipeline:
    """Processes chained by pipes; each one's stderr kept in a file for the error message. A
    failure on a full disk (bcftools says only "File write failed") names ``writes``."""

    def __init__(self, tmp: Path, writes: str | None = None):
        self.tmp = tmp
        self.writes = writes
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
            text = err.read_text()
            if tool_ran_out_of_space(text, self.tmp):
                raise no_space_error(self.writes or self.tmp, doing=f"in {name}")
            raise KgpexError(f"{name} failed ({proc.returncode}): {first_error(text)}")


def _has_records(bcf: Path) -> bool:
    # bcftools rather than pysam: pysam complains on stderr that the BCF has no index.
    proc = subprocess.Popen(["bcftools", "view", "-H", str(bcf)], stdout=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.kill()
    proc.wait()
    proc.stdout.close()
    return bool(first)
