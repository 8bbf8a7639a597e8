"""tensorQTL-native result files (kgpex.eqtl.native_files) from synthetic eqtl-stage tables.

The expected layouts are spelled out here, not imported, so a change of the module's columns
fails: tensorQTL 1.0.10's map_cis + calculate_qvalues (cis_qtl.txt.gz), map_nominal
(cis_qtl_pairs.{chr}.parquet), post.get_significant_pairs (cis_qtl.signif_pairs.parquet) and
map_independent (cis_independent_qtl.txt.gz), for TSS phenotypes.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from kgpex.common.errors import KgpexError
from kgpex.eqtl import native_files

EGENE_COLUMNS = [
    "phenotype_id", "num_var", "beta_shape1", "beta_shape2", "true_df", "pval_true_df",
    "variant_id", "start_distance", "end_distance", "ma_samples", "ma_count", "af",
    "pval_nominal", "slope", "slope_se", "pval_perm", "pval_beta", "qval",
    "pval_nominal_threshold",
]  # fmt: skip
PAIRS_COLUMNS = [
    "phenotype_id", "variant_id", "start_distance", "af", "ma_samples", "ma_count",
    "pval_nominal", "slope", "slope_se",
]  # fmt: skip
SIGNIF_COLUMNS = PAIRS_COLUMNS + ["pval_nominal_threshold", "min_pval_nominal", "pval_beta"]
INDEPENDENT_COLUMNS = EGENE_COLUMNS[:-2] + ["rank"]
# The eqtl stage's shared layout (kgpex.eqtl.tables): no end_distance anywhere.
SOURCE_CIS_COLUMNS = [c for c in EGENE_COLUMNS if c != "end_distance"]
SOURCE_INDEPENDENT_COLUMNS = [c for c in INDEPENDENT_COLUMNS if c != "end_distance"]
FDR = 0.05
CHROMS = ["chr21", "chr22"]


def _nominal_pairs(rng, chrom: str, genes: list[str], n_per_gene: int) -> pd.DataFrame:
    n = len(genes) * n_per_gene
    pos = rng.integers(1, 1_000_000, n)
    return pd.DataFrame({
        "phenotype_id": np.repeat(genes, n_per_gene),
        "variant_id": [f"{chrom}:{p}:A:G" for p in pos],
        "start_distance": rng.integers(-1_000_000, 1_000_000, n).astype("int32"),
        "af": rng.uniform(0.01, 0.99, n).astype("float32"),
        "ma_samples": rng.integers(1, 80, n).astype("int32"),
        "ma_count": rng.integers(1, 100, n).astype("int32"),
        "pval_nominal": 10.0 ** -rng.uniform(0, 12, n),
        "slope": rng.normal(0, 1, n).astype("float32"),
        "slope_se": rng.uniform(0.05, 0.5, n).astype("float32"),
    })  # fmt: skip


def _cis_row(gene: str, pairs: pd.DataFrame, qval: float, threshold: float) -> dict:
    top = pairs.loc[pairs["pval_nominal"].idxmin()]
    return {
        "phenotype_id": gene, "num_var": len(pairs), "beta_shape1": 1.02, "beta_shape2": 300.5,
        "true_df": 83.7, "pval_true_df": top["pval_nominal"] * 0.9,
        "variant_id": top["variant_id"], "start_distance": int(top["start_distance"]),
        "ma_samples": int(top["ma_samples"]), "ma_count": int(top["ma_count"]),
        "af": float(top["af"]), "pval_nominal": top["pval_nominal"], "slope": float(top["slope"]),
        "slope_se": float(top["slope_se"]), "pval_perm": 1e-4, "pval_beta": qval / 2,
        "qval": qval, "pval_nominal_threshold": threshold,
    }  # fmt: skip


@pytest.fixture
def sources(tmp_path):
    """cis_genes.tsv.gz, nominal/{chrom}.parquet and independent/{chrom}.tsv.gz as the eqtl
    stage writes them: eGenes and non-eGenes on both chromosomes, a gene without a q-value, a
    pair exactly at its gene's threshold, and a chromosome without independent eQTLs."""
    rng = np.random.default_rng(7)
    genes = {c: [f"ENSG{c[-2:]}{i:05d}.1" for i in range(6)] for c in CHROMS}
    nominal, rows = [], []
    (tmp_path / "nominal").mkdir()
    for chrom in CHROMS:
        pairs = _nominal_pairs(rng, chrom, genes[chrom], 40)
        for k, gene in enumerate(genes[chrom]):
            gene_pairs = pairs[pairs["phenotype_id"] == gene]
            # Genes 0-2 are eGenes, 3-4 are not; gene 5 has no q-value (no pval_beta).
            qval = [1e-6, 0.01, 0.049, 0.2, 0.9, np.nan][k]
            threshold = float(np.quantile(gene_pairs["pval_nominal"], 0.3))
            rows.append(_cis_row(gene, gene_pairs, qval, np.nan if k == 5 else threshold))
        # A pair exactly at its gene's threshold: tensorQTL's test is strict, so it is out.
        pairs.loc[1, "pval_nominal"] = rows[-6]["pval_nominal_threshold"]
        path = tmp_path / "nominal" / f"{chrom}.parquet"
        pairs.to_parquet(path)
        nominal.append(path)
    cis = pd.DataFrame(rows)[SOURCE_CIS_COLUMNS]
    cis.loc[cis["qval"].isna(), "pval_beta"] = np.nan
    cis_path = tmp_path / "cis_genes.tsv.gz"
    cis.to_csv(cis_path, sep="\t", index=False, na_rep="NA")
    (tmp_path / "independent").mkdir()
    independent = []
    for chrom in CHROMS:
        signals = cis[cis["phenotype_id"].isin(genes[chrom][:3])] if chrom == "chr21" else cis[:0]
        signals = pd.concat([signals.assign(rank=1), signals[:1].assign(rank=2)])
        path = tmp_path / "independent" / f"{chrom}.tsv.gz"
        signals[SOURCE_INDEPENDENT_COLUMNS].to_csv(path, sep="\t", index=False, na_rep="NA")
        independent.append(path)
    return {"cis_genes": cis_path, "nominal": nominal, "independent": independent,
            "cis": cis, "out": tmp_path / "native"}  # fmt: skip


def _outputs(out, prefix="DEMO.v0.1"):
    names = native_files.native_names(prefix, CHROMS)
    return {k: [out / n for n in v] if isinstance(v, list) else out / v for k, v in names.items()}


def _write_all(sources, **kwargs):
    outputs = _outputs(sources["out"])
    native_files.write_native_files(sources["cis_genes"], sources["nominal"],
                                    sources["independent"], FDR, outputs, **kwargs)
    return outputs


def test_file_names_are_tensorqtls():
    names = native_files.native_names("MAGE.v1.0", ["chr1", "chrX"])
    assert names == {
        "egenes": "MAGE.v1.0.cis_qtl.txt.gz",
        "pairs": ["MAGE.v1.0.cis_qtl_pairs.chr1.parquet", "MAGE.v1.0.cis_qtl_pairs.chrX.parquet"],
        "signif_pairs": "MAGE.v1.0.cis_qtl.signif_pairs.parquet",
        "independent": "MAGE.v1.0.cis_independent_qtl.txt.gz",
    }


def test_egene_table_has_tensorqtls_columns_and_all_genes(sources):
    outputs = _write_all(sources)
    with gzip.open(outputs["egenes"], "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        no_qvalue = [line for line in fh if line.startswith("ENSG2100005.1\t")]
    assert header == EGENE_COLUMNS
    # pandas' to_csv in tensorQTL writes a missing value as an empty field.
    assert no_qvalue[0].rstrip("\n").endswith("\t\t\t")
    got = pd.read_csv(outputs["egenes"], sep="\t", float_precision="round_trip")
    # TSS phenotypes: tensorQTL's end_distance is the start_distance.
    assert (got["end_distance"] == got["start_distance"]).all()
    pd.testing.assert_frame_equal(got.drop(columns="end_distance"), sources["cis"])


def test_pairs_are_the_nominal_pass_per_chromosome(sources):
    outputs = _write_all(sources)
    for source, dest in zip(sources["nominal"], outputs["pairs"]):
        assert pq.read_schema(dest).names == PAIRS_COLUMNS
        pd.testing.assert_frame_equal(pd.read_parquet(dest), pd.read_parquet(source))
        assert dest.read_bytes() == source.read_bytes()  # already tensorQTL's layout: a copy


def test_pairs_in_another_column_order_are_rewritten_in_tensorqtls(sources, tmp_path):
    source = sources["nominal"][0]
    shuffled = pd.read_parquet(source)
    shuffled = shuffled[list(reversed(PAIRS_COLUMNS))].assign(extra=1)
    shuffled.to_parquet(tmp_path / "chr21.parquet")
    dest = tmp_path / "out" / "X.cis_qtl_pairs.chr21.parquet"
    native_files.write_pairs(tmp_path / "chr21.parquet", dest)
    assert pq.read_schema(dest).names == PAIRS_COLUMNS
    pd.testing.assert_frame_equal(pd.read_parquet(dest), pd.read_parquet(source))


def _brute_force_significant(sources) -> pd.DataFrame:
    """Pair by pair: an eGene's pair below the gene's threshold, the gene's columns appended."""
    genes = sources["cis"].set_index("phenotype_id")
    rows = []
    for path in sources["nominal"]:
        for pair in pd.read_parquet(path).to_dict("records"):
            gene = genes.loc[pair["phenotype_id"]]
            if gene["qval"] <= FDR and pair["pval_nominal"] < gene["pval_nominal_threshold"]:
                rows.append({**pair, "pval_nominal_threshold": gene["pval_nominal_threshold"],
                             "min_pval_nominal": gene["pval_nominal"],
                             "pval_beta": gene["pval_beta"]})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("read_rows", [7, 1_000_000])
def test_significant_pairs_equal_a_brute_force_filter(sources, monkeypatch, read_rows):
    # A few rows at a time as well: batches split genes and chromosomes.
    monkeypatch.setattr(native_files, "_READ_ROWS", read_rows)
    outputs = _write_all(sources)
    got = pd.read_parquet(outputs["signif_pairs"])
    expected = _brute_force_significant(sources)
    assert list(got.columns) == SIGNIF_COLUMNS
    assert 0 < len(got) < sum(len(pd.read_parquet(p)) for p in sources["nominal"])
    assert set(got["phenotype_id"].str[4:6]) == {"21", "22"}
    pd.testing.assert_frame_equal(got, expected.astype(got.dtypes.to_dict()))
    # tensorQTL's pair types (int32, float32) are kept.
    assert got["start_distance"].dtype == "int32" and got["slope"].dtype == "float32"


def test_no_egene_gives_an_empty_significant_pairs_file_with_columns(sources):
    egenes = native_files.write_egenes(sources["cis_genes"], sources["out"] / "e.txt.gz")
    dest = sources["out"] / "signif.parquet"
    assert native_files.write_significant_pairs(egenes, sources["nominal"], 1e-9, dest) == 0
    got = pd.read_parquet(dest)
    assert list(got.columns) == SIGNIF_COLUMNS and len(got) == 0


def test_independent_table_is_all_chromosomes_in_tensorqtls_layout(sources):
    outputs = _write_all(sources)
    got = pd.read_csv(outputs["independent"], sep="\t", float_precision="round_trip")
    assert list(got.columns) == INDEPENDENT_COLUMNS
    chr21, chr22 = (pd.read_csv(p, sep="\t", float_precision="round_trip")
                    for p in sources["independent"])
    assert len(chr21) == 4 and len(chr22) == 0  # chr22 has no eGene: a header only
    expected = chr21
    pd.testing.assert_frame_equal(got.drop(columns="end_distance"), expected)
    assert got["rank"].tolist() == [1, 1, 1, 2]


def _drop_column(path, column):
    if str(path).endswith(".parquet"):
        pd.read_parquet(path).drop(columns=column).to_parquet(path)
    else:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        df.drop(columns=column).to_csv(path, sep="\t", index=False)


@pytest.mark.parametrize(
    "source, column",
    [("cis_genes", "qval"), ("cis_genes", "af"), ("nominal", "slope_se"),
     ("independent", "rank")],
)  # fmt: skip
def test_a_missing_column_is_one_line_naming_file_and_column(sources, source, column):
    path = sources[source][-1] if isinstance(sources[source], list) else sources[source]
    _drop_column(path, column)
    with pytest.raises(KgpexError) as err:
        _write_all(sources)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message and f"'{column}'" in message
    # Inputs are checked before any output is written.
    assert not sources["out"].exists()


def test_a_non_number_is_one_line_naming_the_row(sources):
    df = pd.read_csv(sources["cis_genes"], sep="\t", dtype=str, keep_default_na=False)
    df.loc[3, "pval_beta"] = "0.0x1"
    df.to_csv(sources["cis_genes"], sep="\t", index=False)
    with pytest.raises(KgpexError, match=r"cis_genes.tsv.gz line 5: field 'pval_beta'"):
        _write_all(sources)


def test_a_gene_in_two_independent_tables_is_an_error(sources):
    first = pd.read_csv(sources["independent"][0], sep="\t")
    first.to_csv(sources["independent"][1], sep="\t", index=False)
    with pytest.raises(KgpexError, match="gene 'ENSG2100000.1' is also in"):
        _write_all(sources)


def test_pairs_outputs_must_match_the_nominal_chromosomes(sources):
    outputs = _outputs(sources["out"])
    outputs["pairs"] = list(reversed(outputs["pairs"]))
    with pytest.raises(KgpexError, match=r"must end with \.cis_qtl_pairs\.chr21\.parquet"):
        native_files.write_native_files(sources["cis_genes"], sources["nominal"],
                                        sources["independent"], FDR, outputs)
