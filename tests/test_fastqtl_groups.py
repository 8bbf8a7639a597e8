"""kgpex.fastqtl: the grouped permutation pass (FastQTL --grp), as MAGE mapped sQTLs.

LeafCutter introns grouped by gene, every intron of a gene at the gene's TSS: one result per
gene, its best intron. The real-FastQTL tests use a tiny chromosome: 3 genes (3, 2 and 2
introns), one planted intron-variant association per gene.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from kgpex.common.errors import KgpexError
from kgpex.common.io import write_bgzip_indexed
from kgpex.eqtl import inputs as eqtl_inputs
from kgpex.eqtl import tables
from kgpex.fastqtl import inputs, merge
from kgpex.fastqtl import run as fastqtl_run

needs_tools = pytest.mark.skipif(
    shutil.which("fastQTL") is None or shutil.which("plink2") is None,
    reason="fastQTL and plink2 (Debian packages fastqtl, plink2) are not installed",
)

WINDOW = 10_000
# gene -> (TSS, introns, planted intron, planted variant position)
GENES = {"GA": (20_000, 3, 2, 21_000), "GB": (50_000, 2, 0, 47_000), "GC": (80_000, 2, 1, 80_000)}
SETTINGS = {"window": WINDOW, "maf": 0.01, "seed": 11, "permute": [100, 1000]}


def _write_groups(path, pairs):
    path.write_text("".join(f"{p}\t{g}\n" for p, g in pairs))
    return path


def _write_bed(path, rows, samples):
    bed = pd.DataFrame([r[4] for r in rows], columns=samples)
    bed.insert(0, "ID", [r[3] for r in rows])
    bed.insert(0, "end", [r[2] for r in rows])
    bed.insert(0, "start", [r[1] for r in rows])
    bed.insert(0, "#Chr", [r[0] for r in rows])
    write_bgzip_indexed(bed, path, 0, 1, 2, zerobased=True, header_prefix="#")
    return path


@pytest.fixture(scope="module")
def chrom(tmp_path_factory):
    """pgen + exported VCF, intron BED (introns at their gene's TSS), groups, covariates."""
    import pgenlib

    tmp = tmp_path_factory.mktemp("grp")
    rng = np.random.default_rng(7)
    n = 80
    samples = [f"HG{i:05d}" for i in range(n)]
    pos = np.arange(5_000, 96_000, 1_000)
    geno = rng.binomial(2, rng.uniform(0.1, 0.5, len(pos))[:, None], size=(len(pos), n))
    geno = geno.astype(np.int8)
    prefix = tmp / "chr1"
    writer = pgenlib.PgenWriter(f"{prefix}.pgen".encode(), n, len(pos), False)
    for row in geno:
        writer.append_biallelic(np.ascontiguousarray(row))
    writer.close()
    ids = [f"chr1:{p}:A:G" for p in pos]
    (tmp / "chr1.pvar").write_text(
        "#CHROM\tPOS\tID\tREF\tALT\n" + "".join(f"chr1\t{p}\t{i}\tA\tG\n" for p, i in zip(pos, ids))
    )
    (tmp / "chr1.psam").write_text("#IID\n" + "".join(f"{s}\n" for s in samples))
    rows, pairs, planted = [], [], {}
    for gene, (tss, k, best, at) in GENES.items():
        for j in range(k):
            y = rng.normal(size=n)
            pid = f"{gene}_intron{j}"
            if j == best:
                g = geno[list(pos).index(at)].astype(float)
                y += 0.6 * (g - g.mean()) / g.std()
                planted[gene] = (pid, f"chr1:{at}:A:G")
            rows.append(("chr1", tss - 1, tss, pid, y))
            pairs.append((pid, gene))
    bed = _write_bed(tmp / "introns.bed.gz", rows, samples)
    groups = _write_groups(tmp / "groups.txt", pairs)
    cov = pd.DataFrame(rng.normal(size=(2, n)), columns=samples, index=["PC1", "PC2"])
    cov_path = tmp / "cov.txt"
    cov.rename_axis("id").reset_index().to_csv(cov_path, sep="\t", index=False)
    vcf, counts = tmp / "chr1.vcf.gz", tmp / "chr1.acount"
    if shutil.which("plink2"):
        inputs.export_genotypes_vcf(prefix, samples, vcf, counts)
    return {"tmp": tmp, "prefix": prefix, "bed": bed, "groups": groups, "cov": cov_path,
            "cov_frame": cov, "vcf": vcf, "counts": counts, "planted": planted, "geno": geno,
            "ids": ids, "samples": samples, "rows": rows}  # fmt: skip


def _run(chrom, tmp, n_chunks, tag):
    out = []
    for k in range(1, n_chunks + 1):
        out.append(tmp / f"{tag}{k}.txt.gz")
        fastqtl_run.run_chunk("permutations", chrom["vcf"], chrom["bed"], chrom["cov"], out[-1],
                              tmp / f"{tag}{k}.log", chunk=k, n_chunks=n_chunks,
                              groups=chrom["groups"], **SETTINGS)  # fmt: skip
    return out


def _lines(path):
    with gzip.open(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if line.strip()]


# --- command --------------------------------------------------------------------------------


def test_grouped_command_and_nominal_refusal():
    args = {"window": 1, "maf": 0.01, "seed": 1, "chunk": 1, "n_chunks": 2}
    cmd = fastqtl_run.fastqtl_command("g", "p", "o", "l", permute=[1000, 10000], groups="grp.txt",
                                      **args)  # fmt: skip
    assert cmd[cmd.index("--grp") + 1] == "grp.txt"
    assert "--grp" not in fastqtl_run.fastqtl_command("g", "p", "o", "l", permute=[1, 2], **args)
    with pytest.raises(KgpexError, match="nominal pass is ungrouped"):
        fastqtl_run.fastqtl_command("g", "p", "o", "l", groups="grp.txt", **args)


def test_run_chunk_refuses_a_grouped_nominal_pass(tmp_path):
    with pytest.raises(KgpexError, match="permutation pass only"):
        fastqtl_run.run_chunk("nominal", "g.vcf.gz", "p.bed.gz", None, tmp_path / "o.txt.gz",
                              tmp_path / "o.log", chunk=1, n_chunks=1, window=1, maf=0.0, seed=1,
                              groups="grp.txt")  # fmt: skip


@pytest.mark.parametrize(
    ("phenotypes", "groups", "chunks", "used"),
    [(7, 3, 3, 3), (7, 3, 5, 3), (9, 5, 4, 3), (10, 4, 4, 4), (7, 7, 6, 4), (5, 2, 1, 1)],
)
def test_grouped_chunks(phenotypes, groups, chunks, used):
    assert fastqtl_run.grouped_chunks(phenotypes, groups, chunks) == used


# --- groups file and BED checks ----------------------------------------------------------------


def test_groups_must_cover_the_bed_and_be_consecutive(tmp_path):
    groups = eqtl_inputs.read_phenotype_groups(
        _write_groups(tmp_path / "g.txt", [("a1", "A"), ("a2", "A"), ("b1", "B")])
    )
    assert merge.group_sizes(groups, ["a1", "a2", "b1"], "x") == {"A": 2, "B": 1}
    with pytest.raises(KgpexError, match="group A are not consecutive"):
        merge.group_sizes(groups, ["a1", "b1", "a2"], "x")
    with pytest.raises(KgpexError, match="phenotype c1 has no group"):
        merge.group_sizes(groups, ["a1", "a2", "b1", "c1"], "x")
    (tmp_path / "bad.txt").write_text("a1\tA\na1\tB\n")
    with pytest.raises(KgpexError, match="phenotype a1 is in more than one group"):
        eqtl_inputs.read_phenotype_groups(tmp_path / "bad.txt")


def test_group_phenotypes_must_share_coordinates(tmp_path):
    samples = ["S1", "S2", "S3"]
    y = [0.1, 0.2, 0.3]
    rows = [("chr1", 99, 100, "a1", y), ("chr1", 99, 100, "a2", y), ("chr1", 199, 200, "b1", y)]
    pairs = [("a1", "A"), ("a2", "A"), ("b1", "B")]
    bed = _write_bed(tmp_path / "ok.bed.gz", rows, samples)
    sizes = fastqtl_run.check_groups(bed, _write_groups(tmp_path / "g.txt", pairs))
    assert sizes == {"A": 2, "B": 1}
    rows[1] = ("chr1", 149, 150, "a2", y)  # an intron off its gene's TSS
    bed = _write_bed(tmp_path / "off.bed.gz", rows, samples)
    with pytest.raises(KgpexError, match="group A have different coordinates"):
        fastqtl_run.check_groups(bed, tmp_path / "g.txt")


# --- merge of hand-written grouped output ------------------------------------------------------

ROW = ("{pid}\t40\t0.9\t70.3\t35.6\t0.0142\tchr1:44000:A:G\t-6000\t16\t18\t0.225\t-1\t0.0137\t"
       "0.65\t0.25\t0.70\t0.68\t{grp}\t{size}")  # fmt: skip


def _gz(path, lines):
    with gzip.open(path, "wt") as fh:
        fh.write("".join(line + "\n" for line in lines))
    return path


def test_grouped_merge_columns_and_checks(tmp_path):
    groups = pd.Series({"a1": "A", "a2": "A", "b1": "B", "c1": "C"})
    ids = ["a1", "a2", "b1", "c1"]
    na_row = "\t".join(["NA", "0"] + ["NA"] * 17)  # a group without a cis variant
    one = _gz(tmp_path / "1.txt.gz", [ROW.format(pid="b1", grp="B", size=1)])
    two = _gz(tmp_path / "2.txt.gz", [ROW.format(pid="a2", grp="A", size=2), na_row,
                                      ROW.format(pid="b1", grp="B", size=1).replace("0.70", "0.9")])
    table = merge.permutations_to_table([one, two], ids, "chr1", groups=groups)
    assert list(table.columns) == tables.GROUPED_CIS_COLUMNS
    assert table["group_id"].tolist() == ["A", "B"]  # BED order; C untested
    assert table["phenotype_id"].tolist() == ["a2", "b1"] and table["group_size"].tolist() == [2, 1]
    assert table.loc[1, "pval_perm"] == pytest.approx(0.70)  # first chunk kept
    assert table.loc[0, "af"] == pytest.approx(0.775)  # ref_factor -1
    dest = tmp_path / "chr1.tsv.gz"
    merge.write_permutation_table(table, dest)
    back = tables.read_cis_table(dest, tables.GROUPED_CIS_COLUMNS)
    assert back["group_id"].tolist() == ["A", "B"] and back["group_size"].dtype == "int64"

    partial = _gz(tmp_path / "p.txt.gz", [ROW.format(pid="a2", grp="A", size=1)])
    with pytest.raises(KgpexError, match="tested 1 of the 2 phenotypes of group A"):
        merge.permutations_to_table([partial, one], ids, "chr1", groups=groups)
    with pytest.raises(KgpexError, match="no FastQTL result for group A"):
        merge.permutations_to_table([one], ids, "chr1", groups=groups)
    mislabel = _gz(tmp_path / "m.txt.gz", [ROW.format(pid="a2", grp="B", size=1)])
    with pytest.raises(KgpexError, match="phenotype a2 in group B"):
        merge.permutations_to_table([mislabel], ids, "chr1", groups=groups)
    with pytest.raises(KgpexError, match="pass the phenotype groups"):
        merge.permutations_to_table([two], ids, "chr1")
    v7_line = "a2 31 0.9 119.3 41.1 chr1:20000:A:G 0 2.6e-06 0.001 0.0002 A 2"
    v7 = _gz(tmp_path / "v7.txt.gz", [v7_line])
    with pytest.raises(KgpexError, match="2.184\\+v7's grouped output"):
        merge.permutations_to_table([v7], ids, "chr1", groups=groups)
    fields = ROW.format(pid="a2", grp="", size="").split("\t")[:17]
    ungrouped = _gz(tmp_path / "u.txt.gz", ["\t".join(fields)])
    with pytest.raises(KgpexError, match="without groups, but groups were given"):
        merge.permutations_to_table([ungrouped], ids, "chr1", groups=groups)


# --- real FastQTL --------------------------------------------------------------------------------


@needs_tools
def test_grouped_permutation_pass_finds_the_planted_introns(chrom, tmp_path):
    (chunk,) = _run(chrom, tmp_path, 1, "one")
    raw = _lines(chunk)
    assert all(len(r) == len(merge.FASTQTL_GROUP_PERMUTATION_COLUMNS) for r in raw)
    ids = inputs.bed_phenotype_ids(chrom["bed"])
    groups = eqtl_inputs.read_phenotype_groups(chrom["groups"])
    table = merge.permutations_to_table([chunk], ids, "chr1", groups=groups)
    assert list(table.columns) == tables.GROUPED_CIS_COLUMNS
    assert table["group_id"].tolist() == ["GA", "GB", "GC"]  # one row per gene
    assert table["group_size"].tolist() == [3, 2, 2]
    top = table.set_index("group_id")
    for gene, (intron, variant) in chrom["planted"].items():
        assert top.loc[gene, "phenotype_id"] == intron
        assert top.loc[gene, "variant_id"] == variant
        assert top.loc[gene, "pval_beta"] < 0.01
    assert (top["start_distance"].to_numpy() == [1000, -3000, 0]).all()

    # The completed fields: af from the genotypes, slope from an OLS fit with the covariates.
    from scipy import stats

    samples, ids_v, geno = chrom["samples"], chrom["ids"], chrom["geno"]
    bed = pd.read_csv(chrom["bed"], sep="\t").set_index("ID")
    cov = chrom["cov_frame"]
    for gene in top.index:
        g = geno[ids_v.index(top.loc[gene, "variant_id"])].astype(float)
        assert top.loc[gene, "af"] == pytest.approx(g.mean() / 2, abs=1e-4)
        y = bed.loc[top.loc[gene, "phenotype_id"], samples].to_numpy(float)
        x = np.column_stack([np.ones(len(samples)), cov[samples].T.to_numpy(), g])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        assert top.loc[gene, "slope"] == pytest.approx(coef[-1], rel=1e-3)
        # pval_nominal and pval_true_df: the OLS t statistic's correlation at n - 2 - 2
        # covariates degrees of freedom and at the group's true_df.
        df = len(samples) - x.shape[1]
        resid = y - x @ coef
        se = np.sqrt(resid @ resid / df * np.linalg.inv(x.T @ x)[-1, -1])
        r2 = (coef[-1] / se) ** 2 / ((coef[-1] / se) ** 2 + df)
        true_df = top.loc[gene, "true_df"]
        assert top.loc[gene, "pval_nominal"] == pytest.approx(
            stats.f.sf(df * r2 / (1 - r2), 1, df), rel=1e-3
        )
        assert top.loc[gene, "pval_true_df"] == pytest.approx(
            stats.f.sf(true_df * r2 / (1 - r2), 1, true_df), rel=1e-3
        )


@needs_tools
def test_grouped_chunks_keep_a_straddling_group_whole(chrom, tmp_path):
    # 7 introns in 3 chunks: FastQTL 2.184+v7 cuts them 3 / 3 / 1, through gene GC; each chunk
    # reads the BED lines within its coordinates, so GC is tested whole in chunks 2 and 3.
    chunks = _run(chrom, tmp_path, 3, "c")
    raw = [_lines(c) for c in chunks]
    in_chunk = [{r[17]: int(r[18]) for r in rows} for rows in raw]
    assert in_chunk == [{"GA": 3}, {"GB": 2, "GC": 2}, {"GC": 2}]
    ids = inputs.bed_phenotype_ids(chrom["bed"])
    groups = eqtl_inputs.read_phenotype_groups(chrom["groups"])
    table = merge.permutations_to_table(chunks, ids, "chr1", groups=groups)
    assert table["group_id"].tolist() == ["GA", "GB", "GC"]
    (single,) = _run(chrom, tmp_path, 1, "s")
    whole = merge.permutations_to_table([single], ids, "chr1", groups=groups)
    same = ["phenotype_id", "variant_id", "pval_nominal", "slope", "group_size"]
    pd.testing.assert_frame_equal(table[same], whole[same])
    # More chunks than groups: at most one chunk per group; the rest are empty files.
    many = _run(chrom, tmp_path, 5, "m")
    assert [len(_lines(c)) for c in many[3:]] == [0, 0]
    table = merge.permutations_to_table(many, ids, "chr1", groups=groups)
    assert table["group_id"].tolist() == ["GA", "GB", "GC"]


@needs_tools
def test_singleton_groups_in_more_chunks_than_fastqtl_makes(chrom, tmp_path):
    # 7 one-intron groups in 6 chunks: FastQTL 2.184+v7 would make 4 (runs of 2) and crash on
    # --chunk 5 6; kgpex runs 4 and writes chunks 5 and 6 empty.
    ids = inputs.bed_phenotype_ids(chrom["bed"])
    singles = _write_groups(tmp_path / "singles.txt", [(p, p) for p in ids])
    chunks = _run(dict(chrom, groups=singles), tmp_path, 6, "x")
    assert [len(_lines(c)) for c in chunks[4:]] == [0, 0]
    table = merge.permutations_to_table(chunks, ids, "chr1",
                                        groups=eqtl_inputs.read_phenotype_groups(singles))  # fmt: skip
    assert table["group_id"].tolist() == ids and (table["group_size"] == 1).all()


@needs_tools
def test_map_chromosome_groups_permutations_not_nominal(chrom, tmp_path):
    out = fastqtl_run.map_chromosome(chrom["prefix"], chrom["bed"], chrom["cov"], "chr1",
                                     tmp_path / "work", window=WINDOW, maf=0.01, seed=3,
                                     permute=[100, 1000], n_chunks=2, workers=2,
                                     groups=chrom["groups"])  # fmt: skip
    perm = tables.read_cis_table(out["permutations"], tables.GROUPED_CIS_COLUMNS)
    assert perm["group_id"].tolist() == ["GA", "GB", "GC"]
    assert perm["phenotype_id"].tolist() == [p for p, _ in chrom["planted"].values()]
    nominal = pd.read_parquet(out["nominal"])
    assert set(nominal["phenotype_id"]) == set(inputs.bed_phenotype_ids(chrom["bed"]))
