"""The demo's planted splicing QTLs (kgpex.demo.sqtls): which genes, the genotype-dependent
isoform shares, unchanged gene-level reads and eQTL truth, and the expected junction reads."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from test_demo import TINY

from kgpex.demo import build_model, generate, load_cohort, write_sheets
from kgpex.demo import spec as names
from kgpex.demo.generator import library
from kgpex.demo.reads import Transcriptome, draw_fragments
from kgpex.demo.spec import rng_for
from kgpex.demo.sqtls import (
    ALIGNED_PAIRS,
    JUNCTION_ANCHOR,
    SQTL_COLUMNS,
    SQTL_WINDOW,
    spanning_mates,
)

# test_demo.py's tiny cohort, with more individuals (so every genotype class turns up), genes and
# reads (so several genes qualify as sGenes).
SPEC = replace(
    TINY,
    n_individuals=40,
    n_panel_only=10,
    chrom_lengths=(("chr21", 700_000), ("chr22", 750_000)),
    n_genes=40,
    read_pairs=3000,
    n_sgenes=5,
    # The default demo's thresholds assume its ~25,000 pairs per library.
    sqtl_min_junction_reads=3.0,
    sqtl_min_minor_reads=0.3,
)
SEED = 11
REQUIRED = (
    "gene_id",
    "gene_name",
    "chrom",
    "tss",
    "causal_variant",
    "beta",
    "delta_psi",
    "switch_transcript",
    "introns",
    "expected_junction_reads_per_library",
    "maf",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo_sqtls")
    ind, runs = write_sheets(SEED, base, SPEC)
    out = base / "generated"
    generate(SEED, ind, runs, out, SPEC)
    cohort = load_cohort(ind, runs)
    model = build_model(SPEC, SEED, cohort)
    plain = build_model(replace(SPEC, n_sgenes=0), SEED, cohort)
    return {"out": out, "model": model, "plain": plain}


def _genes(model):
    by_id = {g.gene_id: (k, g) for k, g in enumerate(model.reference.genes)}
    return [(row, *by_id[row.gene_id]) for row in model.plan.sqtls.itertuples()]


def _dosage(model, variant_id: str) -> np.ndarray:
    chrom = variant_id.split(":")[0]
    v = model.variants[chrom]
    j = v.ids.index(variant_id)
    cols = np.array([model.panel.samples.index(i) for i in model.cohort.individuals])
    return v.haps[j, 2 * cols].astype(float) + v.haps[j, 2 * cols + 1]


def _tx_rows(model, k: int) -> slice:
    start = sum(len(g.transcripts) for g in model.reference.genes[:k])
    return slice(start, start + len(model.reference.genes[k].transcripts))


def _junction_offsets(gene, tx, introns) -> list[int]:
    """Where ``tx``'s junctions of ``introns`` (LeafCutter coordinates) lie along the transcript
    in its reading direction (between bases j-1 and j), independently of sqtls.py."""
    order = tx.exons if gene.strand == "+" else tx.exons[::-1]
    ends = np.cumsum([e - s + 1 for s, e in order])[:-1]
    return [
        int(j)
        for j, (x, y) in zip(ends, pairwise(order))
        if (min(x[1], y[1]), max(x[0], y[0])) in introns
    ]


def _spanning(mate_starts: np.ndarray, junctions: list[int]) -> int:
    """Mates (first base along the transcript) spanning a junction with the anchors regtools
    wants."""
    r, a = SPEC.read_length, JUNCTION_ANCHOR
    return sum(int(((mate_starts <= j - a) & (mate_starts + r - j >= a)).sum()) for j in junctions)


def _runs_of_individuals(model) -> list[str]:
    return [model.plan.selected_runs[i] for i in model.cohort.individuals]


def test_truth_table_is_written_with_its_columns(demo):
    table = pd.read_csv(demo["out"] / names.SQTL_TABLE, sep="\t", keep_default_na=False)
    assert tuple(table.columns) == SQTL_COLUMNS
    assert tuple(table.columns[: len(REQUIRED)]) == REQUIRED
    assert len(table) == SPEC.n_sgenes
    assert list(table.gene_id) == list(demo["model"].plan.sqtls.gene_id)
    assert table.gene_id.is_unique
    assert (table.beta.abs().between(*SPEC.sqtl_log_odds)).all()
    assert (np.sign(table.beta) == np.sign(table.delta_psi)).all()
    assert (table.delta_psi.abs() >= 0.15).all()
    assert (table.expected_junction_reads_per_library > 0).all()
    assert ((table.expected_r2 > 0) & (table.expected_r2 < 1)).all()


def test_planted_genes_are_multi_isoform_with_clustered_introns(demo):
    model = demo["model"]
    truth = model.plan.truth
    for row, k, gene in _genes(model):
        assert gene.chrom in SPEC.chromosomes and len(gene.transcripts) >= 2
        assert truth.loc[k, "gene_id"] == gene.gene_id
        switch = next(t for t in gene.transcripts if t.transcript_id == row.switch_transcript)
        own = {(a[1], b[0]) for a, b in pairwise(switch.exons)}
        others = [
            {(a[1], b[0]) for a, b in pairwise(t.exons)}
            for t in gene.transcripts
            if t is not switch
        ]
        listed = row.introns.split(",")
        assert listed
        for text in listed:
            chrom, start, end = text.split(":")
            intron = (int(start), int(end))
            assert chrom == gene.chrom
            # LeafCutter's coordinates: the last base of one exon, the first of the next.
            assert intron in own
            assert any(intron not in o for o in others)
            # A splice site shared with another isoform's intron: one LeafCutter cluster.
            assert any(
                o != intron and (o[0] == intron[0] or o[1] == intron[1])
                for other in others
                for o in other
            )
        chrom, pos, ref_base, alt_base = row.causal_variant.split(":")
        assert chrom == gene.chrom and len(ref_base) == len(alt_base) == 1
        assert abs(int(pos) - gene.tss) <= SQTL_WINDOW
        d = _dosage(model, row.causal_variant)
        maf = min(d.mean() / 2, 1 - d.mean() / 2)
        assert maf == pytest.approx(row.maf, abs=1e-4) and maf >= SPEC.causal_min_maf


def test_switch_share_follows_the_causal_genotype(demo):
    model, plain = demo["model"], demo["plain"]
    eff_len = model.plan.effective_lengths
    runs = _runs_of_individuals(model)
    rows_changed = np.zeros(len(eff_len), dtype=bool)
    for row, k, gene in _genes(model):
        rows = _tx_rows(model, k)
        rows_changed[rows] = True
        switch = [t.transcript_id for t in gene.transcripts].index(row.switch_transcript)
        shares = []
        for run in runs:
            molecules = model.plan.fragment_probs[run][rows] / eff_len[rows]
            shares.append(molecules[switch] / molecules.sum())
        shares = np.array(shares)
        d = _dosage(model, row.causal_variant)
        # The individual's share is the mean of its haplotypes': linear in the ALT dosage, from
        # the baseline share at REF/REF to baseline + delta_psi at ALT/ALT.
        assert len(set(d)) >= 2
        slope, intercept = np.polyfit(d, shares, 1)
        assert 2 * slope == pytest.approx(row.delta_psi, abs=1e-3)
        assert intercept == pytest.approx(row.baseline_share, abs=1e-3)
        assert np.abs(shares - (intercept + slope * d)).max() < 1e-9
        for cls in (0, 2):
            if (d == cls).any():
                expected = row.baseline_share + cls / 2 * row.delta_psi
                assert shares[d == cls].mean() == pytest.approx(expected, abs=1e-3)
        assert shares.std() == pytest.approx(row.share_sd, abs=1e-3)
    assert rows_changed.any()
    # Every other transcript keeps the fixed-proportion model's probabilities exactly; the
    # sGenes' move in the libraries of individuals carrying an ALT allele.
    moved = 0
    for run in model.plan.fragment_probs:
        new, old = model.plan.fragment_probs[run], plain.plan.fragment_probs[run]
        assert np.array_equal(new[~rows_changed], old[~rows_changed])
        moved += not np.allclose(new[rows_changed], old[rows_changed])
    assert moved > len(model.plan.fragment_probs) / 2


def test_gene_reads_do_not_depend_on_the_causal_genotype(demo):
    model, plain = demo["model"], demo["plain"]
    runs = _runs_of_individuals(model)
    for row, k, _ in _genes(model):
        rows = _tx_rows(model, k)
        gene = np.array([model.plan.fragment_probs[r][rows].sum() for r in runs])
        fixed = np.array([plain.plan.fragment_probs[r][rows].sum() for r in runs])
        assert np.allclose(gene, fixed, rtol=1e-12, atol=0)
        d = _dosage(model, row.causal_variant)
        # So the gene's reads correlate with the causal genotype exactly as without the sQTL
        # (by chance, or through the gene's own planted eQTL).
        assert np.corrcoef(d, gene)[0, 1] == pytest.approx(np.corrcoef(d, fixed)[0, 1], abs=1e-9)
        # Molecules, unlike reads, do move with genotype where the isoforms' lengths differ:
        # what the rescaling compensates.
        molecules = np.array(
            [(model.plan.fragment_probs[r][rows] / model.plan.effective_lengths[rows]).sum()
             for r in runs]
        )
        fixed_molecules = np.array(
            [(plain.plan.fragment_probs[r][rows] / plain.plan.effective_lengths[rows]).sum()
             for r in runs]
        )
        assert np.ptp(molecules / fixed_molecules) > 1e-6


def test_eqtl_truth_is_the_same_with_and_without_sqtls(demo):
    model, plain = demo["model"], demo["plain"]
    assert len(model.plan.sqtls) > 0 and len(plain.plan.sqtls) == 0
    written = (demo["out"] / names.TRUTH_TABLE).read_text()
    assert written == plain.plan.truth.to_csv(sep="\t", index=False)
    assert written == model.plan.truth.to_csv(sep="\t", index=False)


def test_spanning_mates_match_simulated_fragments(demo):
    model = demo["model"]
    tx = Transcriptome.from_reference(model.reference)
    pairs = model.reference.transcripts()
    r = SPEC.read_length
    for row, _, gene in _genes(model)[:2]:
        introns = {tuple(map(int, t.split(":")[1:])) for t in row.introns.split(",")}
        for t in gene.transcripts:
            index = next(n for n, (_, x) in enumerate(pairs) if x is t)
            probs = np.zeros(len(pairs))
            probs[index] = 1.0
            frags = draw_fragments(rng_for(1, "test", index), tx, probs, 20_000, SPEC)
            junctions = _junction_offsets(gene, t, introns)
            start = frags.start - tx.offsets[index]
            count = _spanning(start, junctions) + _spanning(start + frags.length - r, junctions)
            observed = count / len(start)
            expected = spanning_mates(t.exons, introns, SPEC)
            assert observed == pytest.approx(expected, abs=4 * np.sqrt(expected / 20_000) + 1e-9)


def test_expected_junction_reads_match_the_libraries(demo):
    """The truth table's expected junction reads against the reads of every library's first
    ALIGNED_PAIRS pairs (the fragments the FASTQs are written from)."""
    model = demo["model"]
    tx = Transcriptome.from_reference(model.reference, model.variants)
    r = SPEC.read_length
    planted = {id(gene): (row, k) for row, k, gene in _genes(model)}
    junctions = {}  # transcript index -> (gene index, junction offsets of the listed introns)
    for n, (gene, t) in enumerate(model.reference.transcripts()):
        if id(gene) in planted:
            row, k = planted[id(gene)]
            introns = {tuple(map(int, s.split(":")[1:])) for s in row.introns.split(",")}
            junctions[n] = (k, _junction_offsets(gene, t, introns))
    totals = dict.fromkeys((k for _, k in planted.values()), 0)
    runs = [run["run_accession"] for run in model.cohort.runs]
    for run in runs:
        frags, _ = library(model, run, tx)
        which = frags.which[:ALIGNED_PAIRS]
        start = frags.start[:ALIGNED_PAIRS] - tx.offsets[which]
        end_start = start + frags.length[:ALIGNED_PAIRS] - r
        for n, (k, js) in junctions.items():
            totals[k] += _spanning(start[which == n], js) + _spanning(end_start[which == n], js)
    for row, k in planted.values():
        expected = row.expected_junction_reads_per_library * len(runs)
        assert totals[k] == pytest.approx(expected, abs=5 * np.sqrt(expected) + 5)
