"""kgpex.expression.deseq2: MAGE's DESeq2 matrix against R running tximport + full DESeq()."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import CLEAN_ENV

from kgpex.common.errors import KgpexError
from kgpex.common.io import write_table
from kgpex.expression.aggregate import aggregate_genes, read_tx2gene
from kgpex.expression.deseq2 import (
    chosen_quant_paths,
    deseq2_expression_bed,
    deseq2_normalize,
    read_gene_filter,
)
from kgpex.expression.matrices import normalize_expression, tss_bed
from kgpex.reference.genes import read_genes

N_GENES = 60
LIBRARIES = [f"LIB{i}" for i in range(1, 9)]  # 8: DESeq() replaces outliers from 7 samples on
ZERO_IN_ONE = "ENSG00000000007.1"  # no read in LIB3 (tximport's missing-length branch)
ZERO_IN_ALL = "ENSG00000000011.1"  # no read anywhere
OUTLIER = "ENSG00000000005.1"  # one huge count in LIB2: DESeq() replaces it and refits

# R as MAGE ran it: full DESeq(), then counts(dds, normalized=TRUE), log2(x + 1).
R_FULL_DESEQ = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({library(tximport); library(DESeq2)})
files <- read.delim(args[1], stringsAsFactors = FALSE)
files <- setNames(files$path, files$library)
tx2gene <- read.delim(args[2], stringsAsFactors = FALSE)[, 1:2]
txi <- tximport(files, type = "salmon", tx2gene = tx2gene)
coldata <- data.frame(library = names(files), row.names = names(files))
dds <- DESeqDataSetFromTximport(txi, coldata, design = ~1)
dds <- suppressWarnings(DESeq(dds, quiet = TRUE))
out <- log2(counts(dds, normalized = TRUE) + 1)
write.table(data.frame(gene_id = rownames(out), out, check.names = FALSE), args[3],
            sep = "\t", quote = FALSE, row.names = FALSE)
writeLines(c(as.character("replaceCounts" %in% assayNames(dds)),
             as.character(sum(mcols(dds)$replace, na.rm = TRUE))), args[4])
"""


def needs_r_packages():
    pytest.importorskip("rpy2.robjects")
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not available")


def write_dataset(root, libraries=LIBRARIES, seed=16):
    """Salmon quant.sf per library (results/salmon/<library>/quant.sf), tx2gene.tsv, genes.tsv.

    1-4 transcripts per gene with per-sample effective lengths (salmon's depend on each
    library's fragment lengths), zero-read transcripts, a gene without reads in one sample and
    one without reads at all, fractional NumReads (DESeq2 rounds them).
    """
    rng = np.random.default_rng(seed)
    tx_rows, gene_rows = [], []
    for g in range(1, N_GENES + 1):
        gene = f"ENSG{g:011d}.1"
        chrom = "chrM" if g == N_GENES else f"chr{1 + g % 3}"
        tss = 10_000 * g + 1
        gene_rows.append((gene, f"GENE{g}", "protein_coding", chrom, tss, tss + 5000, "+", tss))
        for t in range(int(rng.integers(1, 5))):
            tx_rows.append((f"ENST{g:09d}{t:02d}.1", gene, int(rng.integers(300, 6000))))
    tx = pd.DataFrame(tx_rows, columns=["transcript_id", "gene_id", "length"])
    # An annotated transcript that salmon did not quantify: tximport ignores it.
    pd.concat([tx[["transcript_id", "gene_id"]],
               pd.DataFrame({"transcript_id": ["ENST_NOT_IN_INDEX.1"], "gene_id": ["ENSG99.1"]})]
              ).to_csv(root / "tx2gene.tsv", sep="\t", index=False)
    pd.DataFrame(gene_rows, columns=["gene_id", "gene_name", "gene_type", "chrom", "start", "end",
                                     "strand", "tss"]).to_csv(root / "genes.tsv", sep="\t", index=False)
    base = rng.lognormal(3.0, 1.5, len(tx))
    base[rng.random(len(tx)) < 0.15] = 0  # transcripts never expressed
    for gene in (ZERO_IN_ONE, OUTLIER):  # expressed elsewhere
        base[tx["gene_id"].eq(gene).to_numpy()] = 50.0
    paths = {}
    for j, library in enumerate(libraries):
        depth = rng.uniform(0.4, 3.0)
        reads = rng.poisson(base * depth * rng.lognormal(0, 0.3, len(tx))) + rng.random(len(tx))
        reads[base == 0] = 0
        reads[tx["gene_id"].eq(ZERO_IN_ALL).to_numpy()] = 0
        if j == 2:
            reads[tx["gene_id"].eq(ZERO_IN_ONE).to_numpy()] = 0
        if j == 1:
            reads[tx["gene_id"].eq(OUTLIER).to_numpy()] *= 60
        eff = np.maximum(tx["length"] - rng.normal(200, 15), 20.0)
        rate = reads / eff
        tpm = rate / rate.sum() * 1e6
        path = root / "salmon" / library / "quant.sf"
        path.parent.mkdir(parents=True)
        pd.DataFrame({"Name": tx["transcript_id"], "Length": tx["length"],
                      "EffectiveLength": eff.round(3), "TPM": tpm.round(6),
                      "NumReads": reads.round(3)}).to_csv(path, sep="\t", index=False)
        paths[library] = path
    return paths


def start_r_full_deseq(tmp_path, paths, tx2gene):
    """Start Rscript (loading DESeq2 takes seconds: it runs while the test computes its own)."""
    listing = tmp_path / "files.tsv"
    pd.DataFrame({"library": list(paths), "path": [str(p) for p in paths.values()]}).to_csv(
        listing, sep="\t", index=False)
    script = tmp_path / "deseq.R"
    script.write_text(R_FULL_DESEQ)
    out, flag = tmp_path / "r_deseq.tsv", tmp_path / "replaced.txt"
    proc = subprocess.Popen(
        ["Rscript", str(script), str(listing), str(tx2gene), str(out), str(flag)],
        env=CLEAN_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return proc, out, flag


def finish_r_full_deseq(started):
    """R's log2(normalised + 1) after full DESeq(), whether DESeq() replaced outlier counts and
    for how many genes."""
    proc, out, flag = started
    try:
        _, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    replaced, n_replaced = flag.read_text().split()
    return pd.read_csv(out, sep="\t", index_col="gene_id"), replaced == "TRUE", int(n_replaced)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("deseq2")
    return root, write_dataset(root)


@pytest.fixture(scope="module")
def normalized(dataset, tmp_path_factory):
    """(deseq2_normalize on all 8 libraries, R's full-DESeq() result), computed side by side."""
    needs_r_packages()
    root, paths = dataset
    started = start_r_full_deseq(tmp_path_factory.mktemp("r"), paths, root / "tx2gene.tsv")
    try:
        ours = deseq2_normalize(paths, root / "tx2gene.tsv")
    finally:
        reference = finish_r_full_deseq(started)
    return ours, reference


# ----------------------------------------------------------------------------- against R


def test_matches_r_full_deseq(normalized):
    ours, (expected, replaced, n_replaced) = normalized
    # The data exercise DESeq()'s outlier replacement, the one step after estimateSizeFactors
    # that touches counts (it puts the original counts back).
    assert replaced and n_replaced >= 1
    log_counts = ours.log_counts
    assert log_counts.dtypes.eq(np.float64).all()
    assert list(log_counts.columns) == LIBRARIES
    assert sorted(log_counts.index) == sorted(expected.index)
    assert len(log_counts) == N_GENES  # every quantified gene, before any filter
    diff = (log_counts - expected.loc[log_counts.index, LIBRARIES]).abs().to_numpy()
    assert diff.max() < 1e-8
    assert (log_counts.loc[ZERO_IN_ALL] == 0).all()
    assert log_counts.loc[ZERO_IN_ONE, "LIB3"] == 0
    # The lengths matter: one library's factors vary by gene (plain size factors would not).
    nonzero = ours.factors.drop(index=[ZERO_IN_ALL])
    assert nonzero["LIB1"].std() / nonzero["LIB1"].mean() > 0.01


def test_normalised_counts_by_hand_from_r_factors(dataset, normalized):
    # counts are round(summed NumReads): log_counts = log2(round(counts) / factors + 1).
    root, paths = dataset
    ours, _ = normalized
    counts, _ = aggregate_genes(paths, read_tx2gene(root / "tx2gene.tsv"))
    counts = counts.loc[ours.log_counts.index, LIBRARIES]
    by_hand = np.log2(np.round(counts.to_numpy()) / ours.factors.to_numpy() + 1)
    np.testing.assert_allclose(ours.log_counts.to_numpy(), by_hand, rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------- the rule's BED


def test_bed_has_filter_genes_and_individuals(dataset, normalized, tmp_path):
    root, paths = dataset
    # LIB7 and LIB8 are replicates of NA1 and NA2 that were not chosen: they stay out of DESeq2.
    chosen = {"LIB1": "NA1", "LIB2": "NA2", "LIB3": "HG3", "LIB4": "NA4", "LIB5": "HG5", "LIB6": "NA6"}
    choice = pd.DataFrame({
        "individual": list(chosen.values()), "library": list(chosen), "runs": list(chosen),
        "num_processed": 1000, "n_libraries": 1, "libraries_considered": list(chosen),
    })
    choice.to_csv(tmp_path / "library_choice.tsv", sep="\t", index=False)
    genes = read_genes(root / "genes.tsv")
    counts, tpm = aggregate_genes(paths, read_tx2gene(root / "tx2gene.tsv"))
    expression = normalize_expression(counts, tpm, choice, genes,
                                      chromosomes=[f"chr{i}" for i in range(1, 23)])
    gene_filter = tmp_path / "gene_filter.tsv.gz"
    write_table(expression.gene_filter, gene_filter, index=True, index_label="gene_id")
    kept = set(expression.gene_filter.index[expression.gene_filter["keep"]])
    assert 0 < len(kept) < N_GENES

    bed = tmp_path / "deseq2.bed.gz"
    summary = deseq2_expression_bed(
        [str(p) for p in paths.values()], tmp_path / "library_choice.tsv", root / "tx2gene.tsv",
        gene_filter, root / "genes.tsv", bed,
    )
    assert (tmp_path / "deseq2.bed.gz.tbi").exists()
    with gzip.open(bed, "rt") as fh:
        table = pd.read_csv(fh, sep="\t")
    assert list(table.columns) == ["#Chr", "start", "end", "ID", *sorted(chosen.values())]
    assert set(table["ID"]) == kept and len(table) == len(kept)
    # The same gene order as the other BEDs (normalize_expression's, via tss_bed).
    assert list(table["ID"]) == list(tss_bed(expression.inverse_normal, genes)["ID"])
    assert summary["genes_kept"] == len(kept) and summary["samples"] == len(chosen)
    assert summary["genes_in"] == N_GENES
    # Only the chosen libraries enter the size factors.
    alone = deseq2_normalize({lib: paths[lib] for lib in chosen}, root / "tx2gene.tsv").log_counts
    values = table.set_index("ID")[sorted(chosen.values())]
    expected = alone.loc[values.index, sorted(chosen, key=chosen.get)]
    np.testing.assert_allclose(values.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    with_all = normalized[0].log_counts
    assert not np.allclose(with_all.loc[values.index, list(chosen)], expected, atol=1e-6)


# ----------------------------------------------------------------------------- bad input


def one_line(err):
    assert "\n" not in str(err.value)
    return str(err.value)


def test_missing_quant_names_the_file(tmp_path):
    paths = write_dataset(tmp_path, libraries=LIBRARIES[:3])
    paths["LIB2"].unlink()
    with pytest.raises(KgpexError) as err:
        deseq2_normalize(paths, tmp_path / "tx2gene.tsv")
    assert one_line(err) == f"{paths['LIB2']}: salmon quant.sf not found"


def test_transcript_missing_from_tx2gene_names_the_files(tmp_path):
    paths = write_dataset(tmp_path, libraries=LIBRARIES[:3])
    tx2gene = pd.read_csv(tmp_path / "tx2gene.tsv", sep="\t")
    dropped = tx2gene["transcript_id"].iloc[5]
    tx2gene.drop(index=5).to_csv(tmp_path / "short.tsv", sep="\t", index=False)
    with pytest.raises(KgpexError) as err:
        deseq2_normalize(paths, tmp_path / "short.tsv")
    assert one_line(err) == f"{paths['LIB1']}: transcript {dropped} is not in {tmp_path / 'short.tsv'}"


def test_bad_tx2gene_header(tmp_path):
    paths = write_dataset(tmp_path, libraries=LIBRARIES[:3])
    tx2gene = pd.read_csv(tmp_path / "tx2gene.tsv", sep="\t")
    tx2gene.rename(columns={"gene_id": "gene"}).to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(KgpexError, match=r"bad.tsv: header must start with transcript_id, gene_id"):
        deseq2_normalize(paths, tmp_path / "bad.tsv")


def test_quant_of_another_index_names_the_file(tmp_path):
    needs_r_packages()
    paths = write_dataset(tmp_path, libraries=LIBRARIES[:3])
    quant = pd.read_csv(paths["LIB3"], sep="\t")
    quant.iloc[::-1].to_csv(paths["LIB3"], sep="\t", index=False)  # same transcripts, other order
    with pytest.raises(KgpexError) as err:
        deseq2_normalize(paths, tmp_path / "tx2gene.tsv")
    assert one_line(err).startswith(f"{paths['LIB3']}: transcripts differ from {paths['LIB1']}")


def test_quant_without_effective_length(tmp_path):
    paths = write_dataset(tmp_path, libraries=LIBRARIES[:3])
    quant = pd.read_csv(paths["LIB2"], sep="\t")
    quant.drop(columns="EffectiveLength").to_csv(paths["LIB2"], sep="\t", index=False)
    with pytest.raises(KgpexError) as err:
        deseq2_normalize(paths, tmp_path / "tx2gene.tsv")
    assert one_line(err) == f"{paths['LIB2']}: columns missing: EffectiveLength (library LIB2)"


def test_gene_filter_of_other_genes(dataset, tmp_path):
    needs_r_packages()
    root, paths = dataset
    choice = pd.DataFrame({"individual": ["NA1", "NA2", "NA3"], "library": LIBRARIES[:3],
                           "runs": LIBRARIES[:3], "num_processed": 1, "n_libraries": 1,
                           "libraries_considered": LIBRARIES[:3]})
    choice.to_csv(tmp_path / "choice.tsv", sep="\t", index=False)
    genes = read_genes(root / "genes.tsv")
    gene_filter = pd.DataFrame({"keep": True}, index=pd.Index(genes.index[:-3], name="gene_id"))
    write_table(gene_filter, tmp_path / "gf.tsv.gz", index=True)
    with pytest.raises(KgpexError) as err:
        deseq2_expression_bed(list(paths.values()), tmp_path / "choice.tsv", root / "tx2gene.tsv",
                              tmp_path / "gf.tsv.gz", root / "genes.tsv", tmp_path / "out.bed.gz")
    assert one_line(err).startswith(f"{tmp_path / 'gf.tsv.gz'}: gene ")
    assert not (tmp_path / "out.bed.gz").exists()


def test_chosen_library_without_quant(tmp_path):
    choice = pd.DataFrame({"individual": ["NA1", "NA2"], "library": ["LIB1", "LIB9"]})
    quant = [tmp_path / "salmon" / lib / "quant.sf" for lib in ("LIB1", "LIB2")]
    with pytest.raises(KgpexError) as err:
        chosen_quant_paths(quant, choice, "choice.tsv")
    assert one_line(err) == "choice.tsv: chosen library LIB9 has no salmon quant.sf among the inputs"
    assert chosen_quant_paths(quant[:1], choice.iloc[:1]) == {"LIB1": quant[0]}


def test_gene_filter_keep_must_be_boolean(tmp_path):
    path = tmp_path / "gene_filter.tsv"
    path.write_text("gene_id\tkeep\nG1\tTrue\nG2\tyes\n")
    with pytest.raises(KgpexError) as err:
        read_gene_filter(path)
    assert one_line(err) == f"{path} line 3: keep must be True or False"
