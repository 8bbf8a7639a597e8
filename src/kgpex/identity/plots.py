"""The report's identity plot: each library's concordance with its labelled individual."""

from __future__ import annotations

import os

from kgpex.common import plotting

VERDICT_COLOURS = {"match": "#4C72B0", "swap": "#C44E52", "unclear": "#DD8452"}


def plot_concordance(calls, dest: str | os.PathLike, min_margin: float | None = None) -> None:
    """Left: heterozygous against homozygous concordance of each run with its labelled
    individual, coloured by verdict; a swapped run's arrow points to the individual it matches.
    Right: the margin of the best individual over the next, per run, sorted, with the margin
    below which a call is unclear."""
    plt = plotting.pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for verdict, colour in VERDICT_COLOURS.items():
        sub = [c for c in calls if c.verdict == verdict]
        if not sub:
            continue
        ax1.scatter([c.labelled_het_concordance for c in sub],
                    [c.labelled_hom_concordance for c in sub],
                    color=colour, s=22, label=f"{verdict} ({len(sub)})", zorder=3)  # fmt: skip
    for c in calls:
        if c.verdict == "swap":
            ax1.annotate(
                "", xy=(c.best_het_concordance, c.best_hom_concordance),
                xytext=(c.labelled_het_concordance, c.labelled_hom_concordance),
                arrowprops={"arrowstyle": "->", "color": VERDICT_COLOURS["swap"]},
            )  # fmt: skip
            ax1.annotate(f"{c.run}: {c.labelled_individual} -> {c.best_individual}",
                         (c.labelled_het_concordance, c.labelled_hom_concordance),
                         fontsize=8, xytext=(4, -10), textcoords="offset points")  # fmt: skip
    ax1.set_xlim(-0.02, 1.02)
    ax1.set_ylim(-0.02, 1.02)
    plotting.label_axes(
        ax1,
        x=("heterozygous sites the reads agree with, labelled individual", "fraction"),
        y=("homozygous sites the reads agree with", "fraction"),
        title=f"{len(calls)} runs against their labelled individuals (QTLtools mbv)",
    )
    ax1.legend(loc="lower left")
    ordered = sorted(calls, key=lambda c: c.margin)
    ax2.scatter(range(len(ordered)), [c.margin for c in ordered],
                color=[VERDICT_COLOURS[c.verdict] for c in ordered], s=14)  # fmt: skip
    if min_margin is not None:
        ax2.axhline(min_margin, color="0.4", linestyle="--", linewidth=1)
        ax2.annotate("unclear below", (0, min_margin), fontsize=8, xytext=(2, 3),
                     textcoords="offset points", color="0.3")  # fmt: skip
        ax2.set_ylim(bottom=min(0.0, min_margin))
    ax2.set_xticks([])
    plotting.label_axes(
        ax2,
        x=("runs, sorted by margin", ""),
        y=("best individual's concordance minus the next one's", "fraction"),
        title="margin of the best-matching individual",
    )
    fig.tight_layout()
    plotting.save_figure(fig, dest)
