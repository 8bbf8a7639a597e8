"""The report stage's plots (kgpex.report.plots) and kgpex's one plotting style
(kgpex.common.plotting): each data function on small synthetic run files, each plot function
writing a PNG, one colour per continental group everywhere, and one-line errors."""

from __future__ import annotations

import colorsys
import gzip
import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from kgpex.common import plotting
from kgpex.common.errors import KgpexError
from kgpex.report import plots

PNG = b"\x89PNG\r\n\x1a\n"


def write_tsv(path, df):
    path.parent.mkdir(parents=True, exist_ok=True)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            df.to_csv(fh, sep="\t", index=False, na_rep="NA")
    else:
        df.to_csv(path, sep="\t", index=False, na_rep="NA")
    return path


def hue(colour):
    return colorsys.rgb_to_hls(*to_rgb(colour))[0]


# ---------------------------------------------------------------------------------------------
# Synthetic run files


@pytest.fixture
def run(tmp_path):
    """A small run: 8 individuals of 4 populations, 9 libraries (one replicate), 4 genes."""
    individuals = pd.DataFrame({
        "individual": [f"HG0{i}" for i in range(8)],
        "population": ["YRI", "YRI", "CEU", "CEU", "CHB", "GIH", "PEL", "NEW"],
        "continental_group": ["AFR", "AFR", "EUR", "EUR", "EAS", "SAS", "AMR", "NA"],
        "sex": ["female", "male"] * 4,
    })
    # HG00 has two libraries: L0 (kept) and L8 (a replicate); L1 was sequenced in two batches.
    runs = pd.DataFrame({
        "run_accession": [f"R{i}" for i in range(10)],
        "individual": [f"HG0{i}" for i in range(8)] + ["HG00", "HG01"],
        "batch": ["2", "2", "10", "10", "2", "10", "2", "10", "10", "10"],
        "library": [f"L{i}" for i in range(8)] + ["L8", "L1"],
    })
    choice = pd.DataFrame({
        "individual": [f"HG0{i}" for i in range(8)],
        "library": [f"L{i}" for i in range(8)],
        "runs": [f"R{i}" for i in range(8)],
        "num_processed": [100] * 8,
        "n_libraries": [2] + [1] * 7,
        "libraries_considered": ["L0,L8"] + [f"L{i}" for i in range(1, 8)],
    })
    meta = {}
    for i in range(9):
        path = tmp_path / "salmon" / f"L{i}" / "aux_info" / "meta_info.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"num_processed": 100, "percent_mapped": 90.0 - i}))
        meta[f"L{i}"] = path
    types = pd.DataFrame({
        "library": [f"L{i}" for i in range(9)],
        "batch": ["2", "2+10", "10", "10", "2", "10", "2", "10", "10"],
        "runs": [f"R{i}" for i in range(9)],
        "requested_format": ["A"] * 9,
        "salmon_format": ["ISR"] * 7 + ["IU", "ISR"],
    })
    genes = pd.DataFrame({
        "gene_id": ["G1", "G2", "G3", "G4"],
        "gene_name": ["A", "B", "C", "D"],
        "gene_type": ["protein_coding"] * 4,
        "chrom": ["chr10", "chr2", "chrX", "chr2"],
        "start": [1000, 5000, 100, 20000],
        "end": [2000, 9000, 900, 30000],
        "strand": ["+", "-", "+", "+"],
        "tss": [1000, 9000, 100, 20000],
    })
    cis = pd.DataFrame({
        "phenotype_id": ["G1", "G2", "G3", "G4"],
        "pval_beta": [1e-8, 0.5, np.nan, 0.02],
        "qval": [1e-6, 0.6, np.nan, 0.04],
    })
    lead = pd.DataFrame({
        "variantChrom": ["chr10", "chr2", "chr2"],
        "variantPosition": [3000, 10000, 19000],
        "ensemblID": ["G1", "G2", "G4"],
        "variantPIP": [0.9, 0.3, 1.0],
        "variantCredibleSet": ["L1", "L1", "L1"],
    })
    sets = pd.DataFrame({
        "ensemblID": ["G1", "G2", "G4"],
        "geneSymbol": ["A", "B", "D"],
        "credibleSet": ["L1", "L1", "L1"],
        "numVariants": [1, 12, 250],
    })
    afcn = lead.assign(log2_aFC=[0.8, np.nan, -6.6])
    rng = np.random.default_rng(1)
    expression = rng.normal(size=(30, 8))
    expression[:, :4] += np.linspace(-2, 2, 30)[:, None]  # HG00-HG03 apart on PC1
    bed = pd.DataFrame(expression, columns=individuals["individual"])
    bed.insert(0, "ID", [f"E{i}" for i in range(30)])
    bed.insert(0, "end", np.arange(1, 31) * 100)
    bed.insert(0, "start", np.arange(1, 31) * 100 - 1)
    bed.insert(0, "#Chr", "chr1")
    return {
        "dir": tmp_path,
        "individuals": write_tsv(tmp_path / "samples/individuals.tsv", individuals),
        "runs": write_tsv(tmp_path / "samples/runs.tsv", runs),
        "choice": write_tsv(tmp_path / "expression/library_choice.tsv", choice),
        "types": write_tsv(tmp_path / "expression/library_types.tsv", types),
        "meta": meta,
        "genes": write_tsv(tmp_path / "reference/genes.tsv", genes),
        "cis": write_tsv(tmp_path / "eqtl/tensorqtl/cis_genes.tsv.gz", cis),
        "lead": write_tsv(tmp_path / "eqtl/finemapping/lead_variants.tsv.gz", lead),
        "sets": write_tsv(tmp_path / "credibleSet_summary.txt.gz", sets),
        "afcn": write_tsv(tmp_path / "leadVariant_aFCn.txt.gz", afcn),
        "bed": write_tsv(tmp_path / "inverse_normal.bed.gz", bed),
    }


# ---------------------------------------------------------------------------------------------
# One style: colours, labels, atomic files


def test_a_group_has_one_colour_in_every_helper():
    everyone = plotting.KGP_POPULATION_GROUP
    for group in plotting.CONTINENTAL_GROUPS:
        colour = plotting.GROUP_COLOURS[group]
        assert plotting.group_colour(group) == colour
        assert plotting.group_colours([group])[group] == colour
        assert plotting.group_colours(["XYZ", "NA", *plotting.CONTINENTAL_GROUPS])[group] == colour
        # A population of the group is a shade of the group's colour: same hue.
        shades = plotting.population_colours(everyone)
        for pop in plotting.KGP_POPULATIONS[group]:
            assert hue(shades[pop]) == pytest.approx(hue(colour), abs=0.01), pop
        # A population 1000 Genomes does not have is shaded within its group's hue too.
        assert hue(plotting.population_colours({"NEWPOP": group})["NEWPOP"]) == pytest.approx(
            hue(colour), abs=0.01
        )
    assert len(set(plotting.GROUP_COLOURS.values())) == 5
    assert plotting.group_colour("NA") == plotting.group_colour(None) == plotting.UNKNOWN_COLOUR
    assert plotting.group_colour("XYZ", ["XYZ"]) not in plotting.GROUP_COLOURS.values()


def test_population_shades_are_distinct_and_do_not_depend_on_the_cohort():
    everyone = plotting.population_colours(plotting.KGP_POPULATION_GROUP)
    assert len(set(everyone.values())) == len(everyone) == 26
    few = plotting.population_colours({"YRI": "AFR", "GBR": "EUR"})
    assert few == {"YRI": everyone["YRI"], "GBR": everyone["GBR"]}
    # Without the caller's table, 1000 Genomes' own places the populations.
    assert plotting.population_colours(populations=["YRI"]) == {"YRI": everyone["YRI"]}
    assert plotting.population_order({"GBR": "EUR", "YRI": "AFR", "X": "NA", "PEL": "AMR"}) == [
        "YRI", "PEL", "GBR", "X"
    ]


def test_batch_colours_in_natural_order():
    colours = plotting.batch_colours(["b10", "b2", "b1", "b2"])
    assert list(colours) == ["b1", "b2", "b10"]
    assert len(set(colours.values())) == 3


def test_axis_labels_carry_units():
    plt = plotting.pyplot()
    fig, ax = plt.subplots()
    plotting.label_axes(ax, x=("distance to TSS", "kb"), y=("lead variants", "count"))
    assert ax.get_xlabel() == "distance to TSS (kb)"
    assert ax.get_ylabel() == "lead variants (count)"
    assert plotting.axis_label("-log10 p", "") == "-log10 p"
    plt.close(fig)


def test_save_figure_is_atomic(tmp_path):
    plt = plotting.pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    dest = plotting.save_figure(fig, tmp_path / "out" / "plot.png")
    assert dest.read_bytes()[:8] == PNG
    fig, _ = plt.subplots()
    with pytest.raises(ValueError):  # no such format: nothing is left behind
        plotting.save_figure(fig, tmp_path / "out" / "plot.notaformat")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["plot.png"]


# ---------------------------------------------------------------------------------------------
# Data functions


def test_mapping_rates(run):
    rates = plots.mapping_rates(run["meta"], run["runs"], run["choice"])
    assert rates["library"].tolist() == [f"L{i}" for i in range(9)]
    assert rates["percent_mapped"].tolist() == [90.0 - i for i in range(9)]
    assert rates.set_index("library")["batch"].to_dict()["L1"] == "2+10"
    assert rates.set_index("library")["batch"].to_dict()["L2"] == "10"
    assert rates["kept"].tolist() == [True] * 8 + [False]


def test_mapping_rates_errors(run):
    run["meta"]["L3"].write_text(json.dumps({"num_processed": 1}))
    with pytest.raises(KgpexError, match=r"L3/aux_info/meta_info.json: field 'percent_mapped'"):
        plots.mapping_rates(run["meta"], run["runs"], run["choice"])
    run["meta"]["L3"].write_text(json.dumps({"percent_mapped": 140}))
    with pytest.raises(KgpexError, match="not a percentage"):
        plots.mapping_rates(run["meta"], run["runs"], run["choice"])
    with pytest.raises(KgpexError, match="no run of library L9"):
        plots.mapping_rates({"L9": run["meta"]["L0"]}, run["runs"], run["choice"])


def test_library_type_counts(run):
    counts, requested = plots.library_type_counts(run["types"])
    assert counts.index.tolist() == ["ISR", "IU"]
    assert counts.columns.tolist() == ["2", "2+10", "10"]
    assert counts.loc["ISR"].tolist() == [3, 1, 4]
    assert counts.loc["IU"].tolist() == [0, 0, 1]
    assert requested == ["A"]


def test_expression_pca(run):
    scores, explained = plots.expression_pca(run["bed"], run["individuals"], run["choice"],
                                             run["runs"])
    assert scores.columns.tolist() == [
        "PC1", "PC2", "PC3", "PC4", "population", "continental_group", "batch"
    ]
    assert scores.index.tolist() == [f"HG0{i}" for i in range(8)]
    # The four shifted samples fall on one side of PC1.
    shifted = np.sign(scores["PC1"].iloc[:4])
    assert abs(shifted.sum()) == 4 and (np.sign(scores["PC1"].iloc[4:]) != shifted.iloc[0]).all()
    assert scores.loc["HG07", "continental_group"] == "NA"
    assert scores["batch"].tolist() == ["2", "2+10", "10", "10", "2", "10", "2", "10"]
    assert list(explained.index) == ["PC1", "PC2", "PC3", "PC4"]
    assert explained.is_monotonic_decreasing and 0 < explained.sum() <= 1
    without_batch, _ = plots.expression_pca(run["bed"], run["individuals"])
    assert "batch" not in without_batch.columns


def test_expression_pca_needs_every_sample(run):
    people = pd.read_csv(run["individuals"], sep="\t").iloc[:-1]
    write_tsv(run["individuals"], people)
    with pytest.raises(KgpexError, match="individuals.tsv: no row for sample HG07"):
        plots.expression_pca(run["bed"], run["individuals"])


def test_gene_pvalues(run):
    p = plots.gene_pvalues(run["cis"])
    assert p.to_dict() == {"G1": 1e-8, "G2": 0.5, "G4": 0.02}
    write_tsv(run["cis"], pd.DataFrame({"phenotype_id": ["G1"], "pval_beta": [1.5]}))
    with pytest.raises(KgpexError, match=r"cis_genes.tsv.gz line 2: pval_beta 1.5 is not in"):
        plots.gene_pvalues(run["cis"])
    write_tsv(run["cis"], pd.DataFrame({"phenotype_id": ["G1"], "pval_beta": ["low"]}))
    with pytest.raises(KgpexError, match="line 2: column pval_beta: 'low' is not a number"):
        plots.gene_pvalues(run["cis"])


def test_lead_tss_distances(run):
    d = plots.lead_tss_distances(run["lead"], run["genes"])
    # G1 (+, TSS 1000): variant at 3000 is 2 kb downstream; G2 (-, TSS 9000): 10000 is 1 kb
    # upstream; G4 (+, TSS 20000): 19000 is 1 kb upstream.
    assert d["distance_kb"].tolist() == [2.0, -1.0, -1.0]
    assert d["strand"].tolist() == ["+", "-", "+"]
    unstranded = plots.lead_tss_distances(run["lead"], run["genes"], stranded=False)
    assert unstranded["distance_kb"].tolist() == [2.0, 1.0, -1.0]
    assert set(unstranded["strand"]) == {"."}
    lead = pd.read_csv(run["lead"], sep="\t")
    write_tsv(run["lead"], lead.assign(ensemblID=["G1", "G9", "G4"]))
    with pytest.raises(KgpexError, match="line 3: ensemblID G9 is not in the genes table"):
        plots.lead_tss_distances(run["lead"], run["genes"])


def test_credible_sets(run):
    sizes, pips = plots.credible_sets(run["sets"], run["lead"])
    assert sizes.tolist() == [1, 12, 250]
    assert pips.tolist() == [0.9, 0.3, 1.0]


def test_afc_values(run):
    values = plots.afc_values(run["afcn"])
    assert values.iloc[0] == 0.8 and np.isnan(values.iloc[1]) and values.iloc[2] == -6.6


def test_egenes_per_chromosome(run):
    counts = plots.egenes_per_chromosome(run["cis"], run["genes"], fdr=0.05)
    assert counts.index.tolist() == ["chr2", "chr10", "chrX"]
    assert counts["tested"].tolist() == [2, 1, 1]
    assert counts["eGenes"].tolist() == [1, 1, 0]
    assert "sGenes" not in counts.columns
    assert plots.egenes_per_chromosome(run["cis"], run["genes"], fdr=0.01)["eGenes"].tolist() == [
        0, 1, 0
    ]
    with_splicing = plots.egenes_per_chromosome(run["cis"], run["genes"], 0.05, sgenes=["G3", "G2"])
    assert with_splicing["sGenes"].tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("key", "column", "call"),
    [
        ("runs", "batch", lambda r: plots.mapping_rates(r["meta"], r["runs"], r["choice"])),
        ("types", "salmon_format", lambda r: plots.library_type_counts(r["types"])),
        ("individuals", "continental_group",
         lambda r: plots.expression_pca(r["bed"], r["individuals"])),
        ("cis", "pval_beta", lambda r: plots.gene_pvalues(r["cis"])),
        ("genes", "tss", lambda r: plots.lead_tss_distances(r["lead"], r["genes"])),
        ("sets", "numVariants", lambda r: plots.credible_sets(r["sets"], r["lead"])),
        ("lead", "variantPIP", lambda r: plots.credible_sets(r["sets"], r["lead"])),
        ("afcn", "log2_aFC", lambda r: plots.afc_values(r["afcn"])),
        ("genes", "chrom", lambda r: plots.egenes_per_chromosome(r["cis"], r["genes"], 0.05)),
    ],
)
def test_a_missing_column_is_one_line(run, key, column, call):
    path = run[key]
    write_tsv(path, pd.read_csv(path, sep="\t").drop(columns=[column]))
    with pytest.raises(KgpexError) as err:
        call(run)
    message = str(err.value)
    assert message == f"{path}: column {column} missing"
    assert "\n" not in message


# ---------------------------------------------------------------------------------------------
# Plot functions


def test_every_plot_writes_a_png(run):
    out = run["dir"] / "report" / "plots"
    plots.plot_mapping_rates(plots.mapping_rates(run["meta"], run["runs"], run["choice"]),
                             out / "mapping_rates.png")
    plots.plot_library_types(*plots.library_type_counts(run["types"]), out / "library_types.png")
    plots.plot_expression_pca(
        *plots.expression_pca(run["bed"], run["individuals"], run["choice"], run["runs"]),
        out / "expression_pca.png",
    )
    plots.plot_pvalue_qq(plots.gene_pvalues(run["cis"]), out / "pvalue_qq.png")
    plots.plot_lead_tss_distance(plots.lead_tss_distances(run["lead"], run["genes"]),
                                 out / "lead_tss_distance.png", window_bp=1_000_000)
    plots.plot_credible_sets(*plots.credible_sets(run["sets"], run["lead"]),
                             out / "credible_sets.png")
    plots.plot_afc_distribution(plots.afc_values(run["afcn"]), out / "afc_distribution.png",
                                bound=6.64)
    plots.plot_egenes_per_chromosome(
        plots.egenes_per_chromosome(run["cis"], run["genes"], 0.05, sgenes=["G3"]),
        out / "egenes_per_chromosome.png", 0.05,
    )
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([
        "mapping_rates.png", "library_types.png", "expression_pca.png", "pvalue_qq.png",
        "lead_tss_distance.png", "credible_sets.png", "afc_distribution.png",
        "egenes_per_chromosome.png",
    ])  # and no temporary file left
    for name in written:
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000, name


def test_cis_overview_in_the_shared_style(run, tmp_path):
    from kgpex.eqtl.plots import plot_cis_overview

    cis = pd.read_csv(run["cis"], sep="\t")
    genes = pd.read_csv(run["genes"], sep="\t", index_col="gene_id")
    plot_cis_overview(cis, genes["chrom"], 0.05, tmp_path / "cis_overview.png", title="t")
    assert (tmp_path / "cis_overview.png").read_bytes()[:8] == PNG


# ---------------------------------------------------------------------------------------------
# report.smk: which plots a config makes


REPORT_RULES = {
    "plot_mapping_rates", "plot_library_types", "plot_expression_pca", "plot_pvalue_qq",
    "plot_lead_tss_distance", "plot_credible_sets", "plot_afc_distribution",
    "plot_egenes_per_chromosome",
}
MATRIX = {"input": "matrix", "matrix": {"url": "https://www.ebi.ac.uk/matrix.tsv.gz",
                                        "kind": "counts"}}


@pytest.mark.parametrize(
    ("config", "absent"),
    [
        ({}, set()),
        ({"expression": MATRIX}, {"plot_mapping_rates", "plot_library_types",
                                  "plot_afc_distribution"}),
        ({"effect_sizes": {"afcn": False}}, {"plot_afc_distribution"}),
    ],
    ids=["reads", "matrix", "no-afcn"],
)
def test_report_rules_follow_the_config(config, absent):
    from workflow_api import parsed_workflow

    with parsed_workflow(config) as workflow:
        defined = {rule.name for rule in workflow.rules} & REPORT_RULES
        outputs = workflow.globals["report_outputs"]()
        pca_inputs = set(workflow.globals["rules"].plot_expression_pca.rule.input.keys())
    assert defined == REPORT_RULES - absent
    assert sorted(outputs) == sorted(
        f"results/DEMO/report/plots/{name.removeprefix('plot_')}.png" for name in defined
    )
    # The PCA's batch panel needs the reads' library choice.
    assert ("choice" in pca_inputs) == ("plot_mapping_rates" in defined)
