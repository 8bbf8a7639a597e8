"""One plotting style for every kgpex plot (the Snakemake report's figures).

- ``pyplot()``: matplotlib on the Agg backend (no display on a cluster node) with ``STYLE``,
  the shared rc settings (font sizes, grid, dpi); every plot function starts with it.
- Colours: ``group_colour``/``group_colours`` for the continental groups, always the same colour
  for a group in every plot; ``population_colours`` shades each population within its group's
  hue (with ``population_markers`` to tell shades apart); ``batch_colours`` for sequencing
  batches; ``ACCENT``/``REFERENCE``/``MUTED`` for single-series plots.
- ``label_axes``/``axis_label``: axis labels that carry their unit, ``"distance to TSS (kb)"``.
- ``draw_qq``: a p-value QQ plot with its 95 % band; ``legend_outside``.
- ``save_figure(fig, dest)``: written under a temporary name, then renamed (kgpex.common.io).
"""

from __future__ import annotations

import colorsys
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from kgpex.common.io import atomic_path

DPI = 120

# Single-series colours: none is a continental group's, so a plain histogram is never read as
# one group's data.
ACCENT = "#34495e"
REFERENCE = "#c0392b"  # expected lines, thresholds
MUTED = "#bdbdbd"  # what is shown but not used (PCs not kept, replicates)

STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",  # legends placed outside the axes stay in the file
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7,
    "legend.title_fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 11,
    "axes.grid": True,
    "grid.color": "#e0e0e0",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.markersize": 4,
    "scatter.edgecolors": "none",
}

# The 1000 Genomes continental groups (IGSR "superpopulations") in the usual order, with the
# colours of the IGSR data portal (internationalgenome.org/data-portal/population: the
# "Superpopulation display colour" and "display order" columns of its populations table,
# igsr_populations.tsv, release 2021-07-28): the colours IGSR shows its superpopulations in.
CONTINENTAL_GROUPS = ("AFR", "AMR", "EAS", "EUR", "SAS")
GROUP_COLOURS = {
    "AFR": "#ffd845",
    "AMR": "#710027",
    "EAS": "#778500",
    "EUR": "#018ead",
    "SAS": "#c44cfd",
}
# The phase 3 populations of each group (IGSR's table), in the order their shades are given, so a
# population keeps its shade whichever others a cohort has.
KGP_POPULATIONS = {
    "AFR": ("ACB", "ASW", "ESN", "GWD", "LWK", "MSL", "YRI"),
    "AMR": ("CLM", "MXL", "PEL", "PUR"),
    "EAS": ("CDX", "CHB", "CHS", "JPT", "KHV"),
    "EUR": ("CEU", "FIN", "GBR", "IBS", "TSI"),
    "SAS": ("BEB", "GIH", "ITU", "PJL", "STU"),
}
KGP_POPULATION_GROUP = {pop: group for group, pops in KGP_POPULATIONS.items() for pop in pops}
# Groups outside the five (another cohort's labels): these, in sorted order; missing ones grey.
OTHER_GROUP_COLOURS = ("#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#e377c2")
UNKNOWN = "NA"
UNKNOWN_COLOUR = "#9e9e9e"
_MISSING = {"", "NA", "NAN", "NONE", "UNKNOWN"}
# Markers cycle within a group so that neighbouring shades stay apart.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def pyplot():
    """matplotlib.pyplot on the Agg backend with kgpex's style set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def is_missing(label) -> bool:
    """None, NaN, "", "NA" and the like: a label the cohort's tables do not have."""
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return True
    return str(label).strip().upper() in _MISSING


def natural_key(text) -> list:
    """Sort key: "batch2" before "batch10"."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]


def group_order(groups: Iterable) -> list[str]:
    """The groups present, the five 1000 Genomes groups first in their usual order, then others
    sorted, missing ones ("NA") last."""
    present = {UNKNOWN if is_missing(g) else str(g) for g in groups}
    known = [g for g in CONTINENTAL_GROUPS if g in present]
    others = sorted(present - set(CONTINENTAL_GROUPS) - {UNKNOWN}, key=natural_key)
    return known + others + ([UNKNOWN] if UNKNOWN in present else [])


def group_colour(group, others: Iterable = ()) -> str:
    """A continental group's colour: the same in every plot. A group outside the five gets a
    colour by its place among ``others`` (all such groups of the cohort); a missing one grey."""
    if is_missing(group):
        return UNKNOWN_COLOUR
    group = str(group)
    if group in GROUP_COLOURS:
        return GROUP_COLOURS[group]
    extra = sorted({str(g) for g in others if not is_missing(g)} - set(GROUP_COLOURS) | {group},
                   key=natural_key)
    return OTHER_GROUP_COLOURS[extra.index(group) % len(OTHER_GROUP_COLOURS)]


def group_colours(groups: Iterable) -> dict[str, str]:
    """Colour of each group present (``group_order``'s order)."""
    ordered = group_order(groups)
    return {g: group_colour(g, ordered) for g in ordered}


def _population_order(groups: Mapping[str, str]) -> dict[str, list[str]]:
    """Group -> its populations in shade order: 1000 Genomes' own first, then others sorted."""
    by_group: dict[str, set[str]] = {}
    for pop, group in groups.items():
        group = UNKNOWN if is_missing(group) else str(group)
        by_group.setdefault(group, set()).add(str(pop))
    # Absent 1000 Genomes populations keep their slot: a shade belongs to a population.
    return {
        group: list(KGP_POPULATIONS.get(group, ()))
        + sorted(by_group[group] - set(KGP_POPULATIONS.get(group, ())), key=natural_key)
        for group in group_order(by_group)
    }


def _shades(colour: str, n: int) -> list[str]:
    """``n`` shades of ``colour``, dark to light: blends with black, then with white. Blending
    keeps the hue and lowers saturation, so a light olive (EAS) stays olive rather than turning
    yellow (AFR) as a lighter HLS colour of the same hue would; light base colours get darker
    shades and dark ones lighter, so no shade is lost on a white background."""
    from matplotlib.colors import to_hex, to_rgb

    rgb = to_rgb(colour)
    if n == 1:
        return [to_hex(rgb)]
    lightness = colorsys.rgb_to_hls(*rgb)[1]
    to_black, to_white = 0.25 + 0.35 * lightness, 0.45 - 0.4 * lightness
    shades = []
    for i in range(n):
        t = -to_black + (to_black + to_white) * i / (n - 1)
        target = 1.0 if t > 0 else 0.0
        shades.append(to_hex(tuple(c + abs(t) * (target - c) for c in rgb)))
    return shades


def population_groups(groups: Mapping[str, str] | None = None,
                      populations: Iterable = ()) -> dict[str, str]:
    """population -> continental group: the caller's table (individuals.tsv's columns), then
    1000 Genomes' own for ``populations`` it lacks; a missing group is "NA"."""
    table = {str(k): v for k, v in (groups or {}).items()}
    for pop in populations:
        table.setdefault(str(pop), KGP_POPULATION_GROUP.get(str(pop), UNKNOWN))
    return {pop: UNKNOWN if is_missing(g) else str(g) for pop, g in table.items()}


def population_colours(groups: Mapping[str, str] | None = None,
                       populations: Iterable = ()) -> dict[str, str]:
    """Each population's colour: a shade of its continental group's colour.

    ``groups`` maps population -> continental group (individuals.tsv's population and
    continental_group columns); ``populations`` not in it are placed by 1000 Genomes' own table.
    A population keeps its shade whichever others are present.
    """
    table = population_groups(groups, populations)
    present = set(table)
    order = _population_order(table)
    colours = {}
    for group, pops in order.items():
        base = group_colour(group, order)
        for pop, shade in zip(pops, _shades(base, len(pops))):
            if pop in present:
                colours[pop] = shade
    return colours


def population_markers(groups: Mapping[str, str] | None = None,
                       populations: Iterable = ()) -> dict[str, str]:
    """Each population's marker: markers cycle within a group, beside its shades."""
    table = population_groups(groups, populations)
    present = set(table)
    return {
        pop: MARKERS[i % len(MARKERS)]
        for pops in _population_order(table).values()
        for i, pop in enumerate(pops)
        if pop in present
    }


def population_order(groups: Mapping[str, str] | None = None,
                     populations: Iterable = ()) -> list[str]:
    """The populations present, grouped by continental group in the usual order (legends)."""
    table = population_groups(groups, populations)
    return [p for pops in _population_order(table).values() for p in pops if p in table]


def batch_colours(batches: Iterable) -> dict[str, str]:
    """A colour per sequencing batch, batches in natural order (tab10, tab20 beyond 10 batches;
    past 20 the colours repeat)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    ordered = sorted({str(b) for b in batches}, key=natural_key)
    cmap = colormaps["tab20" if len(ordered) > 10 else "tab10"]
    return {b: to_hex(cmap(i % cmap.N)) for i, b in enumerate(ordered)}


def axis_label(quantity: str, unit: str) -> str:
    """``"quantity (unit)"``; ``unit`` "" only for a pure number such as -log10 p."""
    return f"{quantity} ({unit})" if unit else quantity


def label_axes(ax, x: tuple[str, str], y: tuple[str, str], title: str | None = None) -> None:
    """Label both axes as (quantity, unit) pairs: every kgpex axis names its unit."""
    ax.set_xlabel(axis_label(*x))
    ax.set_ylabel(axis_label(*y))
    if title:
        ax.set_title(title)


def legend_outside(ax, title: str | None = None, ncol: int = 1, **kwargs):
    """A legend right of the axes (keeps points unhidden; savefig's tight box includes it)."""
    return ax.legend(title=title, ncol=ncol, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                     borderaxespad=0.0, **kwargs)


def draw_qq(ax, pvalues, colour: str = ACCENT, label: str | None = None,
            band: bool = True) -> int:
    """QQ plot of p-values against the uniform, -log10 on both axes, with the identity line and
    the pointwise 95 % band of uniform order statistics (Beta(i, n - i + 1)). Returns n."""
    import numpy as np

    p = np.sort(np.asarray(pvalues, dtype=float))
    p = p[np.isfinite(p)]
    n = len(p)
    if not n:
        ax.text(0.5, 0.5, "no p-values", transform=ax.transAxes, ha="center", va="center")
        return 0
    i = np.arange(1, n + 1)
    expected = -np.log10((i - 0.5) / n)
    observed = -np.log10(np.clip(p, 1e-300, 1.0))
    if band:
        # Beta quantiles through the inverse regularised incomplete beta: scipy.stats alone
        # takes longer to import than a report plot takes to draw.
        from scipy.special import betaincinv

        ax.fill_between(expected, -np.log10(betaincinv(i, n - i + 1, 0.975)),
                        -np.log10(betaincinv(i, n - i + 1, 0.025)), color=MUTED, alpha=0.5,
                        linewidth=0, label="95 % band under the null")
    top = float(expected.max())
    ax.plot([0, top], [0, top], color=REFERENCE, linewidth=1, label="expected (uniform)")
    ax.scatter(expected, observed, s=8, color=colour, label=label, zorder=3)
    return n


def save_figure(fig, dest: str | os.PathLike) -> Path:
    """Write ``fig`` to ``dest`` (format from its suffix, ``STYLE``'s dpi) under a temporary name,
    then rename it; the figure is closed."""
    import matplotlib.pyplot as plt

    dest = Path(dest)
    fmt = dest.suffix.lstrip(".").lower() or "png"
    try:
        with atomic_path(dest, suffix=dest.suffix) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=_METADATA.get(fmt))
    finally:
        plt.close(fig)
    return dest


# No software version or date in the files: the same data make the same bytes.
_METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None,
                                                   "CreationDate": None}}
