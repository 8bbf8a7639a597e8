"""kgpex.identity.mbv against REAL genotypes: QTLtools' own example data (Debian package
qtltools-example, examples.tar.xz -> ./genotypes.chr22.vcf.gz + .tbi), which holds 1000 Genomes
phase 3 genotypes of the Geuvadis European individuals on chromosome 22.

What the file holds (qtltools-example 1.3.1, checked by test_the_panel_is_what_this_file_assumes):

- 358 samples (HG00096 ... NA20828: GBR, FIN, TSI and CEU individuals),
- 85,485 records, every one a biallelic SNP (the file was cut with ``bcftools view -q 0.05:minor``
  over these samples, so all are common), all genotypes phased (``0|1``), none missing,
- records on contig ``chr22`` (the tabix index's name), although the header's ``##contig``
  lines name ``1`` ... ``22`` (b37 lengths; ``22`` is 51,304,566 bp) and none names ``chr22``.

The panel has no BAM and no reference sequence, so the reads are synthetic: each chosen SNP
sits in a random 200 bp window whose base at the SNP is the VCF's REF, and 12-20 reads of 100 bp
are drawn over it from one real individual's two phased haplotypes (or from two individuals'
in a chosen proportion). mbv then reads a VCF of just the chosen sites, all 358 samples.

The sites are every 40th SNP along the whole chromosome (~2,100), not one contiguous block: a
chromosome-22 kinship scan of the panel finds a sibling-like pair (HG00116 and HG00120,
kinship ~0.24, IBS0 1.6% against ~6.4% for random pairs) and a few pairs near 0.15 (HG00238 and
HG00240, HG00112 and HG00123, NA12760 and NA12830); within a 1 Mb block siblings can be
identical by descent on both copies, which would say more about the block than about the call.
No pair looks like parent and child (IBS0 near 0).

Measured here (seeded): the true individual 0.998-1.000 at both kinds of site, the runner-up
~0.38-0.49 heterozygous and ~0.70-0.77 homozygous (margin ~0.38-0.42, siblings included). mbv
counts a homozygous site as consistent when the reads show one allele, whichever it is, so an
unrelated individual's homozygous figure is high (0.77 where same-allele agreement is 0.65).
A 70/30 mix drops the homozygous figure of both individuals to ~0.6: unclear, contamination.
"""

from __future__ import annotations

import random
import shutil
import tarfile
from pathlib import Path

import pytest
from test_identity import write_sorted_bam

from kgpex.common.errors import KgpexError
from kgpex.identity import mbv

pysam = pytest.importorskip("pysam")

EXAMPLES = Path("/usr/share/doc/qtltools/examples/examples.tar.xz")
MEMBERS = ("./genotypes.chr22.vcf.gz", "./genotypes.chr22.vcf.gz.tbi")
STEP = 40  # every STEP-th SNP of the file
MIN_SPACING = 250  # bp between chosen sites, so each site's depth is its own reads'
MIN_MAF = 0.05
READ = 100
DEPTH = (12, 20)

TRUE = "HG00096"  # GBR
OTHER = "HG00097"  # GBR, unrelated to TRUE
CONTAMINANT = "NA20786"  # TSI
# Checked for a clear margin: TRUE, the sibling-like HG00116 (of HG00120), HG00238 (~0.15 with
# HG00240), NA12760 (CEU, ~0.15 with NA12830), NA20811 (TSI).
RELATED_CHECK = ["HG00116", "HG00238", "NA12760", "NA20811"]

needs_qtltools = pytest.mark.skipif(shutil.which("QTLtools") is None,
                                    reason="QTLtools not installed (make setup installs qtltools)")


@pytest.fixture(scope="module")
def geuvadis(tmp_path_factory):
    """The real chr22 genotypes, extracted; ~2,100 common SNPs chosen from them, each with a
    random 200 bp window around it, and a bgzipped, tabixed VCF of just those sites."""
    if not EXAMPLES.exists():
        pytest.fail(f"{EXAMPLES} is missing: these checks need QTLtools' example data "
                    "(apt-get install qtltools-example; make setup installs it)", pytrace=False)
    out = tmp_path_factory.mktemp("geuvadis")
    with tarfile.open(EXAMPLES, "r:xz") as tar:
        for member in tar:
            if member.name in MEMBERS:
                tar.extract(member, out, filter="data")
    full = out / "genotypes.chr22.vcf.gz"
    if not (full.exists() and Path(f"{full}.tbi").exists()):
        pytest.fail(f"{EXAMPLES} holds no {' + '.join(MEMBERS)} (apt-get install qtltools-example)",
                    pytrace=False)

    with pysam.VariantFile(str(full)) as vf:
        samples = list(vf.header.samples)
        lengths = {name: rec.length for name, rec in vf.header.contigs.items()}
    with pysam.TabixFile(str(full)) as tbx:
        (contig,) = tbx.contigs
        n_records = n_snps = 0
        phased = True
        sites, haps, fixed = [], [], []
        for line in tbx.fetch(contig):
            n_records += 1
            chrom, pos, vid, ref, alt, rest = line.split("\t", 5)
            if len(ref) == 1 and len(alt) == 1:
                n_snps += 1
            else:
                continue
            if n_records % STEP or (sites and int(pos) - sites[-1][0] < MIN_SPACING):
                continue
            cells = rest.split("\t", 4)[4].split("\t")
            assert len(cells) == len(samples), f"{vid}: {len(cells)} genotypes"
            phased &= all(cell[1:2] == "|" for cell in cells)
            alleles = [(cell[0:1], cell[2:3]) for cell in cells]
            if any(a not in "01" or b not in "01" or len(cell) != 3
                   for (a, b), cell in zip(alleles, cells)):
                continue  # missing, multi-character or not biallelic
            alleles = [(int(a), int(b)) for a, b in alleles]
            freq = sum(a + b for a, b in alleles) / (2 * len(alleles))
            if min(freq, 1 - freq) < MIN_MAF:
                continue
            sites.append((int(pos), ref, alt))
            haps.append(alleles)
            fixed.append(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\t.\tGT")

    # The chosen sites for all samples; the contig, as the records name it, with the length the
    # header gives its Ensembl name.
    length = lengths.get(contig) or lengths[contig.removeprefix("chr")]
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID={contig},length={length}>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        *samples])]  # fmt: skip
    for head, alleles in zip(fixed, haps):
        lines.append(head + "\t" + "\t".join(f"{a}|{b}" for a, b in alleles))
    vcf = out / "chosen.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    pysam.tabix_index(str(vcf), preset="vcf", force=True)

    rng = random.Random(22)
    windows = []
    for pos, ref, _alt in sites:
        bases = [rng.choice("ACGT") for _ in range(2 * READ)]
        bases[READ - 1] = ref  # window covers pos-99 .. pos+100 (1-based); pos at index 99
        windows.append("".join(bases))
    return {"dir": out, "full_vcf": full, "vcf": Path(f"{vcf}.gz"), "samples": samples,
            "index": {s: i for i, s in enumerate(samples)}, "contig": contig, "length": length,
            "n_records": n_records, "n_snps": n_snps, "phased": phased, "sites": sites,
            "haps": haps, "windows": windows, "rows": {}}  # fmt: skip


def write_bam(panel, name, mix, contig=None, seed=1, n_sites=None):
    """A coordinate-sorted, indexed BAM: 12-20 reads over each chosen site, each read drawn
    from one haplotype of an individual picked with the weights in ``mix``."""
    rng = random.Random(seed)
    people, weights = zip(*mix.items())
    cols = [panel["index"][p] for p in people]
    reads = []
    for k, ((pos, _ref, alt), window) in enumerate(zip(panel["sites"][:n_sites], panel["windows"])):
        for _ in range(rng.randint(*DEPTH)):
            who = rng.choices(range(len(people)), weights)[0]
            offset = rng.randrange(READ)  # read holds the SNP at index READ - 1 - offset
            bases = list(window[offset:offset + READ])
            if panel["haps"][k][cols[who]][rng.randrange(2)]:
                bases[READ - 1 - offset] = alt
            start = pos - READ + offset  # 0-based start of the window is pos - READ
            reads.append((start, "".join(bases)))
    reads.sort()
    return write_sorted_bam(panel["dir"] / f"{name}.bam", contig or panel["contig"],
                            panel["length"], reads)


def mbv_rows(panel, name, mix, seed=1):
    """mbv's rows for a BAM of ``mix``'s reads (each BAM built and run once per module)."""
    if name not in panel["rows"]:
        bam = write_bam(panel, name, mix, seed=seed)
        dest = bam.with_suffix(".mbv.txt")
        mbv.run_mbv(bam, panel["vcf"], dest, bam.with_suffix(".log"))
        rows = mbv.read_mbv(dest)
        assert sorted(r["SampleID"] for r in rows) == sorted(panel["samples"])
        panel["rows"][name] = rows
    return panel["rows"][name]


def runner_up(rows, best):
    others = [r for r in rows if r["SampleID"] != best]
    return max(others, key=lambda r: (r["perc_het_consistent"] + r["perc_hom_consistent"]) / 2)


def show(label, call, rows):
    second = runner_up(rows, call.best_individual)
    print(f"\n{label}: best {call.best_individual} het {call.best_het_concordance:.3f} "
          f"hom {call.best_hom_concordance:.3f} ({call.het_sites} het, {call.hom_sites} hom "
          f"sites of {call.labelled_individual}); runner-up {second['SampleID']} het "
          f"{second['perc_het_consistent']:.3f} hom {second['perc_hom_consistent']:.3f}; "
          f"margin {call.margin:.3f}; verdict {call.verdict} {call.reason}")


def test_the_panel_is_what_this_file_assumes(geuvadis):
    print(f"\n{len(geuvadis['samples'])} samples, {geuvadis['n_records']} records "
          f"({geuvadis['n_snps']} biallelic SNPs) on {geuvadis['contig']} "
          f"(length {geuvadis['length']}), phased: {geuvadis['phased']}; "
          f"{len(geuvadis['sites'])} sites chosen")
    assert geuvadis["contig"] == "chr22" and geuvadis["length"] == 51_304_566
    assert geuvadis["phased"]
    assert len(geuvadis["samples"]) >= 300 and geuvadis["n_snps"] > 50_000
    assert 1500 <= len(geuvadis["sites"]) <= 3000
    assert {TRUE, OTHER, CONTAMINANT, *RELATED_CHECK} <= set(geuvadis["samples"])


@needs_qtltools
def test_reads_of_the_labelled_real_individual_match(geuvadis):
    rows = mbv_rows(geuvadis, "own", {TRUE: 1.0})
    call = mbv.call_identity("ERR_OWN", TRUE, rows)
    show("own", call, rows)
    assert (call.best_individual, call.verdict) == (TRUE, "match")
    assert call.labelled_het_concordance > 0.95 and call.labelled_hom_concordance > 0.95
    assert call.margin >= mbv.Thresholds().min_margin


@needs_qtltools
def test_reads_labelled_as_another_real_individual_are_a_swap_and_stop_names_it(geuvadis):
    rows = mbv_rows(geuvadis, "own", {TRUE: 1.0})
    call = mbv.call_identity("ERR_SWAP", OTHER, rows)
    show("swap", call, rows)
    assert (call.best_individual, call.verdict) == (TRUE, "swap")
    assert call.labelled_het_concordance < mbv.Thresholds().min_het_concordance
    with pytest.raises(KgpexError) as err:
        mbv.apply_policy([call], "stop")
    assert f"ERR_SWAP labelled {OTHER} matches {TRUE}" in str(err.value)


@needs_qtltools
def test_a_70_30_mix_of_two_real_individuals_is_not_a_match(geuvadis):
    rows = mbv_rows(geuvadis, "mix", {TRUE: 0.7, CONTAMINANT: 0.3}, seed=3)
    call = mbv.call_identity("ERR_MIX", TRUE, rows)
    show("70/30 mix", call, rows)
    minor = next(r for r in rows if r["SampleID"] == CONTAMINANT)
    print(f"contaminant {CONTAMINANT}: het {minor['perc_het_consistent']:.3f} "
          f"hom {minor['perc_hom_consistent']:.3f}")
    assert call.verdict == "unclear"
    assert "contamination" in call.reason or "agree almost equally" in call.reason


@needs_qtltools
def test_no_real_individual_comes_close_to_the_true_one(geuvadis):
    # Includes the panel's closest relatives (see the module docstring): the margin over the
    # runner-up must still clear the threshold, or a real library would be called unclear.
    min_margin = mbv.Thresholds().min_margin
    margins = {}
    for k, person in enumerate([TRUE, *RELATED_CHECK]):
        rows = mbv_rows(geuvadis, "own" if person == TRUE else f"own_{person}", {person: 1.0},
                        seed=1 if person == TRUE else 10 + k)
        call = mbv.call_identity(f"ERR_REL{k}", person, rows)
        show(person, call, rows)
        margins[person] = (call.best_individual, call.verdict, call.margin)
    assert all(best == person and verdict == "match" and margin > min_margin
               for person, (best, verdict, margin) in margins.items()), margins


def test_a_bam_named_unlike_the_real_genotypes_gets_one_line(geuvadis):
    # The real file's header names its contig "22" but its records (and index) say "chr22": a
    # BAM on Ensembl names is refused before mbv runs, against the real VCF as it ships.
    bam = write_bam(geuvadis, "ensembl_names", {TRUE: 1.0}, contig="22", n_sites=5)
    dest = geuvadis["dir"] / "ensembl.mbv.txt"
    with pytest.raises(KgpexError, match=r"ensembl_names\.bam: contigs \(22, \.\.\.\) share no "
                                         r"name with the genotypes .*\(chr22, \.\.\.\)"):
        mbv.run_mbv(bam, geuvadis["full_vcf"], dest, geuvadis["dir"] / "ensembl.log")
    assert not dest.exists()
