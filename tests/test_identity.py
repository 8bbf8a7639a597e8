"""kgpex.identity.mbv: QTLtools mbv (Debian qtltools 1.3.1) run on BAMs whose reads are drawn
from one individual's phased haplotypes, or from a mix of two, and the calls made from its
table; bad input gets one line each."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from kgpex.common.errors import KgpexError
from kgpex.identity import mbv

pysam = pytest.importorskip("pysam")

INDIVIDUALS = ["HG00096", "HG00097", "NA12878", "NA19238", "NA19239"]
LENGTH = 60_000
READ = 100


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """A chromosome, 5 individuals' phased genotypes at ~300 SNPs (bgzipped, tabixed VCF)."""
    rng = random.Random(14)
    out = tmp_path_factory.mktemp("identity")
    seq = "".join(rng.choice("ACGT") for _ in range(LENGTH))
    snps = sorted(rng.sample(range(200, LENGTH - 200), 300))
    alts, haplotypes = {}, {ind: [] for ind in INDIVIDUALS}
    lines = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID=chr1,length={LENGTH}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                   *INDIVIDUALS]),
    ]
    for k, pos in enumerate(snps):
        ref = seq[pos - 1]
        alts[pos] = rng.choice([b for b in "ACGT" if b != ref])
        freq = rng.uniform(0.2, 0.5)
        gts = []
        for ind in INDIVIDUALS:
            pair = (int(rng.random() < freq), int(rng.random() < freq))
            haplotypes[ind].append(pair)
            gts.append(f"{pair[0]}|{pair[1]}")
        lines.append(f"chr1\t{pos}\tsnp{k}\t{ref}\t{alts[pos]}\t.\tPASS\t.\tGT\t" + "\t".join(gts))
    vcf = out / "genotypes.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    pysam.tabix_index(str(vcf), preset="vcf", force=True)
    return {"dir": out, "seq": seq, "snps": snps, "alts": alts, "haplotypes": haplotypes,
            "vcf": Path(f"{vcf}.gz")}


def write_bam(panel, name, mix, n_reads=6000, contig="chr1", index=True, seed=1):
    """A coordinate-sorted BAM of ``n_reads`` reads; ``mix`` maps individuals to the share of
    reads drawn from their two haplotypes."""
    rng = random.Random(seed)
    seq, snps = panel["seq"], panel["snps"]
    people, weights = zip(*mix.items())
    reads = []
    for _ in range(n_reads):
        ind = rng.choices(people, weights)[0]
        hap = rng.randrange(2)
        start = rng.randrange(0, LENGTH - READ)
        bases = list(seq[start:start + READ])
        for k, pos in enumerate(snps):
            if start < pos <= start + READ and panel["haplotypes"][ind][k][hap]:
                bases[pos - 1 - start] = panel["alts"][pos]
        reads.append((start, "".join(bases)))
    reads.sort()
    return write_sorted_bam(panel["dir"] / f"{name}.bam", contig, LENGTH, reads, index=index)


def write_sorted_bam(bam: Path, contig: str, length: int, reads: list[tuple[int, str]],
                     index: bool = True) -> Path:
    """A BAM of one contig from ``reads`` ((0-based start, bases), sorted), each an ungapped
    unique hit (MAPQ 255, as STAR writes them) with qualities 'I'; indexed unless told not."""
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": contig, "LN": length}]}
    with pysam.AlignmentFile(str(bam), "wb", header=header) as fh:
        for i, (start, bases) in enumerate(reads):
            read = pysam.AlignedSegment()
            read.query_name, read.query_sequence, read.flag = f"r{i}", bases, 0
            read.reference_id, read.reference_start = 0, start
            read.mapping_quality, read.cigar = 255, [(0, len(bases))]
            read.query_qualities = pysam.qualitystring_to_array("I" * len(bases))
            fh.write(read)
    if index:
        pysam.index(str(bam))
    return bam


def mbv_rows(panel, bam):
    dest = bam.with_suffix(".mbv.txt")
    mbv.run_mbv(bam, panel["vcf"], dest, bam.with_suffix(".log"))
    return mbv.read_mbv(dest)


needs_qtltools = pytest.mark.skipif(shutil.which("QTLtools") is None,
                                    reason="QTLtools not installed (make setup installs qtltools)")


@needs_qtltools
def test_reads_of_the_labelled_individual_match(panel):
    rows = mbv_rows(panel, write_bam(panel, "own", {"NA12878": 1.0}))
    assert sorted(r["SampleID"] for r in rows) == sorted(INDIVIDUALS)
    call = mbv.call_identity("SRR1", "NA12878", rows)
    assert (call.verdict, call.best_individual) == ("match", "NA12878")
    assert call.labelled_het_concordance > 0.95 and call.labelled_hom_concordance > 0.95
    others = [r for r in rows if r["SampleID"] != "NA12878"]
    assert max(r["perc_het_consistent"] for r in others) < 0.75
    assert call.margin >= 0.2


@needs_qtltools
def test_reads_of_another_individual_are_a_swap_naming_whom_they_match(panel):
    rows = mbv_rows(panel, write_bam(panel, "swapped", {"NA19238": 1.0}))
    call = mbv.call_identity("SRR2", "HG00096", rows)
    assert (call.verdict, call.best_individual) == ("swap", "NA19238")
    assert call.labelled_het_concordance < 0.75
    assert "NA19238" in call.reason


@needs_qtltools
def test_a_mix_of_two_individuals_is_unclear(panel):
    rows = mbv_rows(panel, write_bam(panel, "mixed", {"HG00097": 0.5, "NA19239": 0.5}))
    call = mbv.call_identity("SRR3", "HG00097", rows)
    assert call.verdict == "unclear"
    assert "contamination" in call.reason


@needs_qtltools
def test_too_few_covered_sites_is_unclear(panel):
    rows = mbv_rows(panel, write_bam(panel, "shallow", {"NA12878": 1.0}, n_reads=60))
    call = mbv.call_identity("SRR4", "NA12878", rows)
    assert call.verdict == "unclear" and "too few informative sites" in call.reason


def test_a_bam_without_index_gets_one_line(panel):
    bam = write_bam(panel, "unindexed", {"NA12878": 1.0}, n_reads=50, index=False)
    with pytest.raises(KgpexError, match=r"unindexed\.bam: no BAM index"):
        mbv.run_mbv(bam, panel["vcf"], panel["dir"] / "x.txt", panel["dir"] / "x.log")
    assert not (panel["dir"] / "x.txt").exists()


def test_contigs_named_unlike_the_genotypes_get_one_line(panel):
    bam = write_bam(panel, "ensembl_names", {"NA12878": 1.0}, n_reads=50, contig="1")
    with pytest.raises(KgpexError, match=r"ensembl_names\.bam: contigs \(1, \.\.\.\) share no name"):
        mbv.run_mbv(bam, panel["vcf"], panel["dir"] / "y.txt", panel["dir"] / "y.log")


def mbv_table(rows):
    lines = [" ".join(mbv.MBV_COLUMNS)]
    for sample, het, hom, het_cov, hom_cov in rows:
        lines.append(f"{sample} 0 {het_cov} {hom_cov} {het_cov} {hom_cov} {round(het * het_cov)} "
                     f"{round(hom * hom_cov)} {het} {hom} 0")
    return "\n".join(lines) + "\n"


def test_a_table_that_is_not_mbv_output_gets_one_line_naming_it(tmp_path):
    bad = tmp_path / "lib.mbv.txt"
    bad.write_text("sample het hom\nA 1 1\n")
    with pytest.raises(KgpexError, match=r"lib\.mbv\.txt: not a QTLtools mbv table"):
        mbv.read_mbv(bad)
    bad.write_text(mbv_table([("A", 0.9, 0.9, 100, 100)]).replace(" 0.9 0.9 0", " 0.9 x 0"))
    with pytest.raises(KgpexError, match=r"lib\.mbv\.txt: line 2"):
        mbv.read_mbv(bad)


def test_two_individuals_agreeing_almost_equally_is_unclear(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(mbv_table([("A", 0.98, 0.99, 200, 300), ("B", 0.97, 0.99, 200, 300),
                               ("C", 0.5, 0.6, 200, 300)]))
    call = mbv.call_identity("SRR5", "A", mbv.read_mbv(path))
    assert call.verdict == "unclear" and "agree almost equally" in call.reason


def test_a_label_missing_from_the_genotypes_gets_one_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(mbv_table([("A", 0.98, 0.99, 200, 300)]))
    with pytest.raises(KgpexError, match="run SRR6: labelled individual Z is not in the genotypes"):
        mbv.call_identity("SRR6", "Z", mbv.read_mbv(path))


def calls_for(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(mbv_table([("A", 0.99, 0.99, 200, 300), ("B", 0.5, 0.55, 200, 300)]))
    rows = mbv.read_mbv(path)
    return [mbv.call_identity("SRR7", "A", rows), mbv.call_identity("SRR8", "B", rows)]


def test_stop_names_each_flagged_run_and_whom_it_matches(tmp_path):
    calls = calls_for(tmp_path)
    assert [c.verdict for c in calls] == ["match", "swap"]
    with pytest.raises(KgpexError, match=r"1 run\(s\) do not match their label: SRR8 labelled B matches A"):
        mbv.apply_policy(calls, "stop")
    assert mbv.apply_policy(calls, "exclude") == ["SRR8"]
    assert mbv.apply_policy(calls, "report") == []
    with pytest.raises(KgpexError, match="identity.on_mismatch: 'drop' is not one of"):
        mbv.apply_policy(calls, "drop")


def test_the_identity_table_has_a_row_per_run(tmp_path):
    dest = tmp_path / "identity.tsv"
    mbv.write_identity_table(calls_for(tmp_path), dest)
    lines = dest.read_text().splitlines()
    assert lines[0].split("\t") == mbv.IDENTITY_COLUMNS
    assert [line.split("\t")[-2] for line in lines[1:]] == ["match", "swap"]


def test_the_table_reads_back_and_policy_runs_on_its_rows(tmp_path):
    dest = tmp_path / "identity.tsv"
    mbv.write_identity_table(calls_for(tmp_path), dest)
    rows = mbv.read_identity_table(dest)
    assert mbv.describe(rows["SRR7"]) == "match"
    assert mbv.describe(rows["SRR8"]) == "swap: the reads carry A's genotypes, not B's"
    assert mbv.apply_policy(list(rows.values()), "exclude") == ["SRR8"]
    broken = tmp_path / "broken.tsv"
    broken.write_text(dest.read_text().replace("\tswap\t", "\tmaybe\t"))
    with pytest.raises(KgpexError, match=r"broken.tsv: run SRR8: verdict 'maybe' is not one of"):
        mbv.read_identity_table(broken)


def test_heterozygous_concordance_limited_by_depth_still_matches(tmp_path):
    # At 4 reads a true heterozygous site shows both alleles 7 times in 8: 0.85 passes the
    # heterozygous threshold (0.8), and homozygous sites still tell individuals apart.
    path = tmp_path / "t.txt"
    path.write_text(mbv_table([("A", 0.85, 0.99, 80, 160), ("B", 0.4, 0.8, 80, 160)]))
    assert mbv.call_identity("SRR9", "A", mbv.read_mbv(path)).verdict == "match"
    path.write_text(mbv_table([("A", 0.85, 0.8, 80, 160), ("B", 0.4, 0.5, 80, 160)]))
    call = mbv.call_identity("SRR9", "A", mbv.read_mbv(path))
    assert call.verdict == "unclear" and "contamination" in call.reason


def test_run_status_records_verdicts_and_excludes_flagged_runs():
    from kgpex.samples.libraries import final_statuses

    mapping = [
        {"run_accession": "SRR1", "status": "used", "individual": "A", "library": "SRR1",
         "evidence": "sheet"},
        {"run_accession": "SRR2", "status": "used", "individual": "B", "library": "SRR2",
         "evidence": "sheet"},
        {"run_accession": "SRR3", "status": "excluded", "individual": "C", "library": "SRR3",
         "evidence": "withdrawn"},
    ]
    identity = {"SRR1": "match", "SRR2": "swap: the reads carry A's genotypes, not B's"}
    rows = {r["run_accession"]: r for r in final_statuses(mapping, {"SRR1"}, identity, {"SRR2"})}
    assert rows["SRR1"]["status"] == "used" and rows["SRR1"]["identity"] == "match"
    assert rows["SRR2"]["status"] == "excluded"
    assert rows["SRR2"]["detail"] == "identity check: swap: the reads carry A's genotypes, not B's"
    assert rows["SRR3"]["identity"] == "not checked" and rows["SRR3"]["detail"] == "withdrawn"
    without = final_statuses(mapping[:1], {"SRR1"})
    assert without[0]["identity"] == "not checked"
