"""kgpex.fastqtl: command construction, checked runs, and conversion to the shared tables."""

from __future__ import annotations

import gzip
import shutil

import mapper_comparison
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from kgpex.common.errors import KgpexError
from kgpex.eqtl import tables
from kgpex.fastqtl import inputs, merge
from kgpex.fastqtl import run as fastqtl_run

needs_tools = pytest.mark.skipif(
    shutil.which("fastQTL") is None or shutil.which("plink2") is None,
    reason="fastQTL and plink2 (Debian packages fastqtl, plink2) are not installed",
)

# --- command construction ------------------------------------------------------------------


def test_permutation_command_has_mage_settings():
    cmd = fastqtl_run.fastqtl_command(
        "g.vcf.gz", "p.bed.gz", "out.txt.gz", "run.log", window=1_000_000, maf=0.01,
        seed=20261122, chunk=2, n_chunks=4, covariates="cov.tab.gz", permute=[1000, 10000],
    )  # fmt: skip
    assert cmd[0] == "fastQTL"
    flags = " ".join(cmd)
    for part in (
        "--vcf g.vcf.gz", "--bed p.bed.gz", "--out out.txt.gz", "--log run.log",
        "--window 1000000", "--maf-threshold 0.01", "--seed 20261122", "--chunk 2 4",
        "--cov cov.tab.gz", "--permute 1000 10000",
    ):  # fmt: skip
        assert part in flags


def test_nominal_command_has_no_permutations_or_covariates_when_none():
    cmd = fastqtl_run.fastqtl_command("g", "p", "o", "l", window=5, maf=0.0, seed=1, chunk=1, n_chunks=1)
    assert "--permute" not in cmd and "--cov" not in cmd
    assert cmd[cmd.index("--window") + 1] == "5"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk": 5, "n_chunks": 4}, "chunk 5 outside 1..4"),
        ({"chunk": 0, "n_chunks": 4}, "chunk 0 outside"),
        ({"seed": -1}, "eqtl.seed"),
        ({"maf": 0.5}, "eqtl.maf"),
        ({"permute": [10000, 1000]}, "eqtl.fastqtl.permute"),
    ],
)
def test_command_rejects_bad_settings(kwargs, message):
    args = {"window": 1, "maf": 0.01, "seed": 1, "chunk": 1, "n_chunks": 2} | kwargs
    with pytest.raises(KgpexError, match=message):
        fastqtl_run.fastqtl_command("g", "p", "o", "l", **args)


@pytest.mark.parametrize(("genes", "chunks", "used"), [(10, 4, 4), (3, 4, 3), (0, 4, 0), (1, 1, 1)])
def test_effective_chunks(genes, chunks, used):
    assert fastqtl_run.effective_chunks(genes, chunks) == used


def test_export_command_keeps_male_x_diploid_and_chr_prefix():
    cmd = inputs.plink2_export_command("g/chrX", "t/nosex.psam", "t/keep.txt", "t/out", 2, 3000)
    joined = " ".join(cmd)
    assert "--pgen g/chrX.pgen --pvar g/chrX.pvar --psam t/nosex.psam" in joined
    assert "--export vcf bgz id-paste=iid" in joined and "--output-chr chrM" in joined
    assert "--freq counts" in joined and "--keep t/keep.txt" in joined


# --- conversion on hand-written FastQTL output -------------------------------------------------

PERM_LINES = [
    # gene, num_var, shape1, shape2, true_df, pval_true_df, variant, tss_distance, ma_samples,
    # ma_count, maf, ref_factor, pval_nominal, slope, slope_se, pval_perm, pval_beta
    "\t".join("G1 226 0.95 263.3 57.1 0.0003 chr22:100:A:G -180 23 27 0.225 1 0.0004 0.81 0.22 "
              "0.0999 0.0956".split()),
    "\t".join("G2 236 1.05 217.2 53.4 0.0002 chr22:200:C:T 2959 32 37 0.30 -1 0.0001 -0.77 0.19 "
              "0.0339 0.0376".split()),
    "\t".join(["G3", "0"] + ["NA"] * 15),
]


def _gz(path, lines):
    with gzip.open(path, "wt") as fh:
        fh.write("".join(line + "\n" for line in lines))
    return path


def test_permutation_chunks_become_the_shared_table(tmp_path):
    a = _gz(tmp_path / "1.txt.gz", PERM_LINES[1:2])
    b = _gz(
        tmp_path / "2.txt.gz",
        [PERM_LINES[0], PERM_LINES[2], PERM_LINES[1].replace("0.0339", "0.05")],
    )
    empty = _gz(tmp_path / "3.txt.gz", [])
    table = merge.permutations_to_table([a, b, empty], ["G1", "G2", "G3"], "chr22")
    assert list(table.columns) == tables.CIS_COLUMNS
    assert table["phenotype_id"].tolist() == ["G1", "G2"]  # BED order; G3 has no cis variant
    g1, g2 = table.iloc[0], table.iloc[1]
    assert g1["af"] == pytest.approx(0.225)  # ALT is minor
    assert g2["af"] == pytest.approx(0.70)  # ALT is major: af = 1 - maf
    assert g2["pval_perm"] == pytest.approx(0.0339)  # first chunk wins for a shared gene
    assert g1["start_distance"] == -180 and table["num_var"].dtype == "int64"
    assert g2["slope"] == pytest.approx(-0.77) and g1["pval_true_df"] == pytest.approx(0.0003)


def test_permutation_conversion_fails_on_missing_gene_and_bad_files(tmp_path):
    a = _gz(tmp_path / "1.txt.gz", PERM_LINES[:1])
    with pytest.raises(KgpexError, match="no FastQTL result for gene G2"):
        merge.permutations_to_table([a], ["G1", "G2"], "chr22")
    with pytest.raises(KgpexError, match="gene G1, which is not in the phenotype BED"):
        merge.permutations_to_table([a], ["G9"], "chr22")
    short = _gz(tmp_path / "s.txt.gz", ["G1\t3\t1.0"])
    with pytest.raises(KgpexError, match="3 fields, FastQTL's table has 17"):
        merge.permutations_to_table([short], ["G1"], "chr22")


NOMINAL_LINES = [
    "G1\tchr22:100:A:G\t-180\t23\t27\t0.225\t0.0004\t0.81\t0.22",
    "G1\tchr22:200:C:T\t-80\t32\t37\t0.30\t0.5\t-0.1\t0.2",
    "G2\tchr22:200:C:T\t2959\t32\t37\t0.30\t0.0001\t-0.77\t0.19",
]


def _acount(path, rows):
    pd.DataFrame(rows, columns=["#CHROM", "ID", "REF", "ALT", "ALT_CTS", "OBS_CT"]).to_csv(
        path, sep="\t", index=False
    )
    return path


def test_nominal_chunks_become_parquet_with_alt_frequency(tmp_path):
    rows = [["chr22", "chr22:100:A:G", "A", "G", 27, 120],
            ["chr22", "chr22:200:C:T", "C", "T", 84, 120]]
    counts = _acount(tmp_path / "c.acount", rows)
    a = _gz(tmp_path / "1.txt.gz", NOMINAL_LINES[:2])
    b = _gz(tmp_path / "2.txt.gz", NOMINAL_LINES[1:])  # G1 again: skipped
    dest = tmp_path / "chr22.parquet"
    n = merge.nominal_to_parquet(
        [a, b], inputs.read_alt_frequencies(counts), ["G1", "G2"], dest, "chr22", read_rows=1
    )
    table = pd.read_parquet(dest)
    assert n == 3 and len(table) == 3
    assert list(table.columns) == tables.NOMINAL_COLUMNS
    assert table["af"].tolist() == pytest.approx([27 / 120, 0.7, 0.7])
    assert table["start_distance"].tolist() == [-180, -80, 2959]
    schema = pq.read_schema(dest)
    assert (
        str(schema.field("start_distance").type) == "int32"
        and str(schema.field("af").type) == "float"
    )


def test_nominal_conversion_needs_every_allele_frequency(tmp_path):
    counts = _acount(tmp_path / "c.acount", [["chr22", "chr22:100:A:G", "A", "G", 27, 120]])
    a = _gz(tmp_path / "1.txt.gz", NOMINAL_LINES)
    dest = tmp_path / "chr22.parquet"
    with pytest.raises(KgpexError, match="chr22:200:C:T has no allele frequency"):
        merge.nominal_to_parquet([a], inputs.read_alt_frequencies(counts), ["G1", "G2"], dest, "chr22")
    assert not dest.exists()


# --- real FastQTL and plink2 on a tiny synthetic chromosome ----------------------------------


def _synthetic(tmp_path, n_samples=60, n_variants=300, n_genes=8, seed=3):
    import pgenlib

    rng = np.random.default_rng(seed)
    samples = [f"HG{i:05d}" for i in range(n_samples)]
    pos = np.sort(rng.choice(np.arange(1000, 3_000_000), n_variants, replace=False))
    freqs = rng.uniform(0.05, 0.95, n_variants)
    geno = rng.binomial(2, freqs[:, None], size=(n_variants, n_samples)).astype(np.int8)
    prefix = tmp_path / "chr22"
    writer = pgenlib.PgenWriter(f"{prefix}.pgen".encode(), n_samples, n_variants, False)
    for row in geno:
        writer.append_biallelic(np.ascontiguousarray(row))
    writer.close()
    ids = [f"chr22:{p}:A:G" for p in pos]
    with open(f"{prefix}.pvar", "w") as fh:
        fh.write(
            "#CHROM\tPOS\tID\tREF\tALT\n"
            + "".join(f"chr22\t{p}\t{i}\tA\tG\n" for p, i in zip(pos, ids))
        )
    # Shuffled psam rows with SEX: the export must keep psam order and ignore sex.
    with open(f"{prefix}.psam", "w") as fh:
        fh.write("#IID\tSEX\n" + "".join(f"{s}\t{1 + i % 2}\n" for i, s in enumerate(samples)))
    tss = np.sort(rng.choice(np.arange(100_000, 2_900_000), n_genes, replace=False))
    expr = rng.normal(size=(n_genes, n_samples))
    for g in range(n_genes):
        nearest = np.argmin(np.abs(pos - tss[g]))
        g_near = geno[nearest] - geno[nearest].mean()
        expr[g] += g_near / g_near.std()
    genes = [f"ENSG{g:011d}.1" for g in range(n_genes)]
    bed = pd.DataFrame(expr, columns=samples)
    bed.insert(0, "ID", genes)
    bed.insert(0, "end", tss)
    bed.insert(0, "start", tss - 1)
    bed.insert(0, "#Chr", "chr22")
    from kgpex.common.io import write_bgzip_indexed

    bed_path = tmp_path / "int.bed.gz"
    write_bgzip_indexed(bed, bed_path, 0, 1, 2, zerobased=True, header_prefix="#")
    cov = pd.DataFrame(rng.normal(size=(2, n_samples)), columns=samples[::-1], index=["PC1", "PC2"])
    cov_path = tmp_path / "cov.tab.gz"
    cov.rename_axis("id").reset_index().to_csv(cov_path, sep="\t", index=False, compression="gzip")
    return samples, genes, geno, ids, prefix, bed_path, cov_path, cov


@needs_tools
def test_fastqtl_chunks_end_to_end(tmp_path):
    samples, genes, geno, ids, prefix, bed_path, cov_path, cov = _synthetic(tmp_path)
    beds = {c: str(tmp_path / f"{c}.bed.gz") for c in ("chr21", "chr22")}
    assert inputs.split_phenotypes(bed_path, ["chr21", "chr22"], beds) == {"chr21": 0, "chr22": 8}
    assert (
        inputs.bed_phenotype_ids(beds["chr22"]) == genes and inputs.bed_phenotype_ids(beds["chr21"]) == []
    )

    vcf, counts = tmp_path / "chr22.vcf.gz", tmp_path / "chr22.acount"
    inputs.export_genotypes_vcf(prefix, samples[::-1], vcf, counts)
    assert (tmp_path / "chr22.vcf.gz.tbi").exists()
    af = inputs.read_alt_frequencies(counts)
    assert af[ids[7]] == pytest.approx(geno[7].mean() / 2)

    settings = {"window": 200_000, "maf": 0.01, "seed": 7}
    perm, nom = [], []
    for k in (1, 2, 3):  # 3 chunks over 8 genes
        perm.append(tmp_path / f"p{k}.txt.gz")
        nom.append(tmp_path / f"n{k}.txt.gz")
        fastqtl_run.run_chunk("permutations", vcf, beds["chr22"], cov_path, perm[-1], tmp_path / f"p{k}.log",
                     chunk=k, n_chunks=3, permute=[100, 1000], **settings)  # fmt: skip
        fastqtl_run.run_chunk("nominal", vcf, beds["chr22"], cov_path, nom[-1], tmp_path / f"n{k}.log",
                     chunk=k, n_chunks=3, **settings)  # fmt: skip
    table = merge.permutations_to_table(perm, genes, "chr22")
    pairs_path = tmp_path / "chr22.parquet"
    merge.nominal_to_parquet(nom, af, genes, pairs_path, "chr22")
    pairs = pd.read_parquet(pairs_path)
    assert set(pairs["phenotype_id"]) == set(table["phenotype_id"])
    # The permutation pass's top variant is the nominal pass's best pair of each gene.
    best = pairs.loc[pairs.groupby("phenotype_id")["pval_nominal"].idxmin()].set_index(
        "phenotype_id"
    )
    top = table.set_index("phenotype_id")
    assert (best.loc[top.index, "variant_id"] == top["variant_id"]).all()
    assert np.allclose(best.loc[top.index, "slope"], top["slope"], rtol=1e-4)
    assert np.allclose(top["af"], af[top["variant_id"]].to_numpy(), atol=1e-4)
    assert (top["pval_beta"] < 0.01).sum() >= 6  # planted effects are found

    # Slope and p-value equal an OLS fit with the covariates, samples matched by ID.
    gene, variant = top.index[0], top.iloc[0]["variant_id"]
    y = pd.read_csv(bed_path, sep="\t").set_index("ID").loc[gene, samples].to_numpy(float)
    g = geno[ids.index(variant)].astype(float)
    x = np.column_stack([np.ones(len(samples)), cov[samples].T.to_numpy(), g])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    assert top.loc[gene, "slope"] == pytest.approx(coef[-1], rel=1e-3)

    # A chromosome without genes: every chunk is an empty file, and the tables are empty.
    empty_chunk = tmp_path / "e1.txt.gz"
    fastqtl_run.run_chunk("permutations", vcf, beds["chr21"], cov_path, empty_chunk, tmp_path / "e.log",
                 chunk=1, n_chunks=3, permute=[100, 1000], **settings)  # fmt: skip
    assert merge.permutations_to_table([empty_chunk], [], "chr21").empty


@needs_tools
def test_fastqtl_failures_are_loud(tmp_path):
    samples, genes, geno, ids, prefix, bed_path, cov_path, cov = _synthetic(tmp_path, n_genes=3)
    vcf, counts = tmp_path / "g.vcf.gz", tmp_path / "g.acount"
    inputs.export_genotypes_vcf(prefix, samples, vcf, counts)
    # A covariates file without one of the samples is caught before FastQTL runs.
    cov.drop(columns=samples[4]).rename_axis("id").reset_index().to_csv(
        tmp_path / "bad.tab", sep="\t", index=False
    )
    out = tmp_path / "o.txt.gz"
    with pytest.raises(KgpexError, match=f"bad.tab: sample {samples[4]}"):
        fastqtl_run.run_chunk("nominal", vcf, bed_path, tmp_path / "bad.tab", out, tmp_path / "o.log",
                     chunk=1, n_chunks=1, window=1000, maf=0.0, seed=1)  # fmt: skip
    # FastQTL's own errors (exit 1) and a bad command line (exit 0!) both raise.
    cmd = fastqtl_run.fastqtl_command(str(vcf), str(bed_path), str(out), str(tmp_path / "x.log"),
                             window=1000, maf=0.0, seed=1, chunk=1, n_chunks=1)  # fmt: skip
    with pytest.raises(KgpexError, match="Number of chunks"):
        at = cmd.index("--chunk")
        fastqtl_run.run_fastqtl(cmd[:at] + ["--chunk", "1", "9"] + cmd[at + 3 :], out, tmp_path / "x.log")
    with pytest.raises(KgpexError, match="unrecognised option"):
        fastqtl_run.run_fastqtl(cmd + ["--no-such-option"], out, tmp_path / "y.log")
    # Samples missing from the genotypes are named before plink2 runs.
    with pytest.raises(KgpexError, match="no genotypes for sample NA99999"):
        inputs.export_genotypes_vcf(
            prefix, samples + ["NA99999"], tmp_path / "z.vcf.gz", tmp_path / "z.acount"
        )


@needs_tools
def test_export_keeps_male_chrx_calls_diploid(tmp_path):
    import pgenlib

    samples = ["HG00001", "HG00002", "HG00003"]
    prefix = tmp_path / "chrX"
    writer = pgenlib.PgenWriter(f"{prefix}.pgen".encode(), 3, 2, False)
    for row in ([2, 1, 0], [0, 2, 2]):
        writer.append_biallelic(np.array(row, dtype=np.int8))
    writer.close()
    (tmp_path / "chrX.pvar").write_text(
        "#CHROM\tPOS\tID\tREF\tALT\nchrX\t5000000\tchrX:5000000:A:G\tA\tG\n"
        "chrX\t6000000\tchrX:6000000:C:T\tC\tT\n"
    )
    (tmp_path / "chrX.psam").write_text("#IID\tSEX\nHG00001\t1\nHG00002\t2\nHG00003\t1\n")
    vcf, counts = tmp_path / "x.vcf.gz", tmp_path / "x.acount"
    inputs.export_genotypes_vcf(prefix, ["HG00003", "HG00001"], vcf, counts)
    with gzip.open(vcf, "rt") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh if not line.startswith("##")]
    assert rows[0][9:] == ["HG00001", "HG00003"]  # psam order, phenotype samples only
    assert rows[1][0] == "chrX" and rows[1][9:] == ["1/1", "0/0"]  # male calls stay diploid
    assert rows[2][9:] == ["0/0", "1/1"]
    assert inputs.read_alt_frequencies(counts).tolist() == [0.5, 0.5]


def test_compare_top_variants():
    a = pd.DataFrame({"phenotype_id": ["G1", "G2", "G3", "G4"],
                      "variant_id": ["v1", "v2", "v3", "v4"],
                      "pval_beta": [1e-10, 1e-3, 0.5, 0.2]})  # fmt: skip
    b = a.assign(variant_id=["v1", "v2", "x", "v4"], pval_beta=[2e-10, 2e-3, 0.4, 0.3]).iloc[::-1]
    everywhere = mapper_comparison.compare_top_variants(a, b)
    assert everywhere["genes"] == 4 and everywhere["same_top_variant"] == 0.75
    assert everywhere["pearson_log10_pval_beta"] > 0.99
    assert mapper_comparison.compare_top_variants(a, b, ["G3"])["same_top_variant"] == 0.0


@needs_tools
def test_map_chromosome_runs_the_rules_in_order(tmp_path):
    samples, genes, geno, ids, prefix, bed_path, cov_path, cov = _synthetic(tmp_path)
    timings = {}
    out = fastqtl_run.map_chromosome(prefix, bed_path, cov_path, "chr22", tmp_path / "work", window=200_000,
                            maf=0.01, seed=1, permute=[100, 1000], n_chunks=2, workers=2,
                            timings=timings)  # fmt: skip
    table = pd.read_csv(out["permutations"], sep="\t")
    assert table["phenotype_id"].tolist() == genes
    assert set(pd.read_parquet(out["nominal"])["phenotype_id"]) == set(genes)
    assert set(timings) == {"prepare", "permutations", "nominal"}
