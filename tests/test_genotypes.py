"""kgpex.genotypes on tiny phased VCFs built here with bgzip/tabix (bcftools and plink2 run)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kgpex.common.errors import KgpexError
from kgpex.common.sources import vcf_source
from kgpex.genotypes import cohort as genotypes_cohort
from kgpex.genotypes import pca
from kgpex.genotypes import variants as genotypes_variants
from kgpex.genotypes import vcf as genotypes_vcf

HEADER = """##fileformat=VCFv4.2
##contig=<ID={contig},length=156040895>
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in the panel">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number in the panel">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
"""


def write_vcf(path: Path, contig: str, samples: list[str], records, index: bool = True) -> Path:
    """records: (pos, ref, alt, [GT per sample]). Written bgzipped, tabix-indexed unless told."""
    lines = [HEADER.format(contig=contig).rstrip("\n")]
    lines.append(
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        )
    )
    for pos, ref, alt, gts in records:
        assert len(gts) == len(samples)
        lines.append(
            "\t".join([contig, str(pos), ".", ref, alt, ".", "PASS", "AC=1;AN=2", "GT", *gts])
        )
    plain = path.with_suffix("")
    plain.write_text("\n".join(lines) + "\n")
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    if index:
        subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return path


def read_pgen(prefix: Path) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """(pvar, psam IIDs, alt dosage matrix variants x samples) through pgenlib."""
    import pgenlib

    pvar = pd.read_csv(
        f"{prefix}.pvar", sep="\t", comment=None, dtype=str, skiprows=_meta_lines(prefix)
    )
    psam = pd.read_csv(f"{prefix}.psam", sep="\t", dtype=str)
    reader = pgenlib.PgenReader(str(prefix).encode() + b".pgen")
    n_var, n_smp = reader.get_variant_ct(), reader.get_raw_sample_ct()
    geno = np.empty((n_var, n_smp), dtype=np.int32)
    reader.read_range(0, n_var, geno)
    # read_range gives ALT allele counts (0, 1, 2; -9 missing).
    return pvar, psam["#IID"].tolist(), geno


def _meta_lines(prefix: Path) -> int:
    with open(f"{prefix}.pvar") as fh:
        return sum(1 for line in fh if line.startswith("##"))


SAMPLES = ["HG00003", "HG00001", "HG00002", "HG00004", "NA00001"]  # header order, not sorted
SEXES = {"HG00001": "male", "HG00002": "female", "HG00003": "male", "HG00004": "female"}


# -- variant IDs --------------------------------------------------------------------------------


def test_variant_id_keeps_short_alleles():
    assert genotypes_variants.variant_id("chr22", 100, "A", "G", 100) == "chr22:100:A:G"
    assert genotypes_variants.variant_id("chr22", 100, "ACGT", "A", 4) == "chr22:100:ACGT:A"


def test_variant_id_replaces_long_alleles_by_length_and_hash():
    long_a = "A" + "C" * 120
    long_b = "A" + "C" * 119 + "G"
    digest = hashlib.sha256(long_a.encode()).hexdigest()[:16]
    assert genotypes_variants.variant_id("chr22", 5, long_a, "A", 100) == f"chr22:5:121bp_{digest}:A"
    assert genotypes_variants.variant_id("chr22", 5, long_a, "A", 100) != genotypes_variants.variant_id(
        "chr22", 5, long_b, "A", 100
    )
    assert genotypes_variants.variant_id("chr22", 5, "A", long_b, 100).endswith(
        ":121bp_" + hashlib.sha256(long_b.encode()).hexdigest()[:16]
    )


def test_write_variant_ids_marks_exact_duplicates(tmp_path):
    pvar = tmp_path / "in.pvar"
    pvar.write_text(
        "##contig=<ID=chr22>\n#CHROM\tPOS\tID\tREF\tALT\n"
        "chr22\t10\t.\tA\tG\nchr22\t10\t.\tA\tT\nchr22\t10\t.\tA\tG\nchr22\t11\t.\tA\tG\n"
    )
    n, dups = genotypes_variants.write_variant_ids(pvar, tmp_path / "out.pvar", 100)
    assert n == 4 and dups == ["chr22:10:A:G#duplicate1"]
    ids = [line.split("\t")[2] for line in (tmp_path / "out.pvar").read_text().splitlines()[2:]]
    assert ids == ["chr22:10:A:G", "chr22:10:A:T", "chr22:10:A:G#duplicate1", "chr22:11:A:G"]


# -- cohort genotypes ---------------------------------------------------------------------------


def autosome_records():
    return [
        # common in the cohort
        (100, "A", "G", ["0|1", "1|0", "1|1", "0|0", "0|0"]),
        # common in the panel (NA00001 only), monomorphic in the cohort: dropped
        (200, "C", "T", ["0|0", "0|0", "0|0", "0|0", "1|1"]),
        # multi-allelic record: dropped
        (300, "C", "T,G", ["0|1", "1|2", "0|0", "0|0", "0|0"]),
        # long deletion: hashed ID
        (400, "A" + "T" * 150, "A", ["0|1", "0|0", "0|0", "1|1", "0|0"]),
        # one allele copy in 8: MAF 0.125
        (500, "G", "C", ["0|0", "0|0", "0|1", "0|0", "1|1"]),
    ]


def test_cohort_genotypes_autosome(tmp_path):
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    n = genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "out" / "chr22", maf=0.1)
    pvar, iids, geno = read_pgen(tmp_path / "out" / "chr22")
    assert n == 3
    assert iids == sorted(SEXES)
    long_id = genotypes_variants.variant_id("chr22", 400, "A" + "T" * 150, "A", 100)
    assert pvar["ID"].tolist() == ["chr22:100:A:G", long_id, "chr22:500:G:C"]
    assert pvar["#CHROM"].unique().tolist() == ["chr22"]
    assert pvar["REF"][1] == "A" + "T" * 150  # full alleles in the pvar
    # samples sorted: HG00001 HG00002 HG00003 HG00004
    assert geno[0].tolist() == [1, 2, 1, 0]
    assert geno[1].tolist() == [0, 0, 1, 2]
    psam = pd.read_csv(tmp_path / "out" / "chr22.psam", sep="\t", dtype=str)
    assert psam["SEX"].tolist() == ["1", "2", "1", "2"]


def test_exact_duplicate_records_keep_the_first_copy(tmp_path):
    records = autosome_records()
    records.insert(1, (100, "A", "G", ["1|1", "1|1", "0|0", "0|0", "0|0"]))  # same site again
    records.insert(2, (100, "A", "T", ["0|1", "1|1", "0|0", "0|0", "0|0"]))  # other allele: kept
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, records)
    n = genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "d", maf=0.1)
    pvar, iids, geno = read_pgen(tmp_path / "d")
    assert n == 4 == len(pvar)
    assert pvar["ID"].tolist()[:2] == ["chr22:100:A:G", "chr22:100:A:T"]
    assert geno[0].tolist() == [1, 2, 1, 0]  # the first copy
    assert iids == sorted(SEXES)
    psam = pd.read_csv(tmp_path / "d.psam", sep="\t", dtype=str)
    assert psam["SEX"].tolist() == ["1", "2", "1", "2"]


def test_maf_is_computed_in_the_cohort(tmp_path):
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a", maf=0.2)
    pvar, _, _ = read_pgen(tmp_path / "a")
    # 500 G>C has MAF 1/8 in the cohort (5/10 in the panel): dropped at 0.2; 200 never kept.
    assert pvar["POS"].tolist() == ["100", "400"]


def test_min_minor_allele_samples(tmp_path):
    records = [
        (100, "A", "G", ["0|1", "1|0", "1|1", "0|0", "0|0"]),  # 3 carriers of G
        (150, "A", "G", ["1|1", "1|1", "0|0", "0|0", "0|0"]),  # MAF 0.5, 2 carriers of G
        (200, "A", "G", ["1|1", "1|1", "1|1", "0|1", "0|0"]),  # minor A: 1 carrier
    ]
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, records)
    genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a", maf=0.1, min_minor_allele_samples=3)
    assert read_pgen(tmp_path / "a")[0]["POS"].tolist() == ["100"]
    genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "b", maf=0.1, min_minor_allele_samples=2)
    assert read_pgen(tmp_path / "b")[0]["POS"].tolist() == ["100", "150"]


def test_chrx_males_diploid_outside_par_females_and_par_untouched(tmp_path):
    # Header order M1 F1 M2 F2 -> HG00003(m) HG00002(f) HG00001(m) HG00004(f).
    samples = ["HG00003", "HG00002", "HG00001", "HG00004"]
    records = [
        (60_000, "A", "G", ["0|1", "1|0", "1|1", "0|0"]),  # PAR1: males diploid, kept as is
        (3_000_000, "C", "T", ["1", "0|1", "0", "1|1"]),  # non-PAR: males haploid
        (155_800_000, "G", "A", ["1|0", "0|0", "0|1", "1|1"]),  # PAR2
    ]
    vcf = write_vcf(tmp_path / "chrX.vcf.gz", "chrX", samples, records)
    genotypes_cohort.cohort_genotypes(vcf, "chrX", {s: SEXES[s] for s in samples}, tmp_path / "x", maf=0.01)
    pvar, iids, geno = read_pgen(tmp_path / "x")
    assert iids == ["HG00001", "HG00002", "HG00003", "HG00004"]
    assert pvar["#CHROM"].unique().tolist() == ["chrX"]
    assert geno[0].tolist() == [2, 1, 1, 0]  # PAR1 hets stay hets
    assert geno[1].tolist() == [
        0,
        1,
        2,
        2,
    ]  # HG00001 '0' -> 0/0, HG00003 '1' -> 1/1, females as given
    assert geno[2].tolist() == [1, 0, 1, 2]


def test_chrx_maf_counts_diploidised_males(tmp_path):
    # Two haploid male ALT calls: 4 copies of 8 after diploidisation (would be 2 of 6 before).
    samples = ["HG00001", "HG00002", "HG00003", "HG00004"]
    records = [(3_000_000, "C", "T", ["1", "0|0", "1", "0|0"])]
    vcf = write_vcf(tmp_path / "chrX.vcf.gz", "chrX", samples, records)
    genotypes_cohort.cohort_genotypes(vcf, "chrX", {s: SEXES[s] for s in samples}, tmp_path / "x", maf=0.5)
    assert read_pgen(tmp_path / "x")[0]["POS"].tolist() == ["3000000"]


def test_haploid_call_in_female_is_an_error(tmp_path):
    samples = ["HG00001", "HG00002"]
    records = [(3_000_000, "C", "T", ["1", "0|1"]), (3_000_100, "C", "T", ["0", "1"])]
    vcf = write_vcf(tmp_path / "chrX.vcf.gz", "chrX", samples, records)
    with pytest.raises(
        KgpexError, match=r"chrX:3000100 C>T: haploid chrX genotype in a female: HG00002 has GT '1'"
    ):
        genotypes_cohort.cohort_genotypes(vcf, "chrX", {s: SEXES[s] for s in samples}, tmp_path / "x")
    assert not (tmp_path / "x.pgen").exists()


def test_haploid_call_in_male_inside_par_is_an_error(tmp_path):
    samples = ["HG00001", "HG00002"]
    vcf = write_vcf(tmp_path / "chrX.vcf.gz", "chrX", samples, [(20_000, "C", "T", ["1", "0|1"])])
    with pytest.raises(KgpexError, match="haploid genotype in a male inside PAR1: HG00001"):
        genotypes_cohort.cohort_genotypes(vcf, "chrX", {s: SEXES[s] for s in samples}, tmp_path / "x")


def test_unphased_genotype_is_an_error(tmp_path):
    records = autosome_records()
    records[3] = (400, "A", "C", ["0|1", "0/1", "0|0", "1|1", "0|0"])
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, records)
    with pytest.raises(
        KgpexError, match=r"chr22:400 A>C: unphased genotype .*: HG00001 has GT '0/1'"
    ):
        genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a")
    assert not list(tmp_path.glob("a.*"))


def test_malformed_genotype_is_an_error(tmp_path):
    records = autosome_records()
    records[0] = (100, "A", "G", ["0|1", "1|0", "1|2", "0|0", "0|0"])
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, records)
    # bcftools refuses allele 2 of a biallelic record while counting alleles; either message names it.
    with pytest.raises(
        KgpexError, match=r"chr22.vcf.gz: .*(Incorrect allele|malformed genotype).*HG00002"
    ):
        genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a")
    records[0] = (100, "A", "G", ["0|1", "1|X", "1|1", "0|0", "0|0"])
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, records)
    with pytest.raises(
        KgpexError, match=r"chr22.vcf.gz: chr22: bcftools view \(select cohort\) failed.*GT"
    ):
        genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a")


def test_missing_individuals_are_all_listed(tmp_path):
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    sexes = dict(SEXES, NA99999="male", HG99998="female")
    with pytest.raises(
        KgpexError, match=r"2 cohort individual\(s\) not among its 5 samples: HG99998, NA99999$"
    ):
        genotypes_cohort.cohort_genotypes(vcf, "chr22", sexes, tmp_path / "a")


def test_vcf_without_index(tmp_path):
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, autosome_records(), index=False)
    with pytest.raises(KgpexError, match=r"chr22.vcf.gz: no index \(.*\.tbi or \.csi\)"):
        genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a")


def test_chromosome_absent(tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf.gz", "chr21", SAMPLES, autosome_records())
    with pytest.raises(
        KgpexError, match=r"chromosome chr22 \(or 22\) is not in the VCF; its index lists: chr21"
    ):
        genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a")


def test_bare_contig_names_are_renamed(tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf.gz", "22", SAMPLES, autosome_records())
    genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a", maf=0.1)
    pvar = read_pgen(tmp_path / "a")[0]
    assert pvar["#CHROM"].unique().tolist() == ["chr22"]
    assert pvar["ID"][0] == "chr22:100:A:G"


def test_truncated_vcf(tmp_path):
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    data = vcf.read_bytes()
    vcf.write_bytes(data[: len(data) - 40])
    with pytest.raises(KgpexError, match="no BGZF end-of-file block: the file is truncated"):
        genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a")
    with pytest.raises(KgpexError, match="truncated"):
        genotypes_vcf.check_bgzf(vcf)


def test_corrupted_bgzip_block(tmp_path):
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    data = bytearray(vcf.read_bytes())
    data[60:70] = b"\x00" * 10
    vcf.write_bytes(bytes(data))
    with pytest.raises(KgpexError, match="corrupted bgzip data"):
        genotypes_vcf.check_bgzf(vcf)


def test_no_variant_left_is_an_error(tmp_path):
    vcf = write_vcf(tmp_path / "chr22.vcf.gz", "chr22", SAMPLES, autosome_records()[1:2])
    with pytest.raises(
        KgpexError, match="no biallelic variant on chr22 has MAF >= 0.01 in the 4 cohort"
    ):
        genotypes_cohort.cohort_genotypes(vcf, "chr22", SEXES, tmp_path / "a")


# -- download ------------------------------------------------------------------------------------

FAST = dict(retries=1, backoff=0.001, timeout=10)


def test_download_vcf_verifies_and_places_index(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    vcf = write_vcf(mirror / "P_chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    digest = hashlib.md5(vcf.read_bytes()).hexdigest()
    (mirror / "MD5SUMS").write_text(f"{digest}  P_chr22.vcf.gz\n")
    dest = tmp_path / "out" / "chr22.vcf.gz"
    genotypes_vcf.download_vcf(str(vcf), "chr22", dest, md5sums_url=str(mirror / "MD5SUMS"), options=FAST)
    assert dest.read_bytes() == vcf.read_bytes()
    assert Path(f"{dest}.tbi").read_bytes() == Path(f"{vcf}.tbi").read_bytes()
    assert Path(f"{dest}.tbi").stat().st_mtime >= dest.stat().st_mtime


def test_download_vcf_md5_mismatch(tmp_path):
    vcf = write_vcf(tmp_path / "P_chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    (tmp_path / "MD5SUMS").write_text(f"{'0' * 32}  P_chr22.vcf.gz\n")
    with pytest.raises(KgpexError, match="md5 mismatch"):
        genotypes_vcf.download_vcf(
            str(vcf),
            "chr22",
            tmp_path / "o" / "chr22.vcf.gz",
            str(tmp_path / "MD5SUMS"),
            options=FAST,
        )
    assert not (tmp_path / "o" / "chr22.vcf.gz").exists()


def test_download_vcf_truncated(tmp_path):
    vcf = write_vcf(tmp_path / "P_chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    vcf.write_bytes(vcf.read_bytes()[:-28])
    dest = tmp_path / "o" / "chr22.vcf.gz"
    with pytest.raises(KgpexError, match="no BGZF end-of-file block"):
        genotypes_vcf.download_vcf(str(vcf), "chr22", dest, options=FAST)
    assert not dest.exists() and not Path(f"{dest}.tbi").exists()


def test_download_vcf_without_index(tmp_path):
    vcf = write_vcf(tmp_path / "P_chr22.vcf.gz", "chr22", SAMPLES, autosome_records(), index=False)
    with pytest.raises(KgpexError, match=r"P_chr22.vcf.gz.tbi"):
        genotypes_vcf.download_vcf(str(vcf), "chr22", tmp_path / "o" / "chr22.vcf.gz", options=FAST)


def test_download_vcf_chromosome_absent(tmp_path):
    vcf = write_vcf(tmp_path / "P_chr21.vcf.gz", "chr21", SAMPLES, autosome_records())
    with pytest.raises(KgpexError, match=r"chromosome chr22 \(or 22\) is not in the VCF"):
        genotypes_vcf.download_vcf(str(vcf), "chr22", tmp_path / "o" / "chr22.vcf.gz", options=FAST)


def test_download_vcf_foreign_index(tmp_path):
    vcf = write_vcf(tmp_path / "P_chr22.vcf.gz", "chr22", SAMPLES, autosome_records())
    many = [f"NA{i:05d}" for i in range(60)]
    other = write_vcf(tmp_path / "other.vcf.gz", "chr22", many, [(100, "A", "G", ["0|1"] * 60)])
    Path(f"{vcf}.tbi").write_bytes(Path(f"{other}.tbi").read_bytes())
    # The borrowed index points past this file's header into the wrong place.
    with pytest.raises(KgpexError, match="the index does not answer a query of chr22"):
        genotypes_vcf.download_vcf(str(vcf), "chr22", tmp_path / "o" / "chr22.vcf.gz", options=FAST)
    assert not (tmp_path / "o" / "chr22.vcf.gz").exists()


def test_vcf_source_uses_chrx_template():
    config = {
        "vcf_url": "http://x/P_{chrom}.shapeit2.vcf.gz",
        "vcf_url_chrX": "http://x/P_chrX.eagle2.vcf.gz",
    }
    assert vcf_source(config, "chr7") == "http://x/P_chr7.shapeit2.vcf.gz"
    assert vcf_source(config, "chrX") == "http://x/P_chrX.eagle2.vcf.gz"
    assert (
        vcf_source({"vcf_url": "P_{chrom}.vcf.gz", "vcf_url_chrX": ""}, "chrX")
        == "P_chrX.vcf.gz"
    )


# -- genotype PCs --------------------------------------------------------------------------------


def simulated_panel(tmp_path, n_per_pop=30, n_variants=400, seed=7):
    """Two populations with different allele frequencies on chr21 and chr22."""
    rng = np.random.default_rng(seed)
    samples = [f"HG{i:05d}" for i in range(2 * n_per_pop)]
    pops = {s: ("YRI" if i < n_per_pop else "CEU") for i, s in enumerate(samples)}
    prefixes = []
    for chrom in ("chr21", "chr22"):
        records = []
        for v in range(n_variants):
            p = rng.uniform(0.05, 0.95, size=2)
            freqs = np.where(np.arange(len(samples)) < n_per_pop, p[0], p[1])
            haps = (rng.random((len(samples), 2)) < freqs[:, None]).astype(int)
            records.append((1000 + 10 * v, "A", "G", [f"{a}|{b}" for a, b in haps]))
        vcf = write_vcf(tmp_path / f"{chrom}.vcf.gz", chrom, samples, records)
        sexes = {s: "female" for s in samples}
        genotypes_cohort.cohort_genotypes(vcf, chrom, sexes, tmp_path / chrom, maf=0.01)
        prefixes.append(tmp_path / chrom)
    return samples, pops, prefixes


def test_genotype_pcs_separate_populations(tmp_path):
    samples, pops, prefixes = simulated_panel(tmp_path)
    out = tmp_path / "cov" / "genotype_pcs.tsv"
    table, eigenvalues = pca.genotype_pcs(
        prefixes, samples, out, n_pcs=4, maf=0.05, indep_pairwise=(50, 10, 0.5)
    )
    written = pd.read_csv(out, sep="\t", dtype={"sample_id": str})
    assert written.columns.tolist() == ["sample_id", "PC1", "PC2", "PC3", "PC4"]
    assert written["sample_id"].tolist() == sorted(samples)
    pc1 = written.set_index("sample_id")["PC1"]
    yri = pc1[[s for s in samples if pops[s] == "YRI"]]
    ceu = pc1[[s for s in samples if pops[s] == "CEU"]]
    assert (yri.max() < ceu.min()) or (ceu.max() < yri.min())
    assert eigenvalues[0] > eigenvalues[1]
    pca.plot_genotype_pcs(table, pops, tmp_path / "cov" / "genotype_pcs.png")
    assert (tmp_path / "cov" / "genotype_pcs.png").read_bytes()[:4] == b"\x89PNG"


def test_genotype_pcs_without_pruning_use_every_maf_passing_variant(tmp_path, caplog):
    """indep_pairwise None (methods: mage, MAGE's plink --pca --maf): no LD pruning."""
    import logging
    import re

    from kgpex.genotypes.plink import run_plink2

    samples, pops, prefixes = simulated_panel(tmp_path, n_variants=200)
    # Variants with MAF >= 0.2, counted independently of the PCA (plink2 --freq).
    expected = 0
    for prefix in prefixes:
        run_plink2(["--pfile", str(prefix), "--freq"], tmp_path / f"freq_{prefix.name}", 1, 1000)
        freq = pd.read_csv(tmp_path / f"freq_{prefix.name}.afreq", sep="\t")
        expected += int((np.minimum(freq["ALT_FREQS"], 1 - freq["ALT_FREQS"]) >= 0.2 - 1e-9).sum())
    assert 0 < expected < 400  # the filter does drop variants
    caplog.set_level(logging.INFO, logger="kgpex.genotypes.pca")
    table, eigenvalues = pca.genotype_pcs(prefixes, samples, tmp_path / "pcs.tsv", n_pcs=4,
                                          maf=0.2, indep_pairwise=None)
    assert f"genotype PCs from {expected} variants" in caplog.text
    assert "no LD pruning" in caplog.text and "LD pruning\n" not in caplog.text
    pc1 = table["PC1"]
    yri = pc1[[s for s in samples if pops[s] == "YRI"]]
    ceu = pc1[[s for s in samples if pops[s] == "CEU"]]
    assert (yri.max() < ceu.min()) or (ceu.max() < yri.min())
    # Pruning on still works, and here drops variants in LD (r² 0.01 keeps few).
    caplog.clear()
    pca.genotype_pcs(prefixes, samples, tmp_path / "pruned.tsv", n_pcs=4, maf=0.2,
                     indep_pairwise=(50, 10, 0.01))
    pruned = int(re.search(r"genotype PCs from (\d+) variants", caplog.text).group(1))
    assert 0 < pruned < expected


def test_genotype_pcs_clamped_to_sample_count(tmp_path, caplog):
    samples, _, prefixes = simulated_panel(tmp_path, n_per_pop=4, n_variants=150)
    table, _ = pca.genotype_pcs(prefixes, samples, tmp_path / "pcs.tsv", n_pcs=20, maf=0.05)
    assert table.columns.tolist() == [f"PC{i}" for i in range(1, 8)]
    assert "20 requested, 7 computed" in caplog.text


def test_one_regex_genotype_check_selects_what_three_did(tmp_path):
    """The checker's single GNU-alternation regex (the cheap one) flags exactly the records the
    three separate regexes flag, for every kind of genotype, on autosomes and chrX."""
    gts = ["0|0", "0/1", "2|0", "10|0", "0|10", "0", "1", ".", "./.", ".|.", "0|1|1", "1|.", "0|3"]
    samples = ["F1", "F2", "M1", "M2"]
    females = tmp_path / "females.txt"
    females.write_text("F1\nF2\n")
    assert genotypes_cohort.bad_gt_expression() == genotypes_cohort.BAD_GT_ONE_REGEX
    for contig in ("chr22", "chrX"):
        records = []
        for start in (20_000, 5_000_000):  # chrX: inside PAR1, then outside
            for i, gt in enumerate(gts):
                for k in range(len(samples)):
                    row = ["0|0"] * len(samples)
                    row[k] = gt
                    records.append((start + len(samples) * i + k, "A", "G", row))
        vcf = write_vcf(tmp_path / f"{contig}.vcf.gz", contig, samples, records)
        for females_file in (str(females), None):
            one = genotypes_cohort.genotype_check_expression(contig, females_file)
            three = one.replace(
                genotypes_cohort.BAD_GT_ONE_REGEX, genotypes_cohort.BAD_GT_REGEXES
            )
            hits = [
                subprocess.run(
                    ["bcftools", "query", "-i", expr, "-f", "%POS\\n", str(vcf)],
                    capture_output=True, text=True, check=True,
                ).stdout.split()
                for expr in (one, three)
            ]
            assert len(hits[1]) > 10 and hits[0] == hits[1], (contig, females_file)
