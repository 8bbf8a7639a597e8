"""kgpex.matrix_input: reading and checking a pre-quantified matrix, replicate arrays and their
arrays table, quantile normalisation and Stranger 2012's array normalisation by hand and on
planted truth, the counts and array normalisations, and the workflow in matrix mode (dry-runs)."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from kgpex.common.errors import KgpexError
from kgpex.expression.matrices import normalize_expression
from kgpex.matrix_input.normalize import (
    average_arrays,
    median_normalize,
    normalize_array,
    normalize_counts,
    quantile_normalize,
)
from kgpex.matrix_input.read import (
    check_annotated,
    check_arrays,
    check_counts,
    check_individuals,
    check_log2_intensities,
    check_same_shape,
    read_annotation_table,
    read_arrays_table,
    read_matrix,
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- reading


def test_read_matrix_plain_and_gzipped_give_the_same_frame(tmp_path):
    text = "gene_id\tNA12878\tHG00096\nG1\t1\t2.5\nG2\t0\t1e3\n"
    plain = read_matrix(_write(tmp_path / "m.tsv", text))
    with gzip.open(tmp_path / "m.tsv.gz", "wt") as fh:
        fh.write(text)
    packed = read_matrix(tmp_path / "m.tsv.gz")
    pd.testing.assert_frame_equal(plain, packed)
    assert list(plain.columns) == ["NA12878", "HG00096"]
    assert plain.loc["G2", "HG00096"] == 1000.0
    assert plain.index.name == "gene_id"


@pytest.mark.parametrize(
    "text, message",
    [
        ("gene_id\tNA12878\nG1\t1\nG1\t2\n", "line 3: gene G1 listed twice (first on line 2)"),
        ("gene_id\tNA12878\tHG00096\nG1\t1\tabc\n", "line 2: column HG00096: 'abc' is not a finite number"),
        ("gene_id\tNA12878\tHG00096\nG1\t1\tNA\nG2\t\t3\n",
         "line 2: column HG00096: 'NA' is not a finite number (2 such cells)"),
        ("gene_id\tNA12878\tHG00096\nG1\t1\n", "line 2: 2 fields, header has 3"),
        ("gene_id\tNA12878\tNA12878\nG1\t1\t2\n", "line 1: column NA12878 appears twice (columns 2 and 3)"),
        ("gene_id\nG1\n", "line 1: expression matrix needs a gene ID column and sample columns"),
        ("gene_id\tNA12878\n", "expression matrix has no gene rows"),
        ("gene_id\tNA12878\n\t1\n", "line 2: empty gene ID"),
    ],
)
def test_read_matrix_rejects_bad_files_in_one_line(tmp_path, text, message):
    path = _write(tmp_path / "m.tsv", text)
    with pytest.raises(KgpexError) as err:
        read_matrix(path)
    assert str(err.value).startswith(f"{path}") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_read_matrix_refuses_a_zip_archive(tmp_path):
    path = tmp_path / "E-MTAB-198.processed.1.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("matrix.txt", "gene_id\tNA12878\nG1\t1\n")
    with pytest.raises(KgpexError, match="a zip archive, not a TSV matrix"):
        read_matrix(path)


def test_read_matrix_missing_file(tmp_path):
    with pytest.raises(KgpexError, match="expression matrix not found"):
        read_matrix(tmp_path / "nowhere.tsv")


def _matrix(columns, values=None, genes=("G1", "G2")):
    values = values if values is not None else np.arange(len(genes) * len(columns), dtype=float).reshape(len(genes), -1)
    return pd.DataFrame(values, index=pd.Index(genes, name="gene_id"), columns=columns)


def test_columns_must_be_the_individuals_of_the_sheet():
    m = _matrix(["NA12878", "HG00096"])
    out = check_individuals(m, ["HG00096", "NA12878"], "m.tsv", "individuals.tsv")
    assert list(out.columns) == ["HG00096", "NA12878"]  # sorted, as every matrix downstream
    with pytest.raises(KgpexError) as err:
        check_individuals(m, ["HG00096"], "m.tsv", "individuals.tsv")
    assert str(err.value) == "m.tsv line 1: 1 columns are not individuals of individuals.tsv: NA12878"
    with pytest.raises(KgpexError) as err:
        check_individuals(m, ["HG00096", "NA12878", "NA19238"], "m.tsv", "individuals.tsv")
    assert str(err.value) == "individuals.tsv: 1 individuals have no column in m.tsv: NA19238"


def test_negative_counts_are_refused():
    m = _matrix(["A", "B"], np.array([[1.0, 2.0], [-0.5, 3.0]]))
    with pytest.raises(KgpexError) as err:
        check_counts(m, "m.tsv")
    assert str(err.value) == "m.tsv: gene G2, column A: negative count -0.5 (1 negative cells)"
    check_counts(_matrix(["A", "B"], np.array([[0.0, 2.5], [7.0, 3.0]])), "m.tsv")


def test_raw_intensities_are_not_taken_for_log2():
    check_log2_intensities(_matrix(["A", "B"], np.array([[6.5, 14.0], [-1.0, 9.0]])), "m.tsv")
    with pytest.raises(KgpexError, match="gene G1, column B: value 4096 is not a log2 intensity"):
        check_log2_intensities(_matrix(["A", "B"], np.array([[100.0, 4096.0], [3.0, 9.0]])), "m.tsv")


def test_tpm_matrix_must_match_the_counts():
    counts = _matrix(["A", "B"])
    tpm = counts.iloc[::-1, ::-1] * 2
    aligned = check_same_shape(counts, tpm, "c.tsv", "t.tsv")
    assert aligned.index.equals(counts.index) and aligned.columns.equals(counts.columns)
    with pytest.raises(KgpexError, match="t.tsv: 1 genes differ from c.tsv: G3"):
        check_same_shape(counts, _matrix(["A", "B"], genes=("G1", "G2", "G3")), "c.tsv", "t.tsv")
    with pytest.raises(KgpexError, match="t.tsv line 1: columns differ from c.tsv: B, C"):
        check_same_shape(counts, _matrix(["A", "C"]), "c.tsv", "t.tsv")


# ----------------------------------------------------------------------------- annotation

ANNOTATION = (
    "gene_id\tchrom\ttss\tstrand\tgene_name\n"
    "ILMN_1\tchr21\t5000\t+\tGENEA\n"
    "ILMN_2\tchr22\t900\t-\tGENEB\n"
)


def test_annotation_table_becomes_the_genes_table(tmp_path):
    genes = read_annotation_table(_write(tmp_path / "a.tsv", ANNOTATION))
    assert list(genes.columns) == ["gene_name", "gene_type", "chrom", "start", "end", "strand", "tss"]
    assert genes.loc["ILMN_2"].to_dict() == {
        "gene_name": "GENEB", "gene_type": "", "chrom": "chr22", "start": 900, "end": 900,
        "strand": "-", "tss": 900,
    }
    with_body = ANNOTATION.replace("gene_name\n", "gene_name\tstart\tend\tgene_type\n")
    with_body = with_body.replace("GENEA\n", "GENEA\t4000\t5000\tprotein_coding\n").replace(
        "GENEB\n", "GENEB\t900\t2000\tlncRNA\n"
    )
    genes = read_annotation_table(_write(tmp_path / "b.tsv", with_body))
    assert genes.loc["ILMN_1", ["start", "end", "gene_type"]].tolist() == [4000, 5000, "protein_coding"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("gene_name", "symbol"), "line 1: columns missing: gene_name"),
        (lambda t: t + "ILMN_1\tchr1\t10\t+\tX\n", "line 4: gene ILMN_1 listed twice (first on line 2)"),
        (lambda t: t.replace("chr21", "21"), "line 2: chrom '21' must be chr-prefixed"),
        (lambda t: t.replace("\t+\t", "\t.\t"), "line 2: strand '.' is not + or -"),
        (lambda t: t.replace("\t900\t", "\t0\t"), "line 3: tss '0' is not a 1-based position"),
        (lambda t: t.replace("\t5000\t", "\t\t"), "line 2: empty tss"),
    ],
)
def test_annotation_table_rejects_bad_rows_in_one_line(tmp_path, edit, message):
    path = _write(tmp_path / "a.tsv", edit(ANNOTATION))
    with pytest.raises(KgpexError) as err:
        read_annotation_table(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_genes_missing_from_the_annotation_are_listed_with_their_count(tmp_path):
    genes = read_annotation_table(_write(tmp_path / "a.tsv", ANNOTATION))
    m = _matrix(["A", "B"], np.ones((4, 2)), genes=("ILMN_1", "ILMN_9", "ILMN_2", "ILMN_8"))
    with pytest.raises(KgpexError) as err:
        check_annotated(m, genes, "m.tsv", "a.tsv")
    assert str(err.value) == (
        "m.tsv: 2 of 4 genes are not in the annotation a.tsv: ILMN_9, ILMN_8; "
        "set expression.matrix.drop_unannotated to leave them out"
    )
    kept = check_annotated(m, genes, "m.tsv", "a.tsv", drop=True)
    assert list(kept.index) == ["ILMN_1", "ILMN_2"]


def test_ensembl_version_mismatch_is_named():
    genes = pd.DataFrame({"chrom": ["chr1", "chr1"]}, index=["ENSG00000000003.15", "ENSG00000000005.6"])
    m = _matrix(["A"], np.ones((2, 1)), genes=("ENSG00000000003.14", "ENSG00000000005.5"))
    with pytest.raises(KgpexError, match="Ensembl version suffix"):
        check_annotated(m, genes, "m.tsv", "genes.tsv")


# ----------------------------------------------------------------------------- quantile normalisation


def test_quantile_normalisation_by_hand_with_ties():
    # Rows are genes A-D, columns samples. Sorted columns: (2,3,4,5), (1,2,4,4), (3,4,6,8);
    # reference = row means of the sorted matrix = (2, 3, 14/3, 17/3).
    df = pd.DataFrame(
        {"s1": [5.0, 2.0, 3.0, 4.0], "s2": [4.0, 1.0, 4.0, 2.0], "s3": [3.0, 4.0, 6.0, 8.0]},
        index=["A", "B", "C", "D"],
    )
    out = quantile_normalize(df)
    r = [2.0, 3.0, 14 / 3, 17 / 3]
    tied = (r[2] + r[3]) / 2  # s2's two 4s share ranks 3 and 4
    expected = pd.DataFrame(
        {"s1": [r[3], r[0], r[1], r[2]], "s2": [tied, r[0], tied, r[1]], "s3": [r[0], r[1], r[2], r[3]]},
        index=["A", "B", "C", "D"],
    )
    pd.testing.assert_frame_equal(out, expected, rtol=0, atol=1e-15)


def test_quantile_normalisation_does_not_depend_on_row_or_column_order():
    rng = np.random.default_rng(7)
    df = pd.DataFrame(rng.normal(8, 2, size=(50, 6)).round(1), columns=list("abcdef"))
    out = quantile_normalize(df)
    shuffled = df.sample(frac=1, random_state=3)[list("fedcba")]
    pd.testing.assert_frame_equal(quantile_normalize(shuffled).loc[df.index, df.columns], out)
    # Without ties every column holds exactly the reference distribution.
    no_ties = pd.DataFrame(rng.normal(size=(20, 4)))
    qn = quantile_normalize(no_ties)
    for col in qn:
        np.testing.assert_allclose(np.sort(qn[col]), np.sort(no_ties, axis=0).mean(axis=1))


# ----------------------------------------------------------------------------- normalisations


def _genes(ids, chroms):
    n = len(ids)
    return pd.DataFrame(
        {
            "gene_name": [f"N{i}" for i in range(n)], "gene_type": "protein_coding", "chrom": chroms,
            "start": np.arange(n) * 1000 + 1, "end": np.arange(n) * 1000 + 500, "strand": "+",
            "tss": np.arange(n) * 1000 + 1,
        },
        index=pd.Index(ids, name="gene_id"),
    )


def test_array_normalisation_quantile_then_inverse_normal_and_filter():
    rng = np.random.default_rng(11)
    ids = [f"P{i}" for i in range(8)]
    values = rng.normal(9, 1.5, size=(8, 10))
    values[3] = 7.25  # constant probe: no ranks to transform
    cols = [f"NA{i:05d}" for i in range(10, 0, -1)]  # unsorted on purpose
    m = pd.DataFrame(values, index=ids, columns=cols)
    genes = _genes(ids[:7], ["chr1"] * 6 + ["chrY"])  # P7 unannotated, P6 on chrY
    result = normalize_array(m, genes, ["chr1", "chrX"])
    assert list(result.inverse_normal.columns) == sorted(cols)
    assert list(result.inverse_normal.index) == ["P0", "P1", "P2", "P4", "P5"]
    assert result.gene_filter.loc["P3", "variable"] == False  # noqa: E712
    assert result.gene_filter.loc["P7", "annotated"] == False  # noqa: E712
    assert result.summary == {
        "method": "quantile", "genes_in": 8, "arrays": 10, "samples": 10, "genes_annotated": 7,
        "genes_on_chromosomes": 6, "genes_constant": 1, "genes_kept": 5,
    }
    # QN over all 8 probes, before the filter; INT per probe of the QN values.
    qn = quantile_normalize(m[sorted(cols)])
    pd.testing.assert_frame_equal(result.quantile_log2, qn.loc[result.inverse_normal.index])
    ranks = stats.rankdata(qn.loc["P0"])
    np.testing.assert_allclose(result.inverse_normal.loc["P0"], stats.norm.ppf(ranks / 11))
    # Deterministic: the same input gives the same bytes.
    again = normalize_array(m, genes, ["chr1", "chrX"])
    pd.testing.assert_frame_equal(again.inverse_normal, result.inverse_normal, rtol=0, atol=0)


# ----------------------------------------------------------------------------- replicate arrays

# Probes P1-P4 (rows); NA00001 has two arrays, HG00002 and NA00003 one each.
REPLICATES = pd.DataFrame(
    {
        "arr_X1": [2.0, 6.0, 4.0, 8.0],
        "arr_X2": [3.0, 5.0, 9.0, 1.0],
        "arr_Y": [7.0, 9.0, 8.0, 10.0],
        "arr_Z": [4.0, 4.5, 6.0, 5.0],
    },
    index=pd.Index(["P1", "P2", "P3", "P4"], name="gene_id"),
)
REPLICATE_OF = pd.Series(
    {"arr_X1": "NA00001", "arr_X2": "NA00001", "arr_Y": "HG00002", "arr_Z": "NA00003"}, name="individual"
)


def test_replicate_arrays_are_quantile_normalised_together_and_averaged_by_hand():
    # NA00001's arrays sorted: (2,4,6,8) and (1,3,5,9): reference (1.5, 3.5, 5.5, 8.5).
    # arr_X1's ranks (1,3,2,4) -> (1.5, 5.5, 3.5, 8.5); arr_X2's ranks (2,3,4,1) -> (3.5, 5.5, 8.5, 1.5);
    # their mean (2.5, 5.5, 6.0, 5.0), where the raw arrays' mean is (2.5, 5.5, 6.5, 4.5).
    profiles = average_arrays(REPLICATES, REPLICATE_OF, within_individual=True)
    assert list(profiles.columns) == ["HG00002", "NA00001", "NA00003"]
    np.testing.assert_array_equal(profiles["NA00001"], [2.5, 5.5, 6.0, 5.0])
    np.testing.assert_array_equal(profiles["HG00002"], REPLICATES["arr_Y"])  # one array: as it is
    raw = average_arrays(REPLICATES, REPLICATE_OF, within_individual=False)
    np.testing.assert_array_equal(raw["NA00001"], [2.5, 5.5, 6.5, 4.5])


def test_median_normalisation_by_hand():
    # Medians 5.25 (NA00001), 8.5 (HG00002), 4.75 (NA00003); their median 5.25: shifts 0, -3.25, +0.5.
    profiles = average_arrays(REPLICATES, REPLICATE_OF, within_individual=True)
    out = median_normalize(profiles)
    expected = pd.DataFrame(
        {"HG00002": [3.75, 5.75, 4.75, 6.75], "NA00001": [2.5, 5.5, 6.0, 5.0], "NA00003": [4.5, 5.0, 6.5, 5.5]},
        index=REPLICATES.index,
    )
    pd.testing.assert_frame_equal(out, expected, check_names=False, rtol=0, atol=0)
    assert (out.median() == 5.25).all()


def test_stranger2012_normalisation_of_replicate_arrays_by_hand():
    genes = _genes(list(REPLICATES.index), ["chr1"] * 4)
    result = normalize_array(REPLICATES, genes, ["chr1"], arrays=REPLICATE_OF, method="stranger2012")
    expected = pd.DataFrame(
        {"HG00002": [3.75, 5.75, 4.75, 6.75], "NA00001": [2.5, 5.5, 6.0, 5.0], "NA00003": [4.5, 5.0, 6.5, 5.5]},
        index=REPLICATES.index,
    )
    pd.testing.assert_frame_equal(result.quantile_log2, expected, check_names=False, rtol=0, atol=0)
    # Per-probe INT of those profiles: P1's ranks (2, 1, 3) of 3 individuals.
    np.testing.assert_allclose(result.inverse_normal.loc["P1"], stats.norm.ppf(np.array([2, 1, 3]) / 4))
    assert result.summary["arrays"] == 4 and result.summary["samples"] == 3
    assert result.summary["method"] == "stranger2012"
    # The other choice averages the raw arrays, then quantile-normalises across individuals.
    quantile = normalize_array(REPLICATES, genes, ["chr1"], arrays=REPLICATE_OF, method="quantile")
    qn = quantile_normalize(average_arrays(REPLICATES, REPLICATE_OF, within_individual=False))
    assert list(quantile.quantile_log2.index) == ["P2", "P3", "P4"]  # P1 ranks first everywhere
    pd.testing.assert_frame_equal(quantile.quantile_log2, qn.loc[["P2", "P3", "P4"]])
    assert not np.allclose(quantile.quantile_log2.to_numpy(), expected.loc[["P2", "P3", "P4"]].to_numpy())
    with pytest.raises(KgpexError, match="'rma' is not one of stranger2012, quantile"):
        normalize_array(REPLICATES, genes, ["chr1"], arrays=REPLICATE_OF, method="rma")


def test_stranger2012_recovers_planted_profiles_through_array_and_individual_offsets():
    # Truth: each individual's log2 profile t_i. Its arrays measure t_i + an individual offset
    # (cell line, batch) + each array's own offset. Quantile normalisation of an individual's
    # arrays leaves the shared ranks, the mean of the offsets; median normalisation removes it:
    # the result is t_i - median(t_i) + one constant for all, exactly.
    rng = np.random.default_rng(2012)
    probes, individuals = 200, 12
    ids = [f"NA{i:05d}" for i in range(individuals)]
    base = rng.normal(8, 2, size=(probes, 1))
    genotype = rng.integers(0, 3, size=individuals)
    truth = base + rng.normal(0, 0.3, size=(probes, individuals))
    truth[:10] += 0.8 * genotype  # planted cis effects on the first 10 probes
    columns, arrays = {}, {}
    for i, ind in enumerate(ids):
        offset = rng.normal(0, 1.5)
        for r in range(1 + i % 3):  # one, two or three arrays
            columns[f"{ind}_r{r}"] = truth[:, i] + offset + rng.normal(0, 0.7)
            arrays[f"{ind}_r{r}"] = ind
    matrix = pd.DataFrame(columns, index=[f"P{k}" for k in range(probes)])
    order = rng.permutation(matrix.columns)  # arrays in no particular order
    genes = _genes(list(matrix.index), ["chr2"] * probes)
    result = normalize_array(matrix[order], genes, ["chr2"], arrays=pd.Series(arrays), method="stranger2012")
    centred = truth - np.median(truth, axis=0)
    left = result.quantile_log2[ids].to_numpy() - centred
    assert np.ptp(left) < 1e-9, np.ptp(left)
    # Every individual's median is the same, as Stranger's median normalisation makes it.
    assert np.ptp(result.quantile_log2.median().to_numpy()) < 1e-12
    # Averaging arrays without the within-individual step leaves the offsets in (quantile
    # normalisation across individuals then changes the values' shape).
    other = normalize_array(matrix[order], genes, ["chr2"], arrays=pd.Series(arrays), method="quantile")
    kept = matrix.index.get_indexer(other.quantile_log2.index)
    assert np.ptp(other.quantile_log2[ids].to_numpy() - centred[kept]) > 0.1
    # The planted probes' INT values follow the genotype.
    for k in range(10):
        assert stats.spearmanr(result.inverse_normal.iloc[k][ids], genotype)[0] > 0.5, k


ARRAYS = "array\tindividual\tscan_date\narr_X1\tNA00001\t2008-01-01\narr_X2\tNA00001\t\narr_Y\tHG00002\t\narr_Z\tNA00003\t\n"


def test_arrays_table_names_each_columns_individual(tmp_path):
    arrays = read_arrays_table(_write(tmp_path / "arrays.tsv", ARRAYS))
    assert arrays.to_dict() == REPLICATE_OF.to_dict()
    matrix, ordered = check_arrays(
        REPLICATES[["arr_Z", "arr_X2", "arr_Y", "arr_X1"]], arrays, ["HG00002", "NA00001", "NA00003"],
        "m.tsv", "arrays.tsv", "individuals.tsv",
    )
    assert list(matrix.columns) == list(ordered.index) == ["arr_Y", "arr_X1", "arr_X2", "arr_Z"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("array\tsample\na1\tNA00001\n", "arrays.tsv line 1: columns missing: individual (need array individual)"),
        ("array\tindividual\n", "arrays.tsv: arrays table has no rows"),
        ("array\tindividual\na1\tNA00001\n\tNA00001\n", "arrays.tsv line 3: empty array"),
        ("array\tindividual\na1\tNA00001\na2\t \n", "arrays.tsv line 3: empty individual"),
        ("array\tindividual\na1\tNA00001\na2\tNA00001\na1\tHG00002\n",
         "arrays.tsv line 4: array a1 listed twice (first on line 2)"),
    ],
)
def test_arrays_table_rejects_bad_rows_in_one_line(tmp_path, text, message):
    with pytest.raises(KgpexError) as err:
        read_arrays_table(_write(tmp_path / "arrays.tsv", text))
    assert str(err.value) == f"{tmp_path}/{message}" and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "columns, rows, individuals, message",
    [
        # an array whose individual is not in the sheet
        (["a1", "a2"], [("a1", "NA00001"), ("a2", "NA99999")], ["NA00001"],
         "arrays.tsv line 3: individual NA99999 (array a2) is not an individual of individuals.tsv"),
        # a matrix column the table does not list
        (["a1", "a2", "a3"], [("a1", "NA00001"), ("a2", "NA00001")], ["NA00001"],
         "m.tsv line 1: 1 columns are not arrays of arrays.tsv: a3"),
        # a listed array the matrix does not have
        (["a1"], [("a1", "NA00001"), ("a2", "NA00001")], ["NA00001"],
         "arrays.tsv line 3: array a2 is not a column of m.tsv"),
        # an individual of the sheet without an array
        (["a1"], [("a1", "NA00001")], ["NA00001", "HG00002"],
         "individuals.tsv: 1 individuals have no array in arrays.tsv: HG00002"),
    ],
)
def test_arrays_that_do_not_match_the_matrix_or_the_sheet_fail_in_one_line(columns, rows, individuals, message):
    arrays = pd.Series(dict(rows), name="individual")
    with pytest.raises(KgpexError) as err:
        check_arrays(_matrix(columns), arrays, individuals, "m.tsv", "arrays.tsv", "individuals.tsv")
    assert str(err.value) == message


def test_a_duplicate_array_column_fails_in_one_line(tmp_path):
    path = _write(tmp_path / "m.tsv", "probe\ta1\ta2\ta1\nP1\t1\t2\t3\n")
    with pytest.raises(KgpexError) as err:
        read_matrix(path)
    assert str(err.value) == f"{path} line 1: column a1 appears twice (columns 2 and 4)"


def _counts(seed=5, genes=30, samples=12):
    rng = np.random.default_rng(seed)
    means = rng.gamma(1.0, 40, size=(genes, 1))
    ids = [f"ENSG{i:011d}.1" for i in range(genes)]
    cols = [f"HG{i:05d}" for i in range(samples)]
    return pd.DataFrame(rng.poisson(means * rng.uniform(0.5, 2, size=(1, samples))).astype(float), index=ids, columns=cols)


def test_counts_with_tpm_are_normalised_exactly_as_the_reads_path():
    counts = _counts()
    tpm = counts / counts.sum() * 1e6
    genes = _genes(list(counts.index), ["chr21"] * 30)
    runs = [f"SRR{i}" for i in range(12)]
    choice = pd.DataFrame({"individual": counts.columns, "library": runs})
    reads = normalize_expression(counts.set_axis(runs, axis=1), tpm.set_axis(runs, axis=1), choice, genes)
    matrix = normalize_counts(counts, tpm, genes)
    pd.testing.assert_frame_equal(matrix.inverse_normal, reads.inverse_normal)
    pd.testing.assert_frame_equal(matrix.tmm_cpm, reads.tmm_cpm)
    assert list(matrix.factors["library"]) == list(counts.columns)


def test_counts_without_tpm_filter_on_counts_only():
    counts = _counts()
    counts.iloc[0] = 0.0  # fails the counts filter
    genes = _genes(list(counts.index), ["chr21"] * 30)
    with pytest.raises(KgpexError, match="no gene passes"):  # a TPM matrix is used when given
        normalize_counts(counts, counts * 0 + 1e-3, genes, min_tpm=0.1)
    result = normalize_counts(counts, None, genes)
    assert result.gene_filter["pass_tpm"].all()
    assert result.gene_filter["n_samples_tpm"].isna().all()
    assert counts.index[0] not in result.inverse_normal.index
    expected = result.gene_filter.index[result.gene_filter["n_samples_counts"] >= 3]  # 20% of 12 -> 3
    assert list(result.gene_filter.index[result.gene_filter["keep"]]) == list(expected)


# ----------------------------------------------------------------------------- workflow

ROOT = Path(__file__).resolve().parents[1]
MATRIX_RULES = {
    "counts": {"download_expression_matrix", "import_expression_matrix", "normalize_matrix_counts"},
    "array": {"download_expression_matrix", "import_gene_annotation", "import_expression_matrix",
              "normalize_array_expression"},
}
READS_RULES = {"select_libraries", "aggregate_genes", "normalize_expression", "plot_library_qc"}


def _workflow_rules(config: dict) -> dict:
    from workflow_api import parsed_rules

    with parsed_rules(config) as rules:
        return rules


@pytest.mark.parametrize("kind", ["counts", "array"])
def test_matrix_mode_defines_its_rules_and_not_the_reads_ones(tmp_path, kind):
    # One definition per output: in matrix mode the reads path's rules do not exist at all.
    # On an allowed host: the matrix's sources pass the URL policy at parse time.
    matrix = {"url": "https://www.ebi.ac.uk/matrix.tsv.gz", "kind": kind}
    if kind == "array":
        matrix["annotation_url"] = "https://www.ebi.ac.uk/probes.tsv"
    rules = _workflow_rules({"expression": {"input": "matrix", "matrix": matrix}})
    assert MATRIX_RULES[kind] <= set(rules) and not (READS_RULES & set(rules))
    for name in MATRIX_RULES[kind]:
        rule = rules[name]
        assert rule.log and rule.conda_env is not None and rule.container_img is not None, name
        assert {"mem_mb", "runtime"} <= set(rule.resources) and not rule.is_run, name


def test_reads_mode_has_no_matrix_rules():
    rules = _workflow_rules({})
    assert READS_RULES <= set(rules)
    assert not (set().union(*MATRIX_RULES.values()) & set(rules))


def _dry_run(*args: str, cwd: Path = ROOT):
    from conftest import snakemake

    proc = snakemake("--dry-run", "--forceall", *args, check=False, timeout=600, cwd=cwd)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "matrix, message",
    [
        ("{input: matrix}", "field 'expression.matrix.url': '' should be non-empty"),
        ("{input: matrix, matrix: {url: ''}}", "field 'expression.matrix.url': '' should be non-empty"),
        ("{input: matrix, matrix: {url: m.tsv, kind: array, tpm_url: t.tsv}}",
         "field 'expression.matrix.tpm_url': 't.tsv' is expected to be empty"),
        ("{input: matrix, matrix: {url: m.tsv, kind: affymetrix}}",
         "field 'expression.matrix.kind': 'affymetrix' is not one of ['counts', 'array']"),
    ],
)
def test_matrix_config_errors_are_one_line(matrix, message):
    rc, out = _dry_run("--config", f"expression={matrix}")
    errors = [line for line in out.splitlines() if line.startswith("kgpex: ")]
    assert rc != 0 and len(errors) == 1 and message in errors[0], out[-3000:]


def test_stranger2012_preset_dry_run_plans_the_array_path(tmp_path):
    # The preset's matrix, annotation and sheets are built by hand (its header); small synthetic
    # ones stand in so that the whole run can be planned without them.
    individuals = tmp_path / "individuals.tsv"
    individuals.write_text(
        "individual\tpopulation\tcontinental_group\tsex\nNA12878\tCEU\tEUR\tfemale\nNA19238\tYRI\tAFR\tfemale\n"
    )
    matrix = _write(
        tmp_path / "expression_log2.tsv", "probe\tA1\tA2\tB1\nILMN_1\t7.5\t8.25\t6.0\n"
    )
    arrays = _write(tmp_path / "arrays.tsv", "array\tindividual\nA1\tNA12878\nA2\tNA12878\nB1\tNA19238\n")
    annotation = _write(tmp_path / "probe_annotation.tsv", ANNOTATION)
    from workdirs import scratch_workdir, snakemake_args

    workdir = scratch_workdir(tmp_path / "work", reuse_demo=False)
    rc, out = _dry_run(
        *snakemake_args(workdir),
        "--configfile", str(ROOT / "config/presets/stranger2012.yaml"),
        "--config",
        # The individuals alone: arrays have no runs (the preset's runs: "").
        f"samples={{method: sheets, individuals: {individuals}, runs: ''}}",
        f"expression={{matrix: {{url: {matrix}, annotation_url: {annotation}, arrays_url: {arrays}}}}}",
    )
    assert rc == 0, out[-4000:]
    quants = "results/STRANGER2012/QTL_results/eQTL_results/expression_quants"
    for path in [
        f"{quants}/inverse_normal_TMM.filtered.TSS.STRANGER2012.v1.bed.gz",
        f"{quants}/quantile_log2.filtered.TSS.STRANGER2012.v1.bed.gz",
        f"{quants}/eQTL_covariates.tab.gz",
        "results/STRANGER2012/expression/matrix/genes.tsv",
        "results/STRANGER2012/genotypes/chrX.pgen",
    ]:
        assert path in out, path
    for rule in MATRIX_RULES["array"]:
        assert f"rule {rule}:" in out, rule
    assert "rule salmon_index:" not in out and "rule download_fastq:" not in out
    assert "rule fetch_run_table:" not in out and "run_table.tsv" not in out


def test_reads_without_runs_stop_with_one_line():
    # samples.runs "" (a cohort of individuals alone) is for the matrix entry point only.
    rc, out = _dry_run(
        "--config", "samples={method: sheets, individuals: resources/demo/individuals.tsv, runs: ''}"
    )
    errors = [line for line in out.splitlines() if line.startswith("kgpex: ")]
    assert rc != 0 and errors == [
        "kgpex: config: field 'samples.runs': no runs sheet, but expression.input is 'reads' and "
        "salmon needs sequencing runs (give a runs sheet; only expression.input: matrix resolves a "
        "cohort from the individuals sheet alone)"
    ], out[-3000:]


def test_stranger2012_preset_names_its_sources_as_unverified():
    text = (ROOT / "config/presets/stranger2012.yaml").read_text()
    preset = yaml.safe_load(text)
    assert preset["expression"]["input"] == "matrix" and preset["expression"]["matrix"]["kind"] == "array"
    for accession in ("E-MTAB-198", "E-MTAB-264"):
        assert accession in text
    assert text.count("unverified") >= 3
    # The paper's facts, and Stranger's normalisation without their extra structure correction.
    assert preset["expression"]["matrix"]["array_normalization"] == "stranger2012"
    assert preset["expression"]["matrix"]["arrays_url"] == "config/presets/stranger2012/arrays.tsv"
    flat = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    for fact in ("726 individuals", "47,294 bead types", "TWO replicate arrays per cell line",
                 "median normalisation across all 8 populations",
                 "it does NOT do the extra structure correction of GIH, LWK, MEX and MKK"):
        assert fact in flat, fact
    assert "normalised within each population" not in flat
