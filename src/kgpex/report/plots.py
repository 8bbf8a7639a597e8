"""The report's plots of a run's own outputs: per plot, a data function (the run's files in, what
is plotted out: a table or series, no drawing) and a plot function (that data in, a PNG out,
written atomically in kgpex's plotting style).

| plot | data function | reads |
|---|---|---|
| ``plot_mapping_rates`` | ``mapping_rates`` | salmon ``aux_info/meta_info.json``, ``runs.tsv``, ``library_choice.tsv`` |
| ``plot_library_types`` | ``library_type_counts`` | ``library_types.tsv`` |
| ``plot_expression_pca`` | ``expression_pca`` | inverse-normal BED, ``individuals.tsv`` (+ choice, runs) |
| ``plot_pvalue_qq`` | ``gene_pvalues`` | ``cis_genes.tsv.gz`` |
| ``plot_lead_tss_distance`` | ``lead_tss_distances`` | ``lead_variants.tsv.gz``, genes table |
| ``plot_credible_sets`` | ``credible_sets`` | ``credibleSet_summary``, ``lead_variants.tsv.gz`` |
| ``plot_afc_distribution`` | ``afc_values`` | ``leadVariant_aFCn`` |
| ``plot_egenes_per_chromosome`` | ``egenes_per_chromosome`` | ``cis_genes.tsv.gz``, genes table |

A missing file or column, or a value that is not a number where one is plotted, is one
KgpexError line naming the file and the column or row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from kgpex.common import plotting
from kgpex.common.errors import KgpexError
from kgpex.common.genome import chrom_rank

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------------------------
# Reading the run's files


def read_table(path: PathLike, columns: Iterable[str], text: Iterable[str] = ()) -> pd.DataFrame:
    """A tab-separated table (gzip or not) that must have ``columns``; ``text`` columns stay
    strings ("01" stays "01"); "NA" and empty fields are missing."""
    text = {c: str for c in text}
    try:
        df = pd.read_csv(path, sep="\t", dtype=text or None, na_values=["NA", ""],
                         keep_default_na=False, low_memory=False)
    except FileNotFoundError:
        raise KgpexError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read table ({str(err).splitlines()[0]})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: column {', '.join(missing)} missing")
    return df


def numeric(df: pd.DataFrame, column: str, path: PathLike) -> pd.Series:
    """``df[column]`` as floats (missing stays NaN); a value that is not a number is an error
    naming its line."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise KgpexError(
            f"{path} line {row + 2}: column {column}: {df[column].iat[row]!r} is not a number"
        )
    return values.astype(float)


def _read_json_field(path: PathLike, field: str):
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise KgpexError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise KgpexError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or field not in data:
        raise KgpexError(f"{path}: field '{field}' missing")
    return data[field]


def _library_batches(runs: PathLike) -> dict[str, str]:
    """library -> its batch ("+"-joined when its runs span several, as select_libraries)."""
    df = read_table(runs, ["library", "batch"], text=["library", "batch"])
    batches: dict[str, set[str]] = {}
    for library, batch in zip(df["library"], df["batch"]):
        batches.setdefault(library, set()).add(batch)
    return {lib: "+".join(sorted(b, key=plotting.natural_key)) for lib, b in batches.items()}


def _kept_libraries(choice: PathLike) -> pd.Series:
    """individual -> the library kept for it (library_choice.tsv)."""
    df = read_table(choice, ["individual", "library"], text=["individual", "library"])
    return df.set_index("individual")["library"]


def _genes(genes: PathLike, columns: Iterable[str]) -> pd.DataFrame:
    """The genes table (kgpex.reference.genes columns), indexed by gene_id."""
    df = read_table(genes, ["gene_id", *columns], text=["gene_id", "chrom", "strand"])
    dup = df["gene_id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise KgpexError(f"{genes} line {row + 2}: gene {df['gene_id'].iat[row]} listed twice")
    return df.set_index("gene_id")


def _unknown_gene(ids: pd.Series, genes: pd.DataFrame, path: PathLike, genes_path: PathLike,
                  column: str) -> None:
    unknown = ~ids.isin(genes.index)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise KgpexError(
            f"{path} line {row + 2}: {column} {ids.iat[row]} is not in the genes table {genes_path}"
        )


# ---------------------------------------------------------------------------------------------
# a. Mapping rate per library


def mapping_rates(meta_infos: Mapping[str, PathLike], runs: PathLike,
                  choice: PathLike) -> pd.DataFrame:
    """``library batch percent_mapped kept``, one row per library, sorted by library.

    ``meta_infos`` maps each library to its salmon ``aux_info/meta_info.json``; the batch is the
    runs sheet's (runs.tsv), ``kept`` whether library_choice.tsv kept the library.
    """
    batches = _library_batches(runs)
    kept = set(_kept_libraries(choice))
    rows = []
    for library in sorted(meta_infos):
        path = meta_infos[library]
        if library not in batches:
            raise KgpexError(f"{runs}: no run of library {library} (its salmon output: {path})")
        value = _read_json_field(path, "percent_mapped")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise KgpexError(f"{path}: field 'percent_mapped' is not a percentage: {value!r}")
        rows.append({"library": library, "batch": batches[library],
                     "percent_mapped": float(value), "kept": library in kept})
    if not rows:
        raise KgpexError(f"{runs}: no library has salmon output")
    return pd.DataFrame(rows, columns=["library", "batch", "percent_mapped", "kept"])


def plot_mapping_rates(rates: pd.DataFrame, dest: PathLike, title: str = "") -> None:
    """Percentage of fragments mapped per library, grouped and coloured by batch; kept libraries
    filled, replicates not kept as open diamonds; the cohort median as a line."""
    plt = plotting.pyplot()
    rates = rates.assign(batch=rates["batch"].astype(str))
    colours = plotting.batch_colours(rates["batch"])
    order = sorted(
        range(len(rates)),
        key=lambda i: (plotting.natural_key(rates["batch"].iat[i]), rates["percent_mapped"].iat[i]),
    )
    df = rates.iloc[order].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for batch, colour in colours.items():
        sub = df[df["batch"] == batch]
        kept = sub["kept"].to_numpy(dtype=bool)
        ax.scatter(sub.index[kept], sub["percent_mapped"][kept], s=16, color=colour,
                   label=f"{batch} ({len(sub)})")
        ax.scatter(sub.index[~kept], sub["percent_mapped"][~kept], s=26, marker="D",
                   facecolors="none", edgecolors=colour, linewidths=0.9)
    median = float(df["percent_mapped"].median())
    ax.axhline(median, color=plotting.REFERENCE, linewidth=1, linestyle="--")
    # Name the libraries well below the rest, so the reader can find them in the tables.
    low = df[df["percent_mapped"] < median - 10].nsmallest(10, "percent_mapped")
    for i, row in low.iterrows():
        ax.annotate(row["library"], (i, row["percent_mapped"]), xytext=(3, -3),
                    textcoords="offset points", fontsize=6)
    ax.set_xticks([])
    ax.set_ylim(max(0.0, float(df["percent_mapped"].min()) - 5), 101)
    n_rep = int((~df["kept"]).sum())
    plotting.label_axes(
        ax, x=("libraries, grouped by batch, sorted by mapping rate", ""),
        y=("fragments mapped by salmon", "%"),
        title=title or f"{len(df)} libraries ({n_rep} replicates not kept, open diamonds); "
        f"median {median:.1f} % mapped (dashed)",
    )
    if len(colours) <= 30:
        plotting.legend_outside(ax, title="batch (libraries)", ncol=1 if len(colours) <= 15 else 2)
    plotting.save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------
# b. Detected library type per library


def library_type_counts(types: PathLike) -> tuple[pd.DataFrame, list[str]]:
    """Libraries per salmon library type (rows, most common first) and batch (columns), from
    library_types.tsv's ``salmon_format``; and the library types requested of salmon (``A``:
    detected; anything else was forced)."""
    df = read_table(types, ["library", "batch", "salmon_format", "requested_format"],
                    text=["library", "batch", "salmon_format", "requested_format"])
    if df.empty:
        raise KgpexError(f"{types}: no libraries")
    counts = pd.crosstab(df["salmon_format"], df["batch"])
    counts = counts[sorted(counts.columns, key=plotting.natural_key)]
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    counts.index.name, counts.columns.name = "salmon_format", "batch"
    return counts, sorted(df["requested_format"].dropna().unique())


def plot_library_types(counts: pd.DataFrame, requested: list[str], dest: PathLike) -> None:
    """Bars: libraries per library type salmon used, stacked by batch."""
    plt = plotting.pyplot()
    colours = plotting.batch_colours(counts.columns)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(counts) + 3), 3.8))
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    for batch in counts.columns:
        values = counts[batch].to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, color=colours[str(batch)], label=str(batch), width=0.6)
        bottom += values
    for xi, total in zip(x, bottom):
        ax.annotate(f"{int(total)}", (xi, total), xytext=(0, 2), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, counts.index)
    detected = requested == ["A"]
    how = ("detected by salmon (-l A)" if detected
           else f"forced by -l {','.join(requested)}: not detected")
    plotting.label_axes(ax, x=("salmon library type", ""), y=("libraries", "count"),
                        title=f"Library type per library, {how}")
    ax.set_ylim(0, max(bottom.max(), 1) * 1.12)
    if counts.shape[1] <= 30:
        plotting.legend_outside(ax, title="batch", ncol=1 if counts.shape[1] <= 15 else 2)
    plotting.save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------
# c. Expression PCA


def expression_pca(bed: PathLike, individuals: PathLike, choice: PathLike | None = None,
                   runs: PathLike | None = None, n_pcs: int = 4) -> tuple[pd.DataFrame, pd.Series]:
    """PCs of the inverse-normal expression BED (genes centred and scaled, as the hidden factors:
    kgpex.covariates.hidden_factors), one row per sample: ``PC1..PCk population
    continental_group`` and, given the library choice and runs sheet (expression from reads),
    ``batch`` (of the individual's kept library). Also each PC's share of the variance (0-1)."""
    from kgpex.covariates.hidden_factors import expression_pcs, read_expression_bed

    matrix = read_expression_bed(bed)
    k = max(1, min(n_pcs, matrix.shape[1] - 1, matrix.shape[0]))
    factors, explained = expression_pcs(matrix, k)
    names = [f"PC{i}" for i in range(1, k + 1)]
    scores = pd.DataFrame(factors.to_numpy(), index=factors.index.astype(str), columns=names)
    people = read_table(individuals, ["individual", "population", "continental_group"],
                        text=["individual", "population", "continental_group"])
    people = people.set_index("individual")
    absent = [s for s in scores.index if s not in people.index]
    if absent:
        raise KgpexError(f"{individuals}: no row for sample {absent[0]} of {bed}")
    scores["population"] = people.loc[scores.index, "population"].fillna(plotting.UNKNOWN)
    scores["continental_group"] = people.loc[scores.index, "continental_group"].fillna(
        plotting.UNKNOWN)
    if choice is not None and runs is not None:
        batches = _library_batches(runs)
        kept = _kept_libraries(choice)
        scores["batch"] = [batches.get(kept.get(s), plotting.UNKNOWN) for s in scores.index]
    scores.index.name = "sample_id"
    share = pd.Series(explained.to_numpy()[:k], index=names, name="variance_explained")
    return scores, share


def _pc_pairs(scores: pd.DataFrame) -> list[tuple[str, str]]:
    pcs = [c for c in scores.columns if c.startswith("PC")]
    if len(pcs) >= 4:
        return [("PC1", "PC2"), ("PC3", "PC4")]
    if len(pcs) >= 2:
        return [("PC1", "PC2")]
    return [("PC1", "PC1")]


def plot_expression_pca(scores: pd.DataFrame, explained: pd.Series, dest: PathLike,
                        title: str = "") -> None:
    """PC1/PC2 and PC3/PC4 of the expression, one row of panels coloured by population (shades of
    the continental group's colour) and, when ``scores`` has ``batch``, one by batch."""
    plt = plotting.pyplot()
    pairs = _pc_pairs(scores)
    by_batch = "batch" in scores.columns
    nrows = 2 if by_batch else 1
    fig, axes = plt.subplots(nrows, len(pairs), figsize=(5 * len(pairs) + 2.5, 4.3 * nrows),
                             squeeze=False, layout="constrained")
    groups = dict(zip(scores["population"], scores["continental_group"]))
    pop_colours = plotting.population_colours(groups)
    pop_markers = plotting.population_markers(groups)
    # Legend entries "AFR · YRI (12)": the group beside each population.
    group_of = {p: f"{g} · " for p, g in plotting.population_groups(groups).items()}
    panels = [("population", plotting.population_order(groups), pop_colours, pop_markers,
               group_of)]
    if by_batch:
        batch_colours = plotting.batch_colours(scores["batch"])
        panels.append(("batch", list(batch_colours), batch_colours, {}, {}))
    for row, (column, levels, colours, markers, prefix) in enumerate(panels):
        for col, (xpc, ypc) in enumerate(pairs):
            ax = axes[row, col]
            for level in levels:
                sub = scores[scores[column].astype(str) == level]
                if sub.empty:
                    continue
                ax.scatter(sub[xpc], sub[ypc], s=14, alpha=0.9, color=colours[level],
                           marker=markers.get(level, "o"),
                           label=f"{prefix.get(level, '')}{level} ({len(sub)})")
            plotting.label_axes(
                ax, x=(xpc, f"{100 * explained[xpc]:.1f} % of variance"),
                y=(ypc, f"{100 * explained[ypc]:.1f} % of variance"),
                title=f"coloured by {column}",
            )
        many = len(levels) > 14
        if len(levels) <= 40:
            plotting.legend_outside(axes[row, -1], title=column, ncol=2 if many else 1)
    fig.suptitle(title or f"Expression PCs of the inverse-normal matrix, {len(scores)} samples")
    plotting.save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------
# d. QQ plot of gene-level p-values


def gene_pvalues(cis_genes: PathLike) -> pd.Series:
    """Each gene's beta-approximated permutation p-value (``pval_beta``), genes without one
    (no variant in the window) left out; index phenotype_id."""
    df = read_table(cis_genes, ["phenotype_id", "pval_beta"], text=["phenotype_id"])
    p = numeric(df, "pval_beta", cis_genes)
    outside = (p < 0) | (p > 1)
    if outside.any():
        row = int(np.flatnonzero(outside.to_numpy())[0])
        raise KgpexError(f"{cis_genes} line {row + 2}: pval_beta {p.iat[row]} is not in [0, 1]")
    return pd.Series(p.to_numpy(), index=df["phenotype_id"], name="pval_beta").dropna()


def plot_pvalue_qq(pvalues: pd.Series, dest: PathLike, title: str = "") -> None:
    """QQ plot of gene-level p-values against the uniform, with the 95 % band of the null."""
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    n = plotting.draw_qq(ax, pvalues, label="genes")
    plotting.label_axes(ax, x=("expected -log10 p (uniform)", ""),
                        y=("observed -log10 pval_beta", ""),
                        title=title or f"Gene-level p-values, {n} genes")
    ax.legend(loc="upper left")
    plotting.save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------
# e. Distance from each lead variant to its gene's TSS


def lead_tss_distances(lead_variants: PathLike, genes: PathLike,
                       stranded: bool = True) -> pd.DataFrame:
    """``ensemblID variantPosition tss strand distance_kb``, one row per lead variant (one per
    credible set). ``distance_kb`` = (variant - TSS) / 1000, negated on the minus strand so that
    upstream is negative, when ``stranded`` and the genes table has a strand; else in genome
    orientation (strand ".")."""
    lead = read_table(lead_variants, ["ensemblID", "variantPosition"], text=["ensemblID"])
    table = _genes(genes, ["tss"])
    _unknown_gene(lead["ensemblID"], table, lead_variants, genes, "ensemblID")
    position = numeric(lead, "variantPosition", lead_variants)
    if position.isna().any():
        row = int(np.flatnonzero(position.isna().to_numpy())[0])
        raise KgpexError(f"{lead_variants} line {row + 2}: variantPosition missing")
    tss = numeric(table, "tss", genes).reindex(lead["ensemblID"]).to_numpy()
    if stranded and "strand" in table.columns:
        strand = table["strand"].reindex(lead["ensemblID"]).fillna(".").to_numpy()
        bad = ~np.isin(strand, ["+", "-"])
        if bad.any():
            raise KgpexError(
                f"{genes}: gene {lead['ensemblID'].iat[int(np.flatnonzero(bad)[0])]}: strand "
                f"'{strand[bad][0]}' is not + or -"
            )
    else:
        strand = np.full(len(lead), ".")
    sign = np.where(strand == "-", -1.0, 1.0)
    return pd.DataFrame({
        "ensemblID": lead["ensemblID"].to_numpy(),
        "variantPosition": position.to_numpy().astype(np.int64),
        "tss": tss.astype(np.int64),
        "strand": strand,
        "distance_kb": sign * (position.to_numpy() - tss) / 1000.0,
    })


def plot_lead_tss_distance(distances: pd.DataFrame, dest: PathLike,
                           window_bp: int | None = None) -> None:
    """Histogram of lead variant - TSS distances in kb, the cis window's edges marked."""
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    d = distances["distance_kb"].to_numpy(dtype=float)
    stranded = bool(len(distances)) and (distances["strand"] != ".").all()
    half = window_bp / 1000.0 if window_bp else max(float(np.abs(d).max()) if len(d) else 1.0, 1.0)
    ax.hist(d, bins=np.linspace(-half, half, 81), color=plotting.ACCENT)
    ax.axvline(0, color=plotting.REFERENCE, linewidth=1)
    ax.set_xlim(-half, half)
    within = float(np.mean(np.abs(d) <= 10)) if len(d) else 0.0
    quantity = ("lead variant position relative to the TSS, upstream negative" if stranded
                else "lead variant position minus TSS, genome orientation")
    plotting.label_axes(
        ax, x=(quantity, "kb"), y=("lead variants", "count"),
        title=f"{len(d)} lead variants; {100 * within:.0f} % within 10 kb of the TSS",
    )
    plotting.save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------
# f. Credible sets


def credible_sets(summary: PathLike, lead_variants: PathLike) -> tuple[pd.Series, pd.Series]:
    """Each credible set's size (``numVariants`` of the credibleSet_summary table) and the PIP
    of each set's lead variant (``variantPIP`` of lead_variants.tsv.gz)."""
    sets = read_table(summary, ["ensemblID", "credibleSet", "numVariants"], text=["ensemblID"])
    sizes = numeric(sets, "numVariants", summary)
    if (sizes.isna() | (sizes < 1)).any():
        row = int(np.flatnonzero((sizes.isna() | (sizes < 1)).to_numpy())[0])
        raise KgpexError(f"{summary} line {row + 2}: numVariants must be a count >= 1")
    lead = read_table(lead_variants, ["ensemblID", "variantPIP"], text=["ensemblID"])
    pips = numeric(lead, "variantPIP", lead_variants)
    if (pips.isna() | (pips < 0) | (pips > 1)).any():
        row = int(np.flatnonzero((pips.isna() | (pips < 0) | (pips > 1)).to_numpy())[0])
        raise KgpexError(f"{lead_variants} line {row + 2}: variantPIP must be in [0, 1]")
    return (sizes.astype(np.int64).rename("numVariants").reset_index(drop=True),
            pips.rename("variantPIP").reset_index(drop=True))


def plot_credible_sets(sizes: pd.Series, lead_pips: pd.Series, dest: PathLike) -> None:
    """Two panels: credible set sizes (1 to 5, then widening ranges) and the lead variants'
    PIPs."""
    plt = plotting.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    s = sizes.to_numpy(dtype=np.int64)
    # Single sizes where most sets are, then widening ranges for the long tail.
    bins = [(k, k, str(k)) for k in range(1, 6)] + [
        (6, 10, "6-10"), (11, 20, "11-20"), (21, 50, "21-50"), (51, 100, "51-100"),
        (101, 200, "101-200"),
    ]
    if len(s) and s.max() > 200:
        bins.append((201, int(s.max()), ">200"))
    counts = [int(np.sum((s >= lo) & (s <= hi))) for lo, hi, _ in bins]
    x = np.arange(len(bins))
    left.bar(x, counts, color=plotting.ACCENT, width=0.8)
    left.set_xticks(x, [label for _, _, label in bins], rotation=45)
    single = float(np.mean(s == 1)) if len(s) else 0.0
    plotting.label_axes(
        left, x=("credible set size", "variants"), y=("credible sets", "count"),
        title=f"{len(s)} credible sets; median size {np.median(s) if len(s) else 0:g}, "
        f"{100 * single:.0f} % single-variant",
    )
    p = lead_pips.to_numpy(dtype=float)
    right.hist(p, bins=np.linspace(0, 1, 21), color=plotting.ACCENT)
    right.set_xlim(0, 1)
    high = float(np.mean(p > 0.5)) if len(p) else 0.0
    plotting.label_axes(
        right, x=("PIP of the set's lead variant", "probability"), y=("credible sets", "count"),
        title=f"{100 * high:.0f} % of lead variants with PIP > 0.5",
    )
    fig.tight_layout()
    plotting.save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------
# g. aFC-n effect sizes


def afc_values(afcn_table: PathLike) -> pd.Series:
    """``log2_aFC`` of each lead variant of the leadVariant_aFCn table (NaN where aFC-n gave
    none)."""
    df = read_table(afcn_table, ["ensemblID", "log2_aFC"], text=["ensemblID"])
    return numeric(df, "log2_aFC", afcn_table).rename("log2_aFC").reset_index(drop=True)


# An estimate this close to effect_sizes.afcn_bound is (nearly) stopped by it: one haplotype's
# expression is near zero, and the fold change is not measured.
NEAR_BOUND = 0.1


def plot_afc_distribution(log2_afc: pd.Series, dest: PathLike, bound: float | None = None) -> None:
    """Histogram of log2 aFC; zero and the fit's bounds (``effect_sizes.afcn_bound``) marked."""
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    values = log2_afc.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    reach = bound if bound else (float(np.abs(finite).max()) if len(finite) else 1.0)
    reach = max(reach, 0.5)
    ax.hist(finite, bins=np.linspace(-reach, reach, 61), color=plotting.ACCENT)
    ax.axvline(0, color=plotting.REFERENCE, linewidth=1)
    near_bound = 0
    if bound:
        for edge in (-bound, bound):
            ax.axvline(edge, color=plotting.REFERENCE, linewidth=1, linestyle="--")
        near_bound = int(np.sum(np.abs(finite) >= bound - NEAR_BOUND))
    ax.set_xlim(-reach * 1.02, reach * 1.02)
    n_missing = int(len(values) - len(finite))
    plotting.label_axes(
        ax, x=("allelic fold change, ALT / REF haplotype", "log2"),
        y=("lead variants", "count"),
        title=f"aFC-n: {len(finite)} lead variants, {n_missing} without an estimate"
        + (f", {near_bound} within {NEAR_BOUND:g} of the ±{bound:g} bound (dashed)"
           if bound else ""),
    )
    plotting.save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------
# h. eGenes per chromosome


def egenes_per_chromosome(cis_genes: PathLike, genes: PathLike, fdr: float,
                          sgenes: Iterable[str] | None = None) -> pd.DataFrame:
    """Per chromosome (genome order): ``tested`` genes, ``eGenes`` (``qval <= fdr``) and, when
    ``sgenes`` (the IDs of genes with a significant splicing QTL) is given, ``sGenes``.
    Chromosomes come from the genes table."""
    cis = read_table(cis_genes, ["phenotype_id", "qval"], text=["phenotype_id"])
    table = _genes(genes, ["chrom"])
    _unknown_gene(cis["phenotype_id"], table, cis_genes, genes, "phenotype_id")
    qval = numeric(cis, "qval", cis_genes)
    chroms = table["chrom"].reindex(cis["phenotype_id"]).to_numpy()
    counts = pd.DataFrame({
        "tested": pd.Series(chroms).value_counts(),
        "eGenes": pd.Series(chroms[(qval <= fdr).to_numpy()]).value_counts(),
    })
    if sgenes is not None:
        ids = pd.Series(sorted(set(sgenes)), dtype=str)
        _unknown_gene(ids, table, "splicing QTL genes", genes, "gene")
        counts = counts.join(table["chrom"].reindex(ids).value_counts().rename("sGenes"),
                             how="outer")
    counts = counts.fillna(0).astype(np.int64)
    counts = counts.iloc[np.argsort(chrom_rank(pd.Series(counts.index)).to_numpy(),
                                    kind="stable")]
    counts.index.name = "chrom"
    return counts


def plot_egenes_per_chromosome(counts: pd.DataFrame, dest: PathLike, fdr: float) -> None:
    """Bars of eGenes (and sGenes, when counted) per chromosome, each labelled with its share of
    the chromosome's tested genes."""
    plt = plotting.pyplot()
    series = [c for c in ("eGenes", "sGenes") if c in counts.columns]
    colours = {"eGenes": plotting.ACCENT, "sGenes": "#e67e22"}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(counts) + 2), 3.8))
    x = np.arange(len(counts))
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        xs = x + (i - (len(series) - 1) / 2) * width
        values = counts[name].to_numpy()
        ax.bar(xs, values, width=width, color=colours[name], label=f"{name} (q <= {fdr:g})")
        if name == "eGenes":
            for xi, v, tested in zip(xs, values, counts["tested"].to_numpy()):
                if tested:
                    ax.annotate(f"{100 * v / tested:.0f}%", (xi, v), xytext=(0, 2),
                                textcoords="offset points", ha="center", va="bottom",
                                fontsize=6)
    ax.set_xticks(x, counts.index, rotation=90 if len(counts) > 8 else 0)
    top = float(counts[series].to_numpy().max()) if len(counts) else 1.0
    ax.set_ylim(0, max(top, 1.0) * 1.15)
    total, tested = int(counts["eGenes"].sum()), int(counts["tested"].sum())
    plotting.label_axes(
        ax, x=("chromosome", ""), y=("genes", "count"),
        title=f"{total} eGenes of {tested} genes tested; labels: % of the chromosome's tested genes",
    )
    ax.legend(loc="upper right")
    plotting.save_figure(fig, dest)
