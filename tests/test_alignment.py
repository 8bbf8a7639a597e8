"""kgpex.alignment: STAR 2.7.10b (index, two-pass alignment with WASP tags), bcftools 1.16 (an
individual's heterozygous SNPs) and samtools, run for real on a tiny world: two random contigs,
a GENCODE-style GTF of spliced genes, five individuals' phased SNPs, and paired-end reads drawn
from one individual's haplotypes across its spliced transcripts. The STAR BAM then goes through
QTLtools mbv, which must pick out that individual."""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from kgpex.alignment import het_snps, star
from kgpex.common.errors import KgpexError

pysam = pytest.importorskip("pysam")

for _tool in ("STAR", "bcftools", "samtools"):
    if shutil.which(_tool) is None:
        pytest.skip(f"{_tool} not installed (make setup installs it)", allow_module_level=True)

CONTIGS = {"chr21": 40_000, "chr22": 36_000}
INDIVIDUALS = ["HG00096", "HG00097", "NA12878", "NA19238", "NA19239"]
SEX = {"HG00096": "male", "HG00097": "female", "NA12878": "female", "NA19238": "female",
       "NA19239": "male"}  # fmt: skip
TRUE = "NA12878"
READ = 75
PAIRS = 1200  # STAR's WASP re-mapping costs ~3 ms a pair on this genome
COMP = str.maketrans("ACGT", "TGCA")


def revcomp(seq: str) -> str:
    return seq.translate(COMP)[::-1]


def make_genes(rng: random.Random, contig: str, length: int, n_genes: int) -> list[dict]:
    """Genes laid side by side, each one transcript of 3-5 exons (150-350 bp) and introns of
    300-2,000 bp; 1-based inclusive exon coordinates, as in a GTF."""
    genes, pos = [], 2_000
    for g in range(n_genes):
        exons = []
        for _ in range(rng.randint(3, 5)):
            size = rng.randint(150, 350)
            exons.append((pos, pos + size - 1))
            pos += size + rng.randint(300, 2_000)
        genes.append({"contig": contig, "id": f"ENSG_{contig}_{g}", "exons": exons,
                      "strand": rng.choice("+-")})  # fmt: skip
        pos += rng.randint(1_000, 3_000)
    assert pos < length - 1_000, "genes overrun the contig"
    return genes


def gtf_lines(genes: list[dict]) -> list[str]:
    lines = ["##description: kgpex alignment test", "##format: gtf"]
    for gene in genes:
        start, end = gene["exons"][0][0], gene["exons"][-1][1]
        gid, tid = gene["id"], gene["id"].replace("ENSG", "ENST")
        base = f'gene_id "{gid}.1"; gene_type "protein_coding"; gene_name "{gid}";'
        tbase = f'{base} transcript_id "{tid}.1"; transcript_type "protein_coding";'
        common = f"{gene['contig']}\tHAVANA\t{{}}\t{{}}\t{{}}\t.\t{gene['strand']}\t.\t"
        lines.append(common.format("gene", start, end) + base)
        lines.append(common.format("transcript", start, end) + tbase)
        for k, (a, b) in enumerate(gene["exons"], start=1):
            lines.append(common.format("exon", a, b) + f"{tbase} exon_number {k};")
    return lines


def write_vcf(path: Path, records: list[tuple], contigs: list[str]) -> Path:
    """Bgzipped, tabixed VCF of ``records`` (contig, pos, ref, alt, {individual: (a, b)})."""
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={c},length={CONTIGS[c]}>" for c in contigs]
    lines += ['##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
              "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                         *INDIVIDUALS])]  # fmt: skip
    for k, (contig, pos, ref, alt, gts) in enumerate(records):
        if contig not in contigs:
            continue
        fields = [contig, str(pos), f"rs{k}", ref, alt, ".", "PASS", ".", "GT"]
        lines.append("\t".join(fields + [f"{gts[i][0]}|{gts[i][1]}" for i in INDIVIDUALS]))
    path.write_text("\n".join(lines) + "\n")
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return Path(f"{path}.gz")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    rng = random.Random(21)
    out = tmp_path_factory.mktemp("alignment")
    seqs = {c: "".join(rng.choice("ACGT") for _ in range(n)) for c, n in CONTIGS.items()}
    genes = make_genes(rng, "chr21", CONTIGS["chr21"], 4) + make_genes(
        rng, "chr22", CONTIGS["chr22"], 3)
    fasta = out / "genome.fa.gz"
    with gzip.open(fasta, "wt") as fh:
        for contig, seq in seqs.items():
            fh.write(f">{contig} {contig[3:]}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    gtf = out / "annotation.gtf.gz"
    with gzip.open(gtf, "wt") as fh:
        fh.write("\n".join(gtf_lines(genes)) + "\n")

    # SNPs: about one per 20 exonic bases, and some between genes.
    exonic = [(g["contig"], p) for g in genes for a, b in g["exons"] for p in range(a + 5, b - 5)]
    sites = set(rng.sample(exonic, len(exonic) // 20))
    sites |= {(c, rng.randrange(100, n - 100)) for c, n in CONTIGS.items() for _ in range(40)}
    # One site as two records (the panel splits multiallelic sites): TRUE carries ALT1 on one
    # haplotype and ALT2 on the other, so norm -m+ merges them into a site that -M2 drops.
    split_site = sorted(s for s in sites if s[0] == "chr22")[10]
    records = []
    for contig, pos in sorted(sites, key=lambda s: (s[0], s[1])):
        ref = seqs[contig][pos - 1]
        alts = [b for b in "ACGT" if b != ref]
        rng.shuffle(alts)
        freq = rng.uniform(0.15, 0.5)
        if (contig, pos) == split_site:
            for k, alt in enumerate(alts[:2]):
                gts = {i: (0, 0) for i in INDIVIDUALS}
                gts[TRUE] = (1, 0) if k == 0 else (0, 1)
                gts["HG00097"] = (0, 1) if k == 0 else (0, 0)  # het for ALT1 only: kept
                records.append((contig, pos, ref, alt, gts))
            continue
        gts = {i: (int(rng.random() < freq), int(rng.random() < freq)) for i in INDIVIDUALS}
        records.append((contig, pos, ref, alts[0], gts))
    vcf = write_vcf(out / "genotypes.vcf", records, list(CONTIGS))
    per_chrom = {c: write_vcf(out / f"{c}.vcf", records, [c]) for c in CONTIGS}

    # TRUE's two haplotypes, then read pairs from its spliced transcripts.
    haps = [{c: list(s) for c, s in seqs.items()} for _ in range(2)]
    for contig, pos, _ref, alt, gts in records:
        for h in range(2):
            if gts[TRUE][h]:
                haps[h][contig][pos - 1] = alt
    haps = [{c: "".join(s) for c, s in hap.items()} for hap in haps]
    r1, r2 = [], []
    for n in range(PAIRS):
        gene, hap = rng.choice(genes), haps[rng.randrange(2)]
        tx = "".join(hap[gene["contig"]][a - 1 : b] for a, b in gene["exons"])
        size = rng.randint(180, 320)
        start = rng.randrange(0, len(tx) - size)
        frag = tx[start : start + size]
        if rng.random() < 0.5:
            frag = revcomp(frag)
        r1.append(f"@p{n}/1\n{frag[:READ]}\n+\n{'I' * READ}\n")
        r2.append(f"@p{n}/2\n{revcomp(frag)[:READ]}\n+\n{'I' * READ}\n")
    fastq = []
    for mate, reads in (("1", r1), ("2", r2)):
        path = out / f"SRR1_{mate}.fastq.gz"
        with gzip.open(path, "wt") as fh:
            fh.writelines(reads)
        fastq.append(path)
    return {"dir": out, "fasta": fasta, "gtf": gtf, "vcf": vcf, "per_chrom": per_chrom,
            "records": records, "genes": genes, "fastq": fastq, "split_site": split_site}  # fmt: skip


def run_bash(command: str) -> None:
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def index(world):
    out = world["dir"] / "star_index"
    star.build_index(world["fasta"], world["gtf"], out, READ - 1, 2, world["dir"] / "index.log")
    return out


@pytest.fixture(scope="module")
def split_dirs(world):
    """bcftools +split of each chromosome's VCF, every individual in one pass."""
    samples = world["dir"] / "samples.txt"
    samples.write_text("\n".join(INDIVIDUALS) + "\n")
    dirs = []
    for contig, vcf in world["per_chrom"].items():
        folder = world["dir"] / "split" / contig
        run_bash(het_snps.split_command(str(vcf), str(samples), str(folder)))
        dirs.append(folder)
    return dirs


@pytest.fixture(scope="module")
def het_vcf(world, split_dirs):
    dest = world["dir"] / f"{TRUE}.het.vcf"
    het_snps.personal_vcf(split_dirs, TRUE, dest)
    return dest


def expected_het_sites(world, individual: str) -> set[tuple[str, int, str, str]]:
    """Pure Python: the individual's heterozygous records, less a site where it carries two
    different ALT alleles over two records."""
    het = [(c, p, r, a) for c, p, r, a, gts in world["records"] if gts[individual][0] != gts[individual][1]]
    per_site = {}
    for c, p, _r, _a in het:
        per_site[(c, p)] = per_site.get((c, p), 0) + 1
    return {rec for rec in het if per_site[rec[:2]] == 1}


def vcf_sites(path: Path) -> set[tuple[str, int, str, str]]:
    with open(path) as fh:  # plain text: STAR's --varVCFfile reads no gzip
        rows = [line.split("\t") for line in fh if not line.startswith("#")]
    return {(f[0], int(f[1]), f[3], f[4]) for f in rows}


@pytest.fixture(scope="module")
def aligned(world, index, het_vcf):
    """TRUE's library aligned two-pass with WASP tags."""
    out = world["dir"] / "aligned"
    outputs = star.library_outputs(out, "LIB1")
    with open(world["dir"] / "align.log", "w") as log_fh:
        summary = star.align_library(index, [[str(world["fastq"][0])], [str(world["fastq"][1])]],
                                     "LIB1", outputs, het_vcf, 2, 0, True, out / "work.LIB1",
                                     log_fh)  # fmt: skip
    return {"outputs": outputs, "summary": summary, "work": out / "work.LIB1"}


def annotated_introns(world) -> set[tuple[str, int, int]]:
    """0-based, end-exclusive introns between consecutive exons."""
    return {(g["contig"], b, a2 - 1) for g in world["genes"]
            for (_a, b), (a2, _b2) in zip(g["exons"], g["exons"][1:])}  # fmt: skip


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("length, bases", [(3_100_000_000, 14), (6_600_000, 10), (76_000, 7),
                                           (100, 4)])  # fmt: skip
def test_sa_index_bases_follows_the_star_manual(length, bases):
    assert star.sa_index_bases(length) == bases


def test_read_length_comes_from_the_run_table():
    rows = [{"run_accession": "SRR1", "read_count": "1000", "base_count": "150000"},
            {"run_accession": "SRR2", "read_count": "1000", "base_count": "101000"},
            {"run_accession": "SRR9", "read_count": "1", "base_count": "999"}]  # fmt: skip
    assert star.read_length(rows, {"SRR1": "paired"}) == 75
    assert star.read_length(rows, {"SRR2": "single"}) == 101
    assert star.read_length(rows, {"SRR1": "paired", "SRR2": "single"}) == 101
    for bad in ({"run_accession": "SRR3", "read_count": "10", "base_count": ""},
                {"run_accession": "SRR3", "read_count": "10", "base_count": None},
                {"run_accession": "SRR3", "read_count": "10"}):  # fmt: skip
        with pytest.raises(KgpexError, match=r"run SRR3 .*alignment\.sjdb_overhang") as err:
            star.read_length([*rows, bad], {"SRR1": "paired", "SRR3": "paired"})
        assert "\n" not in str(err.value)


# --- index -------------------------------------------------------------------------------------


def test_the_index_holds_stars_files_and_no_partial_folder(world, index):
    names = {p.name for p in index.iterdir()}
    assert {"Genome", "SA", "SAindex", "sjdbList.out.tab", "chrName.txt"} <= names
    assert (index / "chrName.txt").read_text().split() == list(CONTIGS)
    junctions = {tuple(line.split()[:3]) for line in (index / "sjdbList.out.tab").open()}
    assert {(c, str(s + 1), str(e)) for c, s, e in annotated_introns(world)} <= junctions
    assert not [p for p in index.parent.iterdir() if p.name.startswith(".")]


def test_a_failing_index_build_raises_and_leaves_no_index(world, tmp_path):
    with gzip.open(world["gtf"], "rt") as fh:
        text = fh.read()
    cases = {
        # chr22 named chr9: STAR itself would drop those genes without a word.
        "absent_contig": (world["fasta"], text.replace("chr22\t", "chr9\t"), "lacks: chr9"),
        "empty_fasta": (tmp_path / "empty.fa", text, "holds no sequence"),
        # No exon line: STAR exits with an error.
        "no_exons": (world["fasta"], "\n".join(line for line in text.splitlines()
                                               if "\texon\t" not in line), "STAR exited"),
    }  # fmt: skip
    (tmp_path / "empty.fa").write_text("")
    for name, (fasta, gtf_text, message) in cases.items():
        gtf = tmp_path / f"{name}.gtf"
        gtf.write_text(gtf_text + "\n")
        out = tmp_path / name
        with pytest.raises(KgpexError, match=message) as err:
            star.build_index(fasta, gtf, out, 74, 2, tmp_path / f"{name}.log")
        assert "\n" not in str(err.value)
        assert not out.exists() and not (tmp_path / f".{name}.partial").exists()


# --- heterozygous SNPs -------------------------------------------------------------------------


def test_bcftools_split_keeps_only_each_individuals_het_records(world, split_dirs):
    """+split's -i is applied per output sample in bcftools 1.16, not to the whole site."""
    for individual in INDIVIDUALS:
        with_split_records = {rec for rec in
                              ((c, p, r, a) for c, p, r, a, gts in world["records"]
                               if gts[individual][0] != gts[individual][1])}  # fmt: skip
        got = set()
        for folder in split_dirs:
            with pysam.VariantFile(str(folder / het_snps.split_file_name(individual))) as fh:
                assert list(fh.header.samples) == [individual]
                for rec in fh:
                    assert len(set(rec.samples[0]["GT"])) == 2  # heterozygous only
                    got.add((rec.chrom, rec.pos, rec.ref, rec.alts[0]))
        assert got == with_split_records


@pytest.mark.parametrize("individual", INDIVIDUALS)
def test_personal_vcf_holds_exactly_the_het_biallelic_snps(world, split_dirs, individual, tmp_path):
    dest = tmp_path / f"{individual}.vcf"
    n = het_snps.personal_vcf(split_dirs, individual, dest)
    expected = expected_het_sites(world, individual)
    assert vcf_sites(dest) == expected and n == len(expected) > 20


def test_two_alt_alleles_over_two_records_drop_the_site(world, het_vcf):
    contig, pos = world["split_site"]
    assert (contig, pos) not in {site[:2] for site in vcf_sites(het_vcf)}
    # HG00097 is heterozygous for the first ALT only: its site stays.
    other = world["dir"] / "HG00097.check.vcf"
    het_snps.personal_vcf([world["dir"] / "split" / c for c in CONTIGS], "HG00097", other)
    assert (contig, pos) in {site[:2] for site in vcf_sites(other)}


def test_chromosomes_for_keeps_chrx_for_females_only():
    chroms = ["chr1", "chr22", "chrX", "chrY"]
    assert het_snps.chromosomes_for(chroms, "female") == ["chr1", "chr22", "chrX"]
    assert het_snps.chromosomes_for(chroms, "male") == ["chr1", "chr22"]
    assert het_snps.split_file_name("NA 1:2/3") == "NA_1_2_3.vcf.gz"


def test_a_missing_split_file_names_the_folder_and_individual(split_dirs, tmp_path):
    (tmp_path / "chrX").mkdir()
    with pytest.raises(KgpexError, match=rf"chrX: no heterozygous-SNP file for {TRUE} "):
        het_snps.personal_vcf([*split_dirs, tmp_path / "chrX"], TRUE, tmp_path / "x.vcf")
    assert not (tmp_path / "x.vcf").exists()


# --- alignment ---------------------------------------------------------------------------------


def test_alignment_outputs_are_in_place_sorted_and_indexed(aligned):
    outputs = aligned["outputs"]
    assert set(outputs) == {*star.STAR_OUTPUTS, "bai"}
    assert all(Path(p).stat().st_size > 0 for p in outputs.values())
    assert not aligned["work"].exists()
    assert not [p for p in aligned["work"].parent.iterdir() if p.name not in
                {Path(o).name for o in outputs.values()}]  # fmt: skip
    with pysam.AlignmentFile(str(outputs["Aligned.sortedByCoord.out.bam"])) as bam:
        assert bam.header["HD"]["SO"] == "coordinate" and bam.has_index()
        keys = [(r.reference_id, r.reference_start) for r in bam if not r.is_unmapped]
    assert keys == sorted(keys) and len(keys) > PAIRS
    summary = star.read_final_log(outputs["Log.final.out"])
    assert summary == aligned["summary"]
    assert int(summary["Number of input reads"]) == PAIRS
    assert float(summary["Uniquely mapped reads %"].rstrip("%")) > 90
    genes = Path(outputs["ReadsPerGene.out.tab"]).read_text()
    assert all(f"ENSG_{c}" in genes for c in CONTIGS)


def test_reads_over_het_snps_carry_wasp_tags_and_spliced_reads_match_introns(world, aligned,
                                                                            het_vcf):  # fmt: skip
    het = {(c, p - 1) for c, p, _r, _a in vcf_sites(het_vcf)}
    overlaps, tagged, introns = {}, {}, set()
    bam = aligned["outputs"]["Aligned.sortedByCoord.out.bam"]
    with pysam.AlignmentFile(str(bam)) as fh:
        for read in fh:
            if read.is_unmapped or read.is_secondary or read.get_tag("NH") != 1:
                continue
            over = any((read.reference_name, p) in het
                       for a, b in read.get_blocks() for p in range(a, b))  # fmt: skip
            overlaps[read.query_name] = overlaps.get(read.query_name, False) or over
            tagged[read.query_name] = read.has_tag("vW")
            if over:
                assert read.has_tag("vW"), read.to_string()
            pos = read.reference_start
            for op, length in read.cigartuples:
                if op == 3:
                    introns.add((read.reference_name, pos, pos + length))
                if op in (0, 2, 3, 7, 8):
                    pos += length
    # STAR tags both mates of a pair that overlaps a variant, and no other pair.
    assert sum(overlaps.values()) > PAIRS / 2
    assert all(tagged[name] == over for name, over in overlaps.items())
    assert len(introns) > 10 and introns <= annotated_introns(world)


def test_max_read_pairs_limits_the_reads_and_no_vcf_means_no_wasp(world, index, tmp_path):
    outputs = star.library_outputs(tmp_path / "out", "LIB2")
    with open(tmp_path / "log", "w") as log_fh:
        summary = star.align_library(index, [[str(world["fastq"][0])], [str(world["fastq"][1])]],
                                     "LIB2", outputs, None, 2, 300, False, tmp_path / "work",
                                     log_fh)  # fmt: skip
    assert summary["Number of input reads"] == "300"
    with pysam.AlignmentFile(str(outputs["Aligned.sortedByCoord.out.bam"])) as bam:
        assert not any(read.has_tag("vW") for read in bam)


def test_a_librarys_runs_are_aligned_together(world, index, tmp_path):
    mates = [[], []]
    for m, path in enumerate(world["fastq"]):
        with gzip.open(path, "rt") as fh:
            lines = fh.read().splitlines(keepends=True)
        for k, part in enumerate((lines[: 4 * 500], lines[4 * 500 :])):
            run = tmp_path / f"run{k}_{m + 1}.fastq.gz"
            with gzip.open(run, "wt") as fh:
                fh.writelines(part)
            mates[m].append(str(run))
    outputs = star.library_outputs(tmp_path / "out", "LIB3")
    with open(tmp_path / "log", "w") as log_fh:
        summary = star.align_library(index, mates, "LIB3", outputs, None, 2, 0, False,
                                     tmp_path / "work", log_fh)  # fmt: skip
    assert summary["Number of input reads"] == str(PAIRS)


def cut_fastq(src: Path, dest: Path, at_record_boundary: bool) -> None:
    """A gzip file cut short: mid-record (STAR sees a broken read) or just after a whole
    first gzip member of 200 records (zcat's output ends cleanly: only gzip -t can tell)."""
    with gzip.open(src, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    head, tail = b"".join(lines[: 4 * 200]), b"".join(lines[4 * 200 :])
    first = gzip.compress(head)
    whole = first + gzip.compress(tail)
    dest.write_bytes(whole[: len(first) + 30] if at_record_boundary else whole[: len(whole) // 2])


@pytest.mark.parametrize("at_record_boundary", [False, True])
def test_a_cut_fastq_fails_and_leaves_no_output(world, index, tmp_path, at_record_boundary):
    mates = []
    for m, path in enumerate(world["fastq"]):
        cut = tmp_path / f"cut_{m + 1}.fastq.gz"
        cut_fastq(path, cut, at_record_boundary)
        mates.append([str(cut)])
    outputs = star.library_outputs(tmp_path / "out", "LIB4")
    Path(outputs["Log.final.out"]).parent.mkdir()
    Path(outputs["Log.final.out"]).write_text("from an earlier run\n")
    with open(tmp_path / "log", "w") as log_fh, pytest.raises(KgpexError, match="LIB4") as err:
        star.align_library(index, mates, "LIB4", outputs, None, 2, 0, False, tmp_path / "work",
                           log_fh)  # fmt: skip
    assert "\n" not in str(err.value)
    assert not any(Path(p).exists() for p in outputs.values())
    assert not (tmp_path / "work").exists()


def test_a_missing_index_fails_and_leaves_no_output(world, tmp_path):
    outputs = star.library_outputs(tmp_path / "out", "LIB5")
    with open(tmp_path / "log", "w") as log_fh, pytest.raises(KgpexError, match="not a STAR index"):
        star.align_library(tmp_path / "no_index", [[str(f)] for f in world["fastq"]], "LIB5",
                           outputs, None, 2, 0, False, tmp_path / "work", log_fh)  # fmt: skip
    assert not any(Path(p).exists() for p in outputs.values())
    # STAR's own refusal of a folder that is not a whole index (the SA file alone).
    (tmp_path / "half_index").mkdir()
    (tmp_path / "half_index" / "SA").write_text("")
    with open(tmp_path / "log", "w") as log_fh, pytest.raises(KgpexError, match="STAR exited"):
        star.align_library(tmp_path / "half_index", [[str(f)] for f in world["fastq"]], "LIB5",
                           outputs, None, 2, 0, False, tmp_path / "work", log_fh)  # fmt: skip
    assert not any(Path(p).exists() for p in outputs.values())
    assert not (tmp_path / "work").exists()


# --- identity ----------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("QTLtools") is None, reason="QTLtools not installed")
def test_mbv_on_the_star_bam_picks_the_true_individual(world, aligned):
    from kgpex.identity import mbv

    out = world["dir"] / "LIB1.mbv.txt"
    mbv.run_mbv(aligned["outputs"]["Aligned.sortedByCoord.out.bam"], world["vcf"], out,
                world["dir"] / "mbv.log")  # fmt: skip
    rows = {row["SampleID"]: row for row in mbv.read_mbv(out)}
    assert set(rows) == set(INDIVIDUALS)
    own = rows.pop(TRUE)
    assert own["n_het_covered"] > 50 and own["perc_het_consistent"] > 0.95
    assert own["perc_hom_consistent"] > 0.95
    assert max(row["perc_het_consistent"] for row in rows.values()) < 0.8
