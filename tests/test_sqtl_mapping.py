"""Grouped cis mapping of intron phenotypes (kgpex.eqtl.cis.map_permutations with groups, the
tensorQTL side of the sQTL arm) and the phenotype-groups reader, on a tiny synthetic cohort:
three introns per gene at the gene's TSS, the planted signal in one of them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from eqtl_synthetic import make_dataset

from kgpex.common.errors import KgpexError
from kgpex.eqtl import cis
from kgpex.eqtl import inputs as eqtl_inputs

WINDOW, MAF, NPERM, SEED = 100_000, 0.01, 200, 11
N_GENES, N_INTRONS = 12, 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("sqtl"), n_genes=N_GENES, n_variants=400)


@pytest.fixture(scope="module")
def grouped(data):
    """The dataset's genes turned into introns: intron 2 of each gene carries the gene's
    phenotype (so the planted genes' signal), introns 1 and 3 are noise."""
    bed = pd.read_csv(data.phenotype_bed, sep="\t")
    rng = np.random.default_rng(3)
    rows = []
    for _, gene in bed.iterrows():
        for k in range(1, N_INTRONS + 1):
            row = gene.copy()
            row["ID"] = f"{data.chrom}:{1000 * k}:{1000 * k + 500}:clu_{gene.name + 1}_+:{gene['ID']}"
            if k != 2:
                row[data.samples] = rng.normal(size=len(data.samples))
            rows.append(row)
    introns = pd.DataFrame(rows).reset_index(drop=True)
    path = data.root / "introns.bed.gz"
    introns.to_csv(path, sep="\t", index=False, compression="gzip")
    groups_path = data.root / "groups.txt"
    groups = pd.DataFrame({"intron": introns["ID"], "gene": introns["ID"].str.split(":").str[-1]})
    groups.to_csv(groups_path, sep="\t", header=False, index=False)
    inputs = eqtl_inputs.load_inputs(path, data.covariates, data.pgen_prefix, data.chrom)
    return inputs, eqtl_inputs.read_phenotype_groups(groups_path), introns


def test_one_row_per_gene_and_the_planted_intron_leads(data, grouped):
    inputs, groups, _ = grouped
    res = cis.map_permutations(inputs, WINDOW, MAF, NPERM, SEED, groups=groups)
    assert list(res.columns[-2:]) == ["group_id", "group_size"]
    assert sorted(res["group_id"]) == sorted(groups.unique())
    assert (res["group_size"] == N_INTRONS).all()
    assert (res["phenotype_id"].map(groups) == res["group_id"]).all()
    planted = res[res["group_id"].isin(data.causal)]
    assert len(planted) == len(data.causal)
    # The planted intron (":1000"... is intron 1; intron 2 starts at 2000) carries the signal.
    assert (planted["phenotype_id"].str.split(":").str[1] == "2000").all()
    assert (planted["pval_beta"] < 1e-3).all()
    assert res.loc[~res["group_id"].isin(data.causal), "pval_beta"].min() > 1e-4


def test_group_statistic_is_the_best_over_its_introns(data, grouped):
    """A gene's grouped nominal p-value is the smallest of its introns' own passes."""
    inputs, groups, _ = grouped
    res = cis.map_permutations(inputs, WINDOW, MAF, NPERM, SEED, groups=groups)
    single = cis.map_permutations(inputs, WINDOW, MAF, NPERM, SEED)
    best = single.assign(group=single["phenotype_id"].map(groups)).groupby("group")[
        "pval_nominal"].min()
    got = res.set_index("group_id")["pval_nominal"]
    assert np.allclose(got.loc[best.index], best, rtol=1e-4)


def test_split_group_is_named(data, grouped, tmp_path):
    _, groups, introns = grouped
    moved = introns.copy()
    first_gene = groups.iloc[0]
    # Put the first gene's last intron after the second gene's introns.
    order = list(range(len(moved)))
    order.insert(2 * N_INTRONS, order.pop(N_INTRONS - 1))
    moved = moved.iloc[order]
    path = tmp_path / "split.bed.gz"
    moved.to_csv(path, sep="\t", index=False, compression="gzip")
    split_inputs = eqtl_inputs.load_inputs(path, data.covariates, data.pgen_prefix, data.chrom)
    with pytest.raises(KgpexError, match=re.escape(f"group {first_gene} are not contiguous")):
        cis.map_permutations(split_inputs, WINDOW, MAF, NPERM, SEED, groups=groups)


def test_phenotype_without_group_is_named(grouped):
    inputs, groups, _ = grouped
    with pytest.raises(KgpexError, match=re.escape(f"phenotype {groups.index[0]} has no group")):
        cis.map_permutations(inputs, WINDOW, MAF, NPERM, SEED, groups=groups.iloc[1:])


@pytest.mark.parametrize("text, message", [
    ("a\tg1\nb\n", "2 tab-separated columns"),
    ("a\tg1\na\tg2\n", "phenotype a is in more than one group"),
    ("a\tg1\n\tg2\n", "row 2 has an empty field"),
])
def test_bad_groups_file_is_one_line(tmp_path, text, message):
    path = tmp_path / "groups.txt"
    path.write_text(text)
    with pytest.raises(KgpexError, match=message):
        eqtl_inputs.read_phenotype_groups(path)


def test_significant_phenotypes_are_every_intron_of_an_sgene():
    """Fine-mapping covers each intron of a significant gene (MAGE's run_susie per intron); an
    ungrouped table gives its eGenes as they are."""
    from kgpex.eqtl.tables import significant_phenotypes

    cis_genes = pd.DataFrame({"phenotype_id": ["a1", "b2", "c1"], "group_id": ["A", "B", "C"],
                              "qval": [0.01, 0.05, 0.2]})
    groups = pd.Series(["A", "A", "B", "B", "C"], index=["a1", "a2", "b1", "b2", "c1"])
    assert significant_phenotypes(cis_genes, 0.05, groups).tolist() == ["a1", "a2", "b1", "b2"]
    assert significant_phenotypes(cis_genes, 0.05).tolist() == ["a1", "b2"]
