"""From salmon's per-run output to MAGE-style expression matrices.

- ``salmon_run_info`` / ``library_types_table``: what salmon saw in each run (library type,
  fragments processed and mapped).
- ``choose_libraries``: one library per individual, the one with the most reads (MAGE's rule).
- ``aggregate_genes``: tximport(countsFromAbundance="no"): gene counts = summed NumReads,
  gene TPM = summed TPM.
- ``normalize_expression``: filter, TMM-CPM and inverse normal transform (``kgpex.normalize``),
  then the TSS BED matrices and the filtered-genes table.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kgpex import normalize
from kgpex.errors import KgpexError

log = logging.getLogger("kgpex.expression")

QUANT_COLUMNS = ["Name", "Length", "EffectiveLength", "TPM", "NumReads"]
GENES_COLUMNS = ["gene_id", "gene_name", "gene_type", "chrom", "start", "end", "strand", "tss"]
LIBRARY_CHOICE_COLUMNS = [
    "individual", "run_accession", "num_processed", "n_libraries", "runs_considered",
]
# Header of expression_filteredGenes.{TAG}.txt.gz: MAGE's confirmed column names (chrom,
# ensemblID, geneType) with the gene body as BED (0-based start, end) and the GTF gene_name.
FILTERED_GENES_COLUMNS = ["chrom", "start", "end", "ensemblID", "geneSymbol", "geneType"]
BED_ID_COLUMNS = ["#Chr", "start", "end", "ID"]


# ----------------------------------------------------------------------------- salmon output


def _read_json(path: str | Path) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise KgpexError(f"{path}: salmon output not found") from None
    except json.JSONDecodeError as err:
        raise KgpexError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None


def _field(data: dict, key: str, path) -> object:
    if key not in data:
        raise KgpexError(f"{path}: field '{key}' missing")
    return data[key]


def salmon_run_info(run: str, lib_format_counts: str | Path, meta_info: str | Path) -> dict:
    """One run's row of library_types.tsv, from lib_format_counts.json and aux_info/meta_info.json.

    ``salmon_format`` is the library type salmon used: with ``-l A`` the one it detected.
    ``isr_fraction`` = ISR / (ISF + ISR) over compatible paired fragments: about 1 for dUTP
    stranded libraries, 0.5 for unstranded; it stays informative when ``-l IU`` is forced.
    """
    fmt = _read_json(lib_format_counts)
    meta = _read_json(meta_info)
    salmon_format = str(_field(fmt, "expected_format", lib_format_counts))
    meta_types = _field(meta, "library_types", meta_info)
    isf, isr = int(fmt.get("ISF", 0)), int(fmt.get("ISR", 0))
    num_processed = _field(meta, "num_processed", meta_info)
    if not isinstance(num_processed, int) or num_processed < 0:
        raise KgpexError(f"{meta_info}: field 'num_processed' is not a count: {num_processed!r}")
    return {
        "run_accession": run,
        "salmon_format": salmon_format,
        "meta_library_types": ",".join(map(str, meta_types)),
        "compatible_fragment_ratio": float(_field(fmt, "compatible_fragment_ratio", lib_format_counts)),
        "isr_fraction": isr / (isf + isr) if isf + isr else float("nan"),
        "strand_mapping_bias": float(fmt.get("strand_mapping_bias", float("nan"))),
        "num_processed": num_processed,
        "num_mapped": int(_field(meta, "num_mapped", meta_info)),
        "percent_mapped": float(_field(meta, "percent_mapped", meta_info)),
    }


def library_types_table(infos: list[dict], requested_format: str, batches: dict[str, str]) -> pd.DataFrame:
    """library_types.tsv: one row per run, sorted by run accession."""
    df = pd.DataFrame(infos)
    df.insert(1, "requested_format", requested_format)
    df.insert(1, "batch", [batches[r] for r in df["run_accession"]])
    return df.sort_values("run_accession", kind="stable").reset_index(drop=True)


def choose_libraries(runs: pd.DataFrame) -> pd.DataFrame:
    """One library per individual: the one salmon processed most fragments (read pairs) from.

    MAGE kept, for each individual sequenced more than once, the library with the most reads.
    Ties go to the smallest run accession (string order), so the choice is reproducible.
    ``runs`` has columns run_accession, individual, num_processed.
    """
    missing = {"run_accession", "individual", "num_processed"} - set(runs.columns)
    if missing:
        raise KgpexError(f"library choice: columns missing: {', '.join(sorted(missing))}")
    ordered = runs.sort_values(
        ["individual", "num_processed", "run_accession"],
        ascending=[True, False, True],
        kind="stable",
    )
    rows = []
    for individual, group in ordered.groupby("individual", sort=True):
        best = group.iloc[0]
        rows.append(
            {
                "individual": individual,
                "run_accession": best["run_accession"],
                "num_processed": int(best["num_processed"]),
                "n_libraries": len(group),
                "runs_considered": ",".join(sorted(group["run_accession"])),
            }
        )
    return pd.DataFrame(rows, columns=LIBRARY_CHOICE_COLUMNS)


def read_library_choice(path: str | Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", dtype={"individual": str, "run_accession": str})
    missing = [c for c in LIBRARY_CHOICE_COLUMNS if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: columns missing: {', '.join(missing)}")
    dup = df["individual"][df["individual"].duplicated()]
    if not dup.empty:
        raise KgpexError(f"{path}: individual {dup.iloc[0]} has more than one library")
    return df


# ----------------------------------------------------------------------------- gene aggregation


def read_tx2gene(path: str | Path) -> pd.Series:
    """tx2gene.tsv (transcript_id gene_id) as a Series transcript -> gene."""
    df = pd.read_csv(path, sep="\t", dtype=str)
    if list(df.columns[:2]) != ["transcript_id", "gene_id"]:
        raise KgpexError(f"{path}: header must start with transcript_id, gene_id")
    if df["transcript_id"].isna().any() or df["gene_id"].isna().any():
        line = int(np.flatnonzero(df[["transcript_id", "gene_id"]].isna().any(axis=1))[0]) + 2
        raise KgpexError(f"{path} line {line}: empty transcript_id or gene_id")
    dup = df["transcript_id"].duplicated()
    if dup.any():
        line = int(np.flatnonzero(dup)[0]) + 2
        raise KgpexError(f"{path} line {line}: transcript {df['transcript_id'][dup].iloc[0]} listed twice")
    return pd.Series(df["gene_id"].to_numpy(), index=df["transcript_id"].to_numpy(), name="gene_id")


def read_quant(path: str | Path) -> pd.DataFrame:
    """salmon quant.sf: transcripts (index Name) with TPM and NumReads as float64."""
    path = Path(path)
    try:
        df = pd.read_csv(
            path, sep="\t", dtype={"Name": str, "TPM": np.float64, "NumReads": np.float64},
            usecols=lambda c: c in QUANT_COLUMNS,
        )
    except FileNotFoundError:
        raise KgpexError(f"{path}: salmon quant.sf not found") from None
    except ValueError as err:
        raise KgpexError(f"{path}: unreadable quant.sf ({err})") from None
    missing = [c for c in QUANT_COLUMNS if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: columns missing: {', '.join(missing)}")
    for col in ("TPM", "NumReads"):
        bad = ~np.isfinite(df[col].to_numpy()) | (df[col].to_numpy() < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise KgpexError(f"{path} line {i + 2}: {col} is not a non-negative number")
    return df.set_index("Name")[["TPM", "NumReads"]]


def aggregate_genes(
    quant_paths: dict[str, str | Path], tx2gene: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gene x run matrices of counts (summed NumReads) and TPM (summed TPM), as tximport does.

    Genes are those with at least one transcript in quant.sf, sorted by ID (tximport's rowsum
    order). Every quant.sf must list the same transcripts (one salmon index); a transcript that
    tx2gene does not know is an error, not a silent drop.
    """
    runs = sorted(quant_paths)
    if not runs:
        raise KgpexError("aggregate_genes: no salmon quantifications given")
    first_path = quant_paths[runs[0]]
    first = read_quant(first_path)
    transcripts = first.index
    if transcripts.duplicated().any():
        raise KgpexError(f"{first_path}: transcript {transcripts[transcripts.duplicated()][0]} listed twice")
    unknown = ~transcripts.isin(tx2gene.index)
    if unknown.any():
        names = transcripts[unknown]
        raise KgpexError(
            f"{first_path}: transcript {names[0]} is not in tx2gene"
            + (f" ({unknown.sum()} transcripts unknown)" if unknown.sum() > 1 else "")
        )
    transcript_genes = tx2gene.reindex(transcripts).to_numpy()
    genes, gene_index = np.unique(transcript_genes, return_inverse=True)
    counts = np.empty((genes.size, len(runs)))
    tpm = np.empty((genes.size, len(runs)))
    for j, run in enumerate(runs):
        quant = first if j == 0 else read_quant(quant_paths[run])
        if not quant.index.equals(transcripts):
            raise KgpexError(
                f"{quant_paths[run]}: transcripts differ from {first_path} "
                "(quantified against another salmon index?)"
            )
        counts[:, j] = np.bincount(gene_index, weights=quant["NumReads"].to_numpy(), minlength=genes.size)
        tpm[:, j] = np.bincount(gene_index, weights=quant["TPM"].to_numpy(), minlength=genes.size)
    index = pd.Index(genes, name="gene_id")
    columns = pd.Index(runs, name="run_accession")
    log.info("aggregated %d transcripts into %d genes for %d runs", transcripts.size, genes.size, len(runs))
    return (
        pd.DataFrame(counts, index=index, columns=columns),
        pd.DataFrame(tpm, index=index, columns=columns),
    )


# ----------------------------------------------------------------------------- genes and BEDs


def read_genes(path: str | Path) -> pd.DataFrame:
    """genes.tsv of the reference stage, indexed by gene_id."""
    df = pd.read_csv(path, sep="\t", dtype={"gene_id": str, "gene_name": str, "gene_type": str, "chrom": str, "strand": str})
    missing = [c for c in GENES_COLUMNS if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: columns missing: {', '.join(missing)}")
    dup = df["gene_id"].duplicated()
    if dup.any():
        raise KgpexError(f"{path} line {int(np.flatnonzero(dup)[0]) + 2}: gene {df['gene_id'][dup].iloc[0]} listed twice")
    for col in ("start", "end", "tss"):
        if not pd.api.types.is_integer_dtype(df[col]) or (df[col] < 1).any():
            raise KgpexError(f"{path}: column {col} must hold 1-based positions")
    return df.set_index("gene_id")


def chrom_sort_key(chrom: str) -> tuple:
    """chr1 < chr2 < ... < chr22 < chrX < chrY < chrM < anything else (by name)."""
    name = chrom[3:] if chrom.startswith("chr") else chrom
    if name.isdigit():
        return (0, int(name), "")
    order = {"X": 1, "Y": 2, "M": 3, "MT": 3}
    return (order.get(name, 4), 0, name)


def _sort_by_position(df: pd.DataFrame, chrom_col: str, pos_col: str, id_col: str) -> pd.DataFrame:
    chroms = sorted(df[chrom_col].unique(), key=chrom_sort_key)
    keys = pd.DataFrame(
        {
            "rank": df[chrom_col].map({c: i for i, c in enumerate(chroms)}).to_numpy(),
            "pos": df[pos_col].to_numpy(),
            "id": df[id_col].to_numpy(),
        }
    )
    order = keys.sort_values(["rank", "pos", "id"], kind="mergesort").index
    return df.iloc[order].reset_index(drop=True)


def tss_bed(matrix: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """A gene x sample matrix as MAGE's TSS BED: ``#Chr start end ID <samples>``, one row per gene
    at its TSS (start = TSS - 1, end = TSS), sorted by chromosome and TSS; samples sorted."""
    annot = genes.loc[matrix.index]
    bed = pd.DataFrame(
        {
            "#Chr": annot["chrom"].to_numpy(),
            "start": annot["tss"].to_numpy() - 1,
            "end": annot["tss"].to_numpy(),
            "ID": matrix.index.to_numpy(),
        }
    )
    samples = sorted(matrix.columns)
    bed = pd.concat([bed, matrix[samples].reset_index(drop=True)], axis=1)
    return _sort_by_position(bed, "#Chr", "start", "ID")


def filtered_genes_table(gene_ids, genes: pd.DataFrame) -> pd.DataFrame:
    """expression_filteredGenes: ``chrom start end ensemblID geneSymbol geneType``, gene body
    as BED (start 0-based), sorted by chromosome and start."""
    annot = genes.loc[list(gene_ids)]
    table = pd.DataFrame(
        {
            "chrom": annot["chrom"].to_numpy(),
            "start": annot["start"].to_numpy() - 1,
            "end": annot["end"].to_numpy(),
            "ensemblID": annot.index.to_numpy(),
            "geneSymbol": annot["gene_name"].to_numpy(),
            "geneType": annot["gene_type"].to_numpy(),
        }
    )
    return _sort_by_position(table, "chrom", "start", "ensemblID")


# ----------------------------------------------------------------------------- normalisation


@dataclass
class NormalizedExpression:
    """The matrices of ``normalize_expression`` (genes x individuals) and its bookkeeping."""

    raw_counts: pd.DataFrame  # filtered, summed NumReads
    tmm_cpm: pd.DataFrame  # filtered TMM-CPM
    inverse_normal: pd.DataFrame  # filtered, per-gene inverse normal transform of tmm_cpm
    factors: pd.DataFrame  # individual run_accession lib_size tmm_factor effective_lib_size
    gene_filter: pd.DataFrame  # per input gene: n_samples_tpm n_samples_counts pass_* keep
    summary: dict


def selected_matrix(matrix: pd.DataFrame, choice: pd.DataFrame, label: str) -> pd.DataFrame:
    """The chosen run of each individual, columns renamed to individual IDs and sorted."""
    missing = [r for r in choice["run_accession"] if r not in matrix.columns]
    if missing:
        raise KgpexError(f"{label}: chosen run {missing[0]} is not among its columns")
    runs = choice.sort_values("individual")
    out = matrix[list(runs["run_accession"])].copy()
    out.columns = pd.Index(list(runs["individual"]), name="individual")
    return out


def normalize_expression(
    counts_all: pd.DataFrame,
    tpm_all: pd.DataFrame | None,
    choice: pd.DataFrame,
    genes: pd.DataFrame,
    min_tpm: float = 0.1,
    min_counts: float = 6,
    min_sample_fraction: float = 0.2,
    chromosomes: list[str] | None = None,
) -> NormalizedExpression:
    """MAGE's normalisation of the chosen libraries (see ``kgpex.normalize``). ``tpm_all`` None
    (a counts matrix without TPM, kgpex.matrix_input) filters on counts only."""
    counts = selected_matrix(counts_all, choice, "gene counts")
    tpm = None if tpm_all is None else selected_matrix(tpm_all, choice, "gene TPM")
    if tpm is not None and not counts.index.equals(tpm.index):
        raise KgpexError("gene counts and gene TPM matrices list different genes")
    unknown = counts.index[~counts.index.isin(genes.index)]
    if len(unknown):
        raise KgpexError(f"genes.tsv: gene {unknown[0]} of the quantifications is not annotated ({len(unknown)} genes)")

    lib_size = normalize.library_sizes(counts.to_numpy())
    factors = normalize.tmm_factors(counts)  # on ALL genes, before the filter (as MAGE)
    cpm = normalize.tmm_cpm(counts, factors, lib_size)

    gene_filter = normalize.expression_filter(tpm, counts, min_tpm, min_counts, min_sample_fraction)
    chrom = genes.loc[counts.index, "chrom"]
    gene_filter["on_chromosome"] = chrom.isin(chromosomes).to_numpy() if chromosomes is not None else True
    gene_filter["keep"] = gene_filter["keep"] & gene_filter["on_chromosome"]
    keep = gene_filter.index[gene_filter["keep"].to_numpy()]
    if len(keep) == 0:
        raise KgpexError("expression filter: no gene passes (check expression.min_tpm, min_counts, chromosomes)")

    tmm_filtered = cpm.loc[keep]
    choice_sorted = choice.sort_values("individual")
    factor_table = pd.DataFrame(
        {
            "individual": choice_sorted["individual"].to_numpy(),
            "run_accession": choice_sorted["run_accession"].to_numpy(),
            "lib_size": lib_size,
            "tmm_factor": factors,
            "effective_lib_size": lib_size * factors,
        }
    )
    need = normalize.min_samples_required(min_sample_fraction, counts.shape[1])
    summary = {
        "genes_in": int(counts.shape[0]),
        "samples": int(counts.shape[1]),
        "min_samples": need,
        "genes_pass_tpm": int(gene_filter["pass_tpm"].sum()),
        "genes_pass_counts": int(gene_filter["pass_counts"].sum()),
        "genes_pass_both": int((gene_filter["pass_tpm"] & gene_filter["pass_counts"]).sum()),
        "genes_on_chromosomes": int(gene_filter["on_chromosome"].sum()),
        "genes_kept": int(len(keep)),
    }
    return NormalizedExpression(
        raw_counts=counts.loc[keep],
        tmm_cpm=tmm_filtered,
        inverse_normal=normalize.inverse_normal_transform(tmm_filtered),
        factors=factor_table,
        gene_filter=gene_filter,
        summary=summary,
    )


# ----------------------------------------------------------------------------- QC plot


def plot_library_qc(types: pd.DataFrame, choice: pd.DataFrame, dest: str | Path) -> None:
    """Library sizes per run by batch (chosen libraries filled) and salmon's strand evidence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kgpex.io import atomic_path

    chosen = set(choice["run_accession"])
    df = types.sort_values(["batch", "num_processed", "run_accession"], kind="stable").reset_index(drop=True)
    batches = sorted(df["batch"].unique(), key=_natural_key)
    cmap = plt.get_cmap("tab20" if len(batches) > 10 else "tab10")
    colour = {b: cmap(i % cmap.N) for i, b in enumerate(batches)}

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2, 1]})
    for batch in batches:
        sub = df[df["batch"] == batch]
        is_chosen = sub["run_accession"].isin(chosen).to_numpy()
        x = sub.index.to_numpy()
        y = sub["num_processed"].to_numpy() / 1e6
        ax1.scatter(x[is_chosen], y[is_chosen], color=colour[batch], s=18, label=batch)
        ax1.scatter(x[~is_chosen], y[~is_chosen], facecolors="none", edgecolors=colour[batch], s=30, marker="D")
        ax2.scatter(df.loc[sub.index, "isr_fraction"], df.loc[sub.index, "percent_mapped"], color=colour[batch], s=14)
    ax1.set_xticks([])
    ax1.set_xlabel("runs, grouped by batch and sorted by size")
    ax1.set_ylabel("fragments processed by salmon (millions)")
    n_rep = int((choice["n_libraries"] > 1).sum())
    ax1.set_title(
        f"{len(df)} libraries, {len(choice)} individuals ({n_rep} with replicates); "
        "filled = kept, open diamond = not kept",
        fontsize=9,
    )
    if len(batches) <= 20:
        ax1.legend(title="batch", fontsize=7, ncol=2, loc="best")
    formats = df["salmon_format"].value_counts().sort_index()
    ax2.set_title(
        "salmon library type: " + ", ".join(f"{k} {v}" for k, v in formats.items()), fontsize=9
    )
    ax2.set_xlabel("ISR / (ISF + ISR): 1 reverse-stranded, 0.5 unstranded")
    ax2.set_ylabel("% fragments mapped")
    ax2.set_xlim(-0.02, 1.02)
    ax2.set_ylim(max(0.0, float(df["percent_mapped"].min()) - 5), 101)
    ax2.ticklabel_format(axis="y", useOffset=False)
    fig.tight_layout()
    with atomic_path(dest, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _natural_key(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]
