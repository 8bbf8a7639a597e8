"""One library per individual: salmon's mapping rate and detected library type per library (a
library is quantified from all its runs: kgpex.samples.libraries), MAGE's choice of the library
with most processed reads, and the library QC plot."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kgpex.common.errors import KgpexError

LIBRARY_CHOICE_COLUMNS = [
    "individual", "library", "runs", "num_processed", "n_libraries", "libraries_considered",
]


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


def salmon_library_info(library: str, lib_format_counts: str | Path, meta_info: str | Path) -> dict:
    """One library's row of library_types.tsv, from lib_format_counts.json and
    aux_info/meta_info.json.

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
        "library": library,
        "salmon_format": salmon_format,
        "meta_library_types": ",".join(map(str, meta_types)),
        "compatible_fragment_ratio": float(_field(fmt, "compatible_fragment_ratio", lib_format_counts)),
        "isr_fraction": isr / (isf + isr) if isf + isr else float("nan"),
        "strand_mapping_bias": float(fmt.get("strand_mapping_bias", float("nan"))),
        "num_processed": num_processed,
        "num_mapped": int(_field(meta, "num_mapped", meta_info)),
        "percent_mapped": float(_field(meta, "percent_mapped", meta_info)),
    }


def library_types_table(
    infos: list[dict], requested_format: str, batches: dict[str, str], runs: dict[str, list[str]]
) -> pd.DataFrame:
    """library_types.tsv: one row per library (its runs, comma-separated), sorted by library."""
    df = pd.DataFrame(infos)
    df.insert(1, "requested_format", requested_format)
    df.insert(1, "runs", [",".join(runs[lib]) for lib in df["library"]])
    df.insert(1, "batch", [batches[lib] for lib in df["library"]])
    return df.sort_values("library", kind="stable").reset_index(drop=True)


def choose_libraries(libraries: pd.DataFrame) -> pd.DataFrame:
    """One library per individual: the one salmon processed most fragments (read pairs) from.

    MAGE kept, for each individual sequenced more than once, the library with the most reads.
    Ties go to the smallest library ID (string order), so the choice is reproducible.
    ``libraries`` has columns library, individual, runs, num_processed.
    """
    missing = {"library", "individual", "runs", "num_processed"} - set(libraries.columns)
    if missing:
        raise KgpexError(f"library choice: columns missing: {', '.join(sorted(missing))}")
    ordered = libraries.sort_values(
        ["individual", "num_processed", "library"],
        ascending=[True, False, True],
        kind="stable",
    )
    rows = []
    for individual, group in ordered.groupby("individual", sort=True):
        best = group.iloc[0]
        rows.append(
            {
                "individual": individual,
                "library": best["library"],
                "runs": best["runs"],
                "num_processed": int(best["num_processed"]),
                "n_libraries": len(group),
                "libraries_considered": ",".join(sorted(group["library"])),
            }
        )
    return pd.DataFrame(rows, columns=LIBRARY_CHOICE_COLUMNS)


def read_library_choice(path: str | Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", dtype={"individual": str, "library": str, "runs": str})
    missing = [c for c in LIBRARY_CHOICE_COLUMNS if c not in df.columns]
    if missing:
        raise KgpexError(f"{path}: columns missing: {', '.join(missing)}")
    dup = df["individual"][df["individual"].duplicated()]
    if not dup.empty:
        raise KgpexError(f"{path}: individual {dup.iloc[0]} has more than one library")
    return df


def plot_library_qc(types: pd.DataFrame, choice: pd.DataFrame, dest: str | Path) -> None:
    """Library sizes per run by batch (chosen libraries filled) and salmon's strand evidence."""
    from kgpex.common import plotting

    plt = plotting.pyplot()
    chosen = set(choice["library"])
    df = types.sort_values(["batch", "num_processed", "library"], kind="stable").reset_index(drop=True)
    colour = plotting.batch_colours(df["batch"].astype(str))
    batches = list(colour)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2, 1]})
    for batch in batches:
        sub = df[df["batch"].astype(str) == batch]
        is_chosen = sub["library"].isin(chosen).to_numpy()
        x = sub.index.to_numpy()
        y = sub["num_processed"].to_numpy() / 1e6
        ax1.scatter(x[is_chosen], y[is_chosen], color=colour[batch], s=18, label=batch)
        ax1.scatter(x[~is_chosen], y[~is_chosen], facecolors="none", edgecolors=colour[batch], s=30, marker="D")
        ax2.scatter(df.loc[sub.index, "isr_fraction"], df.loc[sub.index, "percent_mapped"], color=colour[batch], s=14)
    ax1.set_xticks([])
    n_rep = int((choice["n_libraries"] > 1).sum())
    plotting.label_axes(
        ax1,
        x=("libraries, grouped by batch and sorted by size", ""),
        y=("fragments processed by salmon", "millions"),
        title=f"{len(df)} libraries, {len(choice)} individuals ({n_rep} with replicates); "
        "filled = kept, open diamond = not kept",
    )
    if len(batches) <= 20:
        ax1.legend(title="batch", ncol=2, loc="best")
    formats = df["salmon_format"].value_counts().sort_index()
    plotting.label_axes(
        ax2,
        x=("ISR / (ISF + ISR): 1 reverse-stranded, 0.5 unstranded", "fraction"),
        y=("fragments mapped", "%"),
        title="salmon library type: " + ", ".join(f"{k} {v}" for k, v in formats.items()),
    )
    ax2.set_xlim(-0.02, 1.02)
    ax2.set_ylim(max(0.0, float(df["percent_mapped"].min()) - 5), 101)
    ax2.ticklabel_format(axis="y", useOffset=False)
    fig.tight_layout()
    plotting.save_figure(fig, dest)
