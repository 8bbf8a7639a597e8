"""End-to-end: the expression outputs of the demo cohort (quantify + expression stages)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pysam
import pytest
from conftest import ROOT
from scipy import stats

pytestmark = pytest.mark.e2e

TAG = "DEMO.v0.1"
DEMO = ROOT / "resources" / "demo"
EXPRESSION_CHROMS = {f"chr{i}" for i in range(1, 23)} | {"chrX"}
MATRICES = [
    "inverse_normal_TMM.filtered.TSS",
    "TMM.filtered.TSS",
    "raw_pseudocounts.filtered.TSS",
]


def _quants(results):
    return results / "QTL_results" / "eQTL_results" / "expression_quants"


def _matrix(results, name) -> pd.DataFrame:
    return pd.read_csv(_quants(results) / f"{name}.{TAG}.bed.gz", sep="\t", index_col=3)


def _swapped_labels() -> set[str]:
    """The labelled individuals of the demo's planted swap: their only runs carry another
    individual's reads, and the demo's identity.on_mismatch: exclude leaves them out."""
    swaps = pd.read_csv(DEMO / "generated" / "truth_swaps.tsv", sep="\t", dtype=str)
    return set(swaps["labelled_individual"])


@pytest.fixture(scope="module")
def individuals():
    """The sheet's individuals with a library kept: all but the planted swap's two."""
    sheet = pd.read_csv(DEMO / "individuals.tsv", sep="\t", dtype=str)["individual"]
    excluded = _swapped_labels()
    assert len(excluded) == 2 and excluded <= set(sheet)
    return sorted(set(sheet) - excluded)


@pytest.mark.parametrize("name", MATRICES)
def test_matrix_samples_are_the_individuals(demo_run, individuals, name):
    bed = _matrix(demo_run, name)
    assert list(bed.columns[:3]) == ["#Chr", "start", "end"]
    assert list(bed.columns[3:]) == individuals  # the sheet's individuals, sorted
    assert set(bed["#Chr"]) <= EXPRESSION_CHROMS  # chrM genes of the demo are dropped
    assert (bed["end"] - bed["start"] == 1).all()
    assert not bed.iloc[:, 3:].isna().any().any()


def test_matrices_share_genes_and_follow_the_annotation(demo_run):
    beds = {name: _matrix(demo_run, name) for name in MATRICES}
    ids = list(beds[MATRICES[0]].index)
    for bed in beds.values():
        assert list(bed.index) == ids
    genes = pd.read_csv(demo_run / "reference" / "genes.tsv", sep="\t", index_col="gene_id")
    bed = beds[MATRICES[0]]
    np.testing.assert_array_equal(bed["end"], genes.loc[ids, "tss"])
    # Sorted by chromosome, then TSS.
    order = bed.assign(rank=bed["#Chr"].map(lambda c: 23 if c == "chrX" else int(c[3:])))
    assert order.sort_values(["rank", "start"], kind="stable").index.tolist() == ids

    filtered = pd.read_csv(
        demo_run / "QTL_results" / "eQTL_results" / f"expression_filteredGenes.{TAG}.txt.gz", sep="\t"
    )
    assert list(filtered.columns) == ["chrom", "start", "end", "ensemblID", "geneSymbol", "geneType"]
    assert set(filtered["ensemblID"]) == set(ids)
    body = genes.loc[filtered["ensemblID"]]
    np.testing.assert_array_equal(filtered["start"], body["start"] - 1)
    np.testing.assert_array_equal(filtered["end"], body["end"])


def test_inverse_normal_is_a_rank_transform_of_tmm(demo_run):
    int_df = _matrix(demo_run, MATRICES[0]).iloc[:, 3:]
    tmm = _matrix(demo_run, MATRICES[1]).iloc[:, 3:]
    n = int_df.shape[1]
    expected = stats.norm.ppf(stats.rankdata(tmm.to_numpy(), axis=1) / (n + 1))
    np.testing.assert_allclose(int_df.to_numpy(), expected, atol=1e-12)
    # Per-gene mean about 0: exactly 0 without ties; ties (zeros) shift it a little.
    untied = tmm.nunique(axis=1) == n
    assert untied.sum() > 0
    np.testing.assert_allclose(int_df[untied].mean(axis=1), 0, atol=1e-9)
    assert (int_df.mean(axis=1).abs() < 0.5).all()


def test_raw_pseudocounts_are_the_chosen_libraries_gene_counts(demo_run):
    raw = _matrix(demo_run, MATRICES[2]).iloc[:, 3:]
    counts = pd.read_parquet(_quants(demo_run) / f"gene_counts.allLibraries.{TAG}.parquet")
    choice = pd.read_csv(demo_run / "expression" / "library_choice.tsv", sep="\t")
    runs = pd.read_csv(DEMO / "runs.tsv", sep="\t", dtype=str)
    # The demo's libraries are one run each, named by it: every run is a column.
    assert sorted(counts.columns) == sorted(runs["run_accession"])  # all libraries
    chosen = counts.loc[raw.index, choice.set_index("individual").loc[raw.columns, "library"]]
    np.testing.assert_allclose(raw.to_numpy(), chosen.to_numpy(), rtol=1e-12)


def test_library_choice_keeps_the_deepest_library(demo_run, individuals):
    choice = pd.read_csv(demo_run / "expression" / "library_choice.tsv", sep="\t", dtype={"library": str})
    types = pd.read_csv(demo_run / "expression" / "library_types.tsv", sep="\t", dtype={"library": str})
    runs = pd.read_csv(DEMO / "runs.tsv", sep="\t", dtype=str)
    assert list(choice["individual"]) == individuals
    depth = types.set_index("library")["num_processed"]
    for row in choice.itertuples():
        considered = runs.loc[runs["individual"] == row.individual, "run_accession"]
        assert row.n_libraries == len(considered)
        assert row.num_processed == depth[considered].max() == depth[row.library]
    assert (choice["n_libraries"] > 1).any()  # the demo has replicates


def test_run_status_accounts_for_every_run_of_the_run_table(demo_run):
    """Every run of the run table has one final status; the replicates most_reads left out are
    exactly the libraries library_choice.tsv did not keep."""
    table = pd.read_csv(DEMO / "generated" / "ena_filereport.tsv", sep="\t", dtype=str)
    mapping = pd.read_csv(demo_run / "samples" / "run_mapping.tsv", sep="\t", dtype=str)
    status = pd.read_csv(demo_run / "expression" / "run_status.tsv", sep="\t", dtype=str)
    choice = pd.read_csv(demo_run / "expression" / "library_choice.tsv", sep="\t", dtype=str)
    assert sorted(mapping["run_accession"]) == sorted(table["run_accession"])
    assert sorted(status["run_accession"]) == sorted(table["run_accession"])
    assert set(mapping["status"]) <= {"used", "pooled", "replicate", "excluded"}
    assert set(status["status"]) <= {"used", "pooled", "replicate not chosen", "excluded"}
    kept = status[status["status"].isin(["used", "pooled"])]
    assert sorted(set(kept["library"])) == sorted(choice["library"])
    not_chosen = status[status["status"] == "replicate not chosen"]
    # One run per demo library: every run is kept, a replicate not chosen, or excluded by the
    # identity check (the planted swap's two).
    by_identity = status[status["detail"].str.startswith("identity check: ", na=False)]
    assert len(by_identity) == 2 and set(by_identity["status"]) == {"excluded"}
    assert len(not_chosen) + len(by_identity) == len(table) - len(choice)
    assert not set(not_chosen["library"]) & set(choice["library"])


def test_highly_expressed_planted_egenes_pass_the_filter(demo_run):
    truth = pd.read_csv(DEMO / "generated" / "truth_eqtls.tsv", sep="\t")
    types = pd.read_csv(demo_run / "expression" / "library_types.tsv", sep="\t")
    kept = set(_matrix(demo_run, MATRICES[0]).index)
    depth = types["num_processed"].median()
    # Expected fragments far above the 6-count threshold (10x) and TPM far above 0.1.
    strong = truth[
        (truth["n_causal"] > 0)
        & (truth["mean_tpm"] * depth / 1e6 >= 60)
        & (truth["mean_tpm"] >= 1)
        & truth["chrom"].isin(EXPRESSION_CHROMS)
    ]
    assert len(strong) >= 10
    missing = sorted(set(strong["gene_id"]) - kept)
    assert not missing, f"planted eGenes filtered out: {missing}"


@pytest.mark.parametrize("name", MATRICES + ["expression_filteredGenes"])
def test_tabix_indexes_answer_region_queries(demo_run, name):
    if name == "expression_filteredGenes":
        path = demo_run / "QTL_results" / "eQTL_results" / f"{name}.{TAG}.txt.gz"
    else:
        path = _quants(demo_run) / f"{name}.{TAG}.bed.gz"
    table = pd.read_csv(path, sep="\t")
    chrom_col, id_col = table.columns[0], table.columns[3]
    with pysam.TabixFile(str(path)) as tbx:
        assert set(tbx.contigs) == set(table[chrom_col])
        for _, row in table.sample(n=min(5, len(table)), random_state=1).iterrows():
            hits = [r.split("\t")[3] for r in tbx.fetch(row[chrom_col], row["start"], row["end"])]
            assert row[id_col] in hits
        chrom = table[chrom_col].iloc[0]
        on_chrom = table[table[chrom_col] == chrom]
        assert len(list(tbx.fetch(chrom))) == len(on_chrom)


def test_library_qc_plot_exists(demo_run):
    png = demo_run / "expression" / "library_qc.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tmm_matrix_matches_mages_r_steps(demo_run):
    """MAGE's normalize_and_filter.R, run in R on the same gene matrices, gives the same matrix."""
    ro = pytest.importorskip("rpy2.robjects")
    from rpy2.robjects import numpy2ri

    quants = _quants(demo_run)
    choice = pd.read_csv(demo_run / "expression" / "library_choice.tsv", sep="\t")
    runs = list(choice["library"])  # sorted by individual
    cts = pd.read_parquet(quants / f"gene_counts.allLibraries.{TAG}.parquet")[runs]
    abd = pd.read_parquet(quants / f"gene_tpm.allLibraries.{TAG}.parquet")[runs]
    mage_steps = ro.r(
        """function(cts, abd) {
            keep_cts <- rowSums(cts >= 6) >= 0.2 * ncol(cts)
            keep_abd <- rowSums(abd >= 0.1) >= 0.2 * ncol(cts)
            y <- edgeR::calcNormFactors(edgeR::DGEList(cts), method = "TMM")
            tmm <- edgeR::cpm(y)
            tmm[keep_cts & keep_abd, , drop = FALSE]
        }"""
    )
    keep_r = ro.r("function(cts, abd) which(rowSums(cts >= 6) >= 0.2 * ncol(cts) & "
                  "rowSums(abd >= 0.1) >= 0.2 * ncol(cts))")
    with (ro.default_converter + numpy2ri.converter).context():
        tmm_r = np.asarray(mage_steps(cts.to_numpy(), abd.to_numpy()))
        rows = np.asarray(keep_r(cts.to_numpy(), abd.to_numpy()), dtype=int) - 1
    genes = pd.read_csv(demo_run / "reference" / "genes.tsv", sep="\t", index_col="gene_id")
    expected = pd.DataFrame(tmm_r, index=cts.index[rows], columns=list(choice["individual"]))
    expected = expected[genes.loc[expected.index, "chrom"].isin(EXPRESSION_CHROMS).to_numpy()]
    ours = _matrix(demo_run, MATRICES[1]).iloc[:, 3:]
    assert set(ours.index) == set(expected.index)
    np.testing.assert_allclose(ours.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-12)
