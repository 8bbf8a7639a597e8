"""MAGE's DESeq2-normalised expression (R tximport and DESeq2 through rpy2), log2(x + 1).

MAGE (mccoy-lab/MAGE, 01_data_preparation/expression_quantification/scripts/normalize_and_filter.R)
ran, on ALL genes before the gene filter:

1. ``tximport(files, type="salmon", tx2gene)``: gene counts (summed NumReads), TPM and the average
   transcript length per gene and sample (TPM-weighted mean EffectiveLength; where a gene has no
   TPM in a sample, the geometric mean of its lengths in the others, or with none anywhere the
   mean of its transcripts' effective lengths);
2. ``DESeqDataSetFromTximport(txi, colData, design=~1)`` (counts rounded to integers, the lengths
   stored as the ``avgTxLength`` assay), then ``DESeq(dds)``;
3. ``log2(counts(dds, normalized=TRUE) + 1)``, then kept the genes of the expression filter.

Normalised counts are counts / normalizationFactors(dds). With an ``avgTxLength`` assay these are
gene x sample factors (median-of-ratios size factors of the length-corrected counts, times the
lengths), set by ``estimateSizeFactors``. ``DESeq()`` calls exactly ``estimateSizeFactors(dds,
type="ratio")`` when no factors exist and never changes them afterwards: dispersions and the
Wald test only add row metadata, and the Cook's-distance outlier replacement (7 or more samples)
restores the original counts in ``counts(dds)``. So ``estimateSizeFactors`` alone gives the same
matrix, without fitting 60k genes x 731 samples; tests/test_deseq2.py checks this against R
running the full ``DESeq()`` on data with a replaced outlier.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex.common.errors import KgpexError
from kgpex.common.rpackages import import_r_packages
from kgpex.expression.aggregate import read_tx2gene
from kgpex.expression.libraries import read_library_choice
from kgpex.expression.matrices import selected_matrix, write_tss_bed
from kgpex.reference.genes import read_genes

log = logging.getLogger(__name__)

# The quant.sf columns tximport(type="salmon") reads.
SALMON_COLUMNS = ["Name", "EffectiveLength", "TPM", "NumReads"]

# tximport reads the files itself, so the result is R's. Inferential replicates (salmon
# --numBootstraps/--numGibbs) are dropped: they do not enter counts, TPM or lengths but would be
# read into memory for every library. tximport's and DESeq2's progress messages are suppressed
# (rpy2 logs R messages as warnings); R warnings and errors still come through.
_R_NORMALIZE = """
function(files, tx, gene) {
    txi <- suppressMessages(tximport::tximport(
        files, type = "salmon", tx2gene = data.frame(tx = tx, gene = gene),
        dropInfReps = TRUE))
    samples <- data.frame(library = names(files), row.names = names(files))
    dds <- suppressMessages(DESeq2::DESeqDataSetFromTximport(txi, samples, design = ~1))
    dds <- DESeq2::estimateSizeFactors(dds, quiet = TRUE)
    list(log_counts = log2(DESeq2::counts(dds, normalized = TRUE) + 1),
         factors = DESeq2::normalizationFactors(dds))
}
"""


@dataclass
class Deseq2Normalized:
    """Genes x libraries matrices of ``deseq2_normalize`` (R's row and column names)."""

    log_counts: pd.DataFrame  # log2(counts(dds, normalized=TRUE) + 1)
    factors: pd.DataFrame  # normalizationFactors(dds): counts / factors = normalised counts


def _r_deseq2():
    """rpy2.robjects with tximport and DESeq2 loaded, or a KgpexError saying what is missing."""
    ro, _ = import_r_packages(
        "DESeq2 normalisation",
        {"tximport": "Debian r-bioc-tximport", "DESeq2": "Debian r-bioc-deseq2"},
    )
    return ro


def _quant_header(path: Path) -> list[str]:
    try:
        with open(path) as fh:
            return fh.readline().rstrip("\r\n").split("\t")
    except FileNotFoundError:
        raise KgpexError(f"{path}: salmon quant.sf not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise KgpexError(f"{path}: unreadable quant.sf ({err})") from None


def _transcript_names(path: Path) -> pd.Index:
    try:
        names = pd.read_csv(path, sep="\t", usecols=["Name"], dtype=str)["Name"]
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise KgpexError(f"{path}: unreadable quant.sf ({' '.join(str(err).split())})") from None
    return pd.Index(names)


def check_quant_inputs(quant_paths: dict[str, Path], tx2gene: pd.Series, tx2gene_path) -> pd.Index:
    """Every quant.sf exists with tximport's columns, and tx2gene knows every transcript; returns
    the genes tximport will report (those with a transcript in quant.sf).

    tximport would silently drop transcripts missing from tx2gene ("transcripts missing from
    tx2gene: N"); here that is an error. Only the first file's transcripts are read: tximport
    itself stops when another file lists different ones (``_explain_r_failure`` names it).
    """
    if not quant_paths:
        raise KgpexError("DESeq2 normalisation: no salmon quantifications given")
    for library, path in quant_paths.items():
        missing = [c for c in SALMON_COLUMNS if c not in _quant_header(Path(path))]
        if missing:
            raise KgpexError(f"{path}: columns missing: {', '.join(missing)} (library {library})")
    first = Path(next(iter(quant_paths.values())))
    names = _transcript_names(first)
    dup = names.duplicated()
    if dup.any():
        line = int(np.flatnonzero(dup)[0]) + 2
        raise KgpexError(f"{first} line {line}: transcript {names[dup][0]} listed twice")
    unknown = ~names.isin(tx2gene.index)
    if unknown.any():
        raise KgpexError(
            f"{first}: transcript {names[unknown][0]} is not in {tx2gene_path}"
            + (f" ({int(unknown.sum())} transcripts unknown)" if unknown.sum() > 1 else "")
        )
    return pd.Index(tx2gene.reindex(names).unique(), name="gene_id")


def _explain_r_failure(quant_paths: dict[str, Path], err: Exception) -> KgpexError:
    """One line for an R error: the quant.sf whose transcripts differ from the first file's
    (tximport's bare ``all(txId == raw[[txIdCol]]) is not TRUE``), else R's own message."""
    reason = " ".join(str(err).split()) or type(err).__name__
    paths = [Path(p) for p in quant_paths.values()]
    try:
        first = _transcript_names(paths[0])
        for path in paths[1:]:
            if not _transcript_names(path).equals(first):
                return KgpexError(
                    f"{path}: transcripts differ from {paths[0]} "
                    "(quantified against another salmon index?)"
                )
    except KgpexError as unreadable:
        return unreadable
    return KgpexError(f"R tximport/DESeq2 failed on {len(paths)} quant.sf files: {reason}")


def _r_matrix_frame(matrix, index_name: str) -> pd.DataFrame:
    """An R numeric matrix as a float64 DataFrame with its row and column names."""
    return pd.DataFrame(
        np.array(matrix, dtype=np.float64),
        index=pd.Index(list(matrix.rownames), name=index_name),
        columns=pd.Index(list(matrix.colnames), name="library"),
    )


def deseq2_normalize(quant_paths: dict[str, str | Path], tx2gene_path: str | Path) -> Deseq2Normalized:
    """MAGE's DESeq2 normalisation of these libraries (library -> salmon quant.sf), on all genes.

    Genes are those with a transcript in quant.sf (tximport's gene set, as aggregate_genes');
    columns are the libraries in the order given. Every library enters the size factors, so pass
    only the libraries that are analysed (MAGE: one per individual).
    """
    quant_paths = {str(lib): Path(p) for lib, p in quant_paths.items()}
    tx2gene = read_tx2gene(tx2gene_path)
    check_quant_inputs(quant_paths, tx2gene, tx2gene_path)
    ro = _r_deseq2()
    files = ro.StrVector([os.fspath(p) for p in quant_paths.values()])
    files.names = ro.StrVector(list(quant_paths))
    try:
        result = ro.r(_R_NORMALIZE)(
            files, ro.StrVector(tx2gene.index.tolist()), ro.StrVector(tx2gene.tolist())
        )
    except Exception as err:  # rpy2's RRuntimeError, whatever R stopped on
        raise _explain_r_failure(quant_paths, err) from err
    out = Deseq2Normalized(
        log_counts=_r_matrix_frame(result.rx2("log_counts"), "gene_id"),
        factors=_r_matrix_frame(result.rx2("factors"), "gene_id"),
    )
    if list(out.log_counts.columns) != list(quant_paths):
        raise KgpexError("R tximport/DESeq2 returned other libraries than it was given")
    return out


def deseq2_log_counts(quant_paths: dict[str, str | Path], tx2gene_path: str | Path) -> pd.DataFrame:
    """Genes x libraries ``log2(counts(dds, normalized=TRUE) + 1)`` (``deseq2_normalize``)."""
    return deseq2_normalize(quant_paths, tx2gene_path).log_counts


def library_factors(factors: pd.DataFrame) -> pd.Series:
    """Per library, the geometric mean over genes of DESeq2's normalisation factors.

    With transcript lengths DESeq2 has one factor per gene and sample, each gene's geometric
    mean over samples being 1; this per-library summary is then the size factor up to a common
    scale (its geometric mean over libraries is 1).
    """
    return np.exp(np.log(factors).mean(axis=0))


def read_gene_filter(path: str | Path) -> pd.Series:
    """gene_filter.tsv.gz of normalize_expression: its ``keep`` column, indexed by gene_id."""
    try:
        df = pd.read_csv(path, sep="\t", dtype={"gene_id": str})
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise KgpexError(f"{path}: cannot read gene filter ({' '.join(str(err).split())})") from None
    missing = [c for c in ("gene_id", "keep") if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: columns missing: {', '.join(missing)}")
    if df["keep"].dtype != bool:
        bad = ~df["keep"].astype(str).isin(["True", "False"])
        line = int(np.flatnonzero(bad)[0]) + 2 if bad.any() else 2
        raise KgpexError(f"{path} line {line}: keep must be True or False")
    dup = df["gene_id"].duplicated()
    if dup.any():
        line = int(np.flatnonzero(dup)[0]) + 2
        raise KgpexError(f"{path} line {line}: gene {df['gene_id'][dup].iloc[0]} listed twice")
    return pd.Series(df["keep"].to_numpy(), index=pd.Index(df["gene_id"], name="gene_id"), name="keep")


def check_filter_genes(keep: pd.Series, genes: pd.Index, gene_filter_path) -> None:
    """The filter must list exactly the quantified genes: another gene set means it was made
    from other quantifications or another tx2gene."""
    only_filter = keep.index.difference(genes)
    only_deseq2 = genes.difference(keep.index)
    if len(only_filter) or len(only_deseq2):
        gene, where = (only_filter[0], "not in the quantifications") if len(only_filter) else (
            only_deseq2[0], "missing from it")
        raise KgpexError(
            f"{gene_filter_path}: gene {gene} is {where} "
            f"({len(only_filter)} genes only in the filter, {len(only_deseq2)} only in quant.sf)"
        )
    if not keep.any():
        raise KgpexError(f"{gene_filter_path}: no gene is kept")


def chosen_quant_paths(
    quant: list[str | Path], choice: pd.DataFrame, choice_path: str | Path = "library choice"
) -> dict[str, Path]:
    """library -> quant.sf for the chosen libraries, in the choice's individual order.

    A library's quant.sf lies in a folder named after the library (results/{cohort}/salmon/
    {library}/quant.sf), so the folder name identifies it.
    """
    by_library = {}
    for path in map(Path, quant):
        if path.parent.name in by_library:
            raise KgpexError(f"{path}: a second quant.sf for library {path.parent.name}")
        by_library[path.parent.name] = path
    chosen = choice.sort_values("individual")["library"]
    missing = [lib for lib in chosen if lib not in by_library]
    if missing:
        raise KgpexError(f"{choice_path}: chosen library {missing[0]} has no salmon quant.sf among the inputs")
    return {lib: by_library[lib] for lib in chosen}


def deseq2_expression_bed(
    quant: list[str | Path],
    choice_path: str | Path,
    tx2gene_path: str | Path,
    gene_filter_path: str | Path,
    genes_path: str | Path,
    dest: str | Path,
) -> dict:
    """rule deseq2_normalize: DESeq2 on the chosen libraries, filtered to the expression filter's
    genes, written as MAGE's TSS BED (bgzip + tabix) with individuals as columns. Returns counts
    and the size-factor range for the log."""
    choice = read_library_choice(choice_path)
    genes = read_genes(genes_path)
    keep = read_gene_filter(gene_filter_path)
    unknown = keep.index[keep.to_numpy() & ~keep.index.isin(genes.index)]
    if len(unknown):
        raise KgpexError(f"{genes_path}: gene {unknown[0]} of {gene_filter_path} is not annotated")
    paths = chosen_quant_paths(quant, choice, choice_path)
    # The gene set is known from tx2gene and one quant.sf: check the filter before R runs.
    check_filter_genes(keep, check_quant_inputs(paths, read_tx2gene(tx2gene_path), tx2gene_path),
                       gene_filter_path)
    result = deseq2_normalize(paths, tx2gene_path)
    check_filter_genes(keep, result.log_counts.index, gene_filter_path)  # R's genes, the same
    matrix = selected_matrix(result.log_counts.loc[keep.index[keep.to_numpy()]], choice,
                             "DESeq2 matrix")
    write_tss_bed(matrix, genes, dest)
    sf = library_factors(result.factors)
    return {
        "genes_in": int(result.log_counts.shape[0]),
        "genes_kept": int(matrix.shape[0]),
        "samples": int(matrix.shape[1]),
        "factor_min": float(sf.min()),
        "factor_min_library": str(sf.idxmin()),
        "factor_max": float(sf.max()),
        "factor_max_library": str(sf.idxmax()),
    }
