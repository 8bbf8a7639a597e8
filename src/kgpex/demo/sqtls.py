"""Planted splicing QTLs (sQTLs): isoform proportions that depend on genotype at one variant.

The expression model (kgpex.demo.expression) splits a gene's molecules between its isoforms in
fixed proportions f0. For ``DemoSpec.n_sgenes`` genes (sGenes) one "switch" isoform s instead
has a log-odds of use that shifts by ``beta`` per ALT allele of one causal variant, per
haplotype h (allele a_h = 0 or 1):

    logit(p_h) = logit(p0) + beta * a_h        p0 = f0[s], the switch isoform's baseline share

and the other isoforms keep their relative proportions, f_h[j] = (1 - p_h) f0[j] / (1 - p0).
The individual's isoform fractions are the mean over its two haplotypes, (f_1 + f_2) / 2, so
REF/REF individuals keep f0, and the switch isoform's share moves from p0 (REF/REF) through
the heterozygotes' mean to expit(logit(p0) + beta) (ALT/ALT). |beta| is drawn from
``DemoSpec.sqtl_log_odds`` with a random sign, except that a sign which would move the share by
less than MIN_DELTA_PSI (a rare isoform made rarer) is flipped. The shares are of molecules; the
junction reads that LeafCutter counts follow them (reads of an isoform ~ molecules x effective
length), so intron-usage ratios of the switch isoform's introns change with genotype.

The switch changes only how a gene's reads are split between isoforms, never how many there
are: each individual's molecules of the gene are rescaled so that molecules x effective length,
summed over the isoforms, stays what the fixed proportions give (see ``_apply``). Otherwise an
isoform switch between isoforms of different lengths would move the gene's salmon counts with
genotype and the eQTL arm would find sGenes as false eGenes.

sGenes are autosomal genes (planted eGenes among them: the switch keeps the gene's reads, so
the eQTL truth holds), whose switch isoform has an intron that
other isoforms lack and that shares a splice site (intron start or end) with another isoform's
intron, so that LeafCutter puts them into one cluster (exon skipping), and whose junction reads
are plenty in the reads the pipeline aligns (every pair of a library, or the first
``ALIGNED_PAIRS`` where that is set:
``DemoSpec.sqtl_min_junction_reads`` and ``sqtl_min_minor_reads``). The best-powered genes are
taken first (``_eligible``); a gene gets a causal variant only if a candidate SNP as for the
eQTLs (``_candidate_snps``) lies within SQTL_WINDOW of its TSS, one of MAF >=
``sqtl_preferred_maf`` where there is one. Fewer eligible genes than ``n_sgenes`` plant fewer
sGenes (none, with a warning, in a cohort too small for any). The causal variants and betas
come from their own random stream (``rng_for(seed, "sqtls")``) and the switch only moves the sGenes' fragment
probabilities, so planting sQTLs changes no other part of the demo: the eQTL truth table, the
reference, the VCFs and every other stream stay as they are (the reads change where they draw
sGene fragments). Not modelled: non-genetic variation of isoform proportions, and haplotype-
specific isoform use in the reads (a gene's fragments split between haplotypes as the
expression plan says, whatever the isoform).

truth_sqtls.tsv (``SQTL_COLUMNS``), one row per sGene:
    beta          log-odds shift of the switch isoform per ALT allele (per haplotype)
    delta_psi     share of the switch isoform in ALT/ALT minus in REF/REF: expit(logit(p0) +
                  beta) - p0
    introns       the switch isoform's introns that LeafCutter clusters with another isoform's
                  intron, as LeafCutter writes them: chrom:start:end with start the last base of
                  the upstream exon and end the first base of the downstream exon (1-based)
    expected_junction_reads_per_library
                  mean over libraries of the expected reads (mates, each alignment record counts,
                  as regtools counts them; anchors >= 8 bases) spanning one of ``introns`` among
                  the library's aligned pairs (all of them; the first ALIGNED_PAIRS if set)
    maf           cohort minor allele frequency of the causal variant
    baseline_share, share_sd
                  p0, and the cohort SD of the individuals' switch-isoform share
    expected_r2   the genotype's expected share of the variance of an individual's junction
                  ratio on the switch side (a / (a + b) of the cluster's reads), with binomial
                  sampling at the expected reads a + b per library: share_sd^2 / (share_sd^2 +
                  pbar (1 - pbar) / (a + b)), pbar the cohort's mean share. The effect size that
                  the pipeline's power follows (tests/e2e/test_sqtl.py states recall above one)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from kgpex.demo.cohort import Cohort
from kgpex.demo.expression import ExpressionPlan, _candidate_snps
from kgpex.demo.genotypes import ChromVariants, Panel
from kgpex.demo.reference import Gene, Reference
from kgpex.demo.spec import DemoSpec, rng_for

SQTL_COLUMNS = (
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
    "baseline_share",
    "share_sd",
    "expected_r2",
)
log = logging.getLogger("kgpex.demo")

SQTL_WINDOW = 100_000  # the causal variant lies within this distance of the TSS
# The demo config's alignment.max_read_pairs (pairs STAR aligns per library); None: all of them.
ALIGNED_PAIRS: int | None = None
JUNCTION_ANCHOR = 8  # regtools junctions extract -a 8: bases each side of a junction
FRAGMENT_GRID_SD = 4.0  # fragment lengths summed over mean +- this many SDs
MIN_DELTA_PSI = 0.15  # below this, beta takes the other sign (which moves the share more)


Intron = tuple[int, int]  # LeafCutter coordinates: last base of exon before, first base after


@dataclass(frozen=True)
class _Choice:
    gene: int
    switch: int  # isoform index within the gene
    introns: tuple[Intron, ...]  # the switch isoform's clustered introns that others lack
    competing: tuple[Intron, ...]  # other isoforms' introns sharing a splice site with those
    score: float  # power proxy, see _eligible


def _introns(exons: list[tuple[int, int]]) -> list[Intron]:
    return [(exons[k][1], exons[k + 1][0]) for k in range(len(exons) - 1)]


def _switch_introns(gene: Gene, s: int) -> tuple[tuple[Intron, ...], tuple[Intron, ...]]:
    """Introns of isoform ``s`` that some other isoform lacks and that share a splice site with
    an intron of another isoform (LeafCutter clusters them), and those competing introns."""
    own = set(_introns(gene.transcripts[s].exons))
    others = [set(_introns(t.exons)) for j, t in enumerate(gene.transcripts) if j != s]
    other_introns = set().union(*others) - own
    mine, competing = [], set()
    for d in sorted(own):
        if all(d in o for o in others):
            continue
        linked = {o for o in other_introns if o[0] == d[0] or o[1] == d[1]}
        if linked:
            mine.append(d)
            competing |= linked
    return tuple(mine), tuple(sorted(competing))


def spanning_mates(exons: list[tuple[int, int]], introns, spec: DemoSpec) -> float:
    """Expected read mates per fragment of a transcript (``exons``, 1-based, ascending) that
    span one of ``introns`` with JUNCTION_ANCHOR bases on each side, under the read simulator's
    fragments (kgpex.demo.reads.draw_fragments: length ~ N(mean, sd) clipped to the transcript,
    uniform start, one mate at each end)."""
    tx_introns = _introns(exons)
    ends = np.cumsum([e - s + 1 for s, e in exons])
    junctions = np.array([ends[k] for k, i in enumerate(tx_introns) if i in set(introns)])
    if len(junctions) == 0:
        return 0.0
    length, r, a = int(ends[-1]), spec.read_length, JUNCTION_ANCHOR
    grid = np.arange(
        np.floor(spec.fragment_mean - FRAGMENT_GRID_SD * spec.fragment_sd),
        np.ceil(spec.fragment_mean + FRAGMENT_GRID_SD * spec.fragment_sd) + 1,
    )
    weight = np.exp(-0.5 * ((grid - spec.fragment_mean) / spec.fragment_sd) ** 2)
    weight /= weight.sum()
    frag = np.minimum(np.maximum(grid, max(100, r)), length)[:, None]  # MIN_FRAGMENT = 100
    n_starts = length - frag + 1
    total = np.zeros(len(grid))
    for shift in (np.zeros_like(frag), frag - r):  # mate at the fragment's start, at its end
        # A mate at a = start + shift spans junction j (between bases j-1 and j, 0-based) with
        # both anchors if j - r + anchor <= a <= j - anchor.
        lo = np.maximum(junctions[None, :] - r + a - shift, 0)
        hi = np.minimum(junctions[None, :] - a - shift, n_starts - 1)
        total += np.maximum(hi - lo + 1, 0).sum(axis=1) / n_starts[:, 0]
    return float(weight @ total)


def _mean_probs(plan: ExpressionPlan) -> np.ndarray:
    """Expected aligned fragments per transcript per library: every pair (or the first
    ALIGNED_PAIRS, where set, of a larger library), mean over the libraries."""
    runs = sorted(plan.fragment_probs)
    pairs = {run: plan.read_pairs[run] if ALIGNED_PAIRS is None
             else min(ALIGNED_PAIRS, plan.read_pairs[run]) for run in runs}
    return np.mean([pairs[run] * plan.fragment_probs[run] for run in runs], axis=0)


def _expected_reads(gene: Gene, rows: slice, mean_probs: np.ndarray, introns, spec) -> float:
    mates = np.array([spanning_mates(t.exons, introns, spec) for t in gene.transcripts])
    return float(mean_probs[rows] @ mates)


def _eligible(spec, ref, plan, variants, tx_rows) -> list[_Choice]:
    """Every gene that may carry an sQTL, with its best-powered switch isoform, best first.

    With a reads on the switch isoform's alternative introns and b on the introns competing with
    them (expected per library, at the baseline proportions), a b / (a + b) = n p (1 - p) is the
    information the cluster's reads carry about a log-odds shift: the score genes are ranked by.
    """
    mean_probs = _mean_probs(plan)
    choices = []
    for k, g in enumerate(ref.genes):
        if g.chrom not in variants or len(g.transcripts) < 2:
            continue
        best = None
        for s in range(len(g.transcripts)):
            mine, competing = _switch_introns(g, s)
            if not mine:
                continue
            a = _expected_reads(g, tx_rows[k], mean_probs, mine, spec)
            b = _expected_reads(g, tx_rows[k], mean_probs, competing, spec)
            if a + b < spec.sqtl_min_junction_reads or min(a, b) < spec.sqtl_min_minor_reads:
                continue
            score = a * b / (a + b)
            if best is None or score > best.score:
                best = _Choice(k, s, mine, competing, score)
        if best is not None:
            choices.append(best)
    return sorted(choices, key=lambda c: (-c.score, c.gene))


def _tx_rows(ref: Reference) -> list[slice]:
    rows, start = [], 0
    for g in ref.genes:
        rows.append(slice(start, start + len(g.transcripts)))
        start += len(g.transcripts)
    return rows


def haplotype_fractions(f0: np.ndarray, switch: int, beta: float, allele: np.ndarray) -> np.ndarray:
    """Isoform fractions (isoforms x haplotypes) of haplotypes carrying ``allele`` (0/1 each)."""
    p0 = f0[switch]
    p = expit(logit(p0) + beta * np.asarray(allele, dtype=float))
    fractions = np.outer(f0 / (1 - p0), 1 - p)
    fractions[switch] = p
    return fractions


def plant_sqtls(
    spec: DemoSpec,
    seed: int,
    ref: Reference,
    cohort: Cohort,
    panel: Panel,
    variants: dict[str, ChromVariants],
    plan: ExpressionPlan,
) -> ExpressionPlan:
    """``plan`` with sQTLs planted: its fragment probabilities of the sGenes follow each
    individual's isoform fractions, and ``sqtls`` holds the truth table."""
    empty = pd.DataFrame(columns=list(SQTL_COLUMNS))
    if spec.n_sgenes <= 0:
        return replace(plan, sqtls=empty)
    rng = rng_for(seed, "sqtls")
    tx_rows = _tx_rows(ref)
    choices = _eligible(spec, ref, plan, variants, tx_rows)
    if not choices:
        # A cohort too small for any (tests' tiny specs): no sQTL, and the truth table says so.
        log.warning("demo: no gene can carry an sQTL (n_sgenes=%d): none is an autosomal gene "
                    "with an alternative splice junction and enough junction reads",
                    spec.n_sgenes)
        return replace(plan, sqtls=empty)
    if len(choices) < spec.n_sgenes:
        log.warning("demo: %d genes can carry an sQTL, fewer than n_sgenes=%d", len(choices),
                    spec.n_sgenes)
    panel_index = {s: k for k, s in enumerate(panel.samples)}
    cols = np.array([panel_index[i] for i in cohort.individuals])
    ind_index = {ind: k for k, ind in enumerate(cohort.individuals)}
    run_individual = {r["run_accession"]: r["individual"] for r in cohort.runs}
    candidates = {}
    for chrom, v in variants.items():
        dosage = v.haps[:, 2 * cols].astype(float) + v.haps[:, 2 * cols + 1]
        cand = _candidate_snps(v, dosage, spec.causal_min_maf)
        af = dosage[cand].mean(axis=1) / 2
        candidates[chrom] = (cand, np.minimum(af, 1 - af))

    fragment_probs = {run: p.copy() for run, p in plan.fragment_probs.items()}
    planted = []
    for choice in choices:  # the best-powered genes first
        if len(planted) == spec.n_sgenes:
            break
        g = ref.genes[choice.gene]
        v = variants[g.chrom]
        cand, maf = candidates[g.chrom]
        near = np.abs(v.pos[cand] - g.tss) <= SQTL_WINDOW
        preferred = near & (maf >= spec.sqtl_preferred_maf)
        keep = preferred if preferred.any() else near
        if not keep.any():
            continue
        j = int(rng.choice(cand[keep]))
        beta = float(rng.choice([-1.0, 1.0]) * rng.uniform(*spec.sqtl_log_odds))
        rows = tx_rows[choice.gene]
        f0 = plan.isoform_fractions[choice.gene]
        p0 = f0[choice.switch]
        if abs(expit(logit(p0) + beta) - p0) < MIN_DELTA_PSI:
            beta = -beta  # a rare isoform made rarer (or a dominant one more so) moves little
        h1 = haplotype_fractions(f0, choice.switch, beta, v.haps[j, 2 * cols])
        h2 = haplotype_fractions(f0, choice.switch, beta, v.haps[j, 2 * cols + 1])
        fractions = (h1 + h2) / 2  # isoforms x individuals
        _apply(fragment_probs, rows, fractions, plan.effective_lengths[rows], run_individual,
               ind_index)
        planted.append((choice, j, beta, f0, fractions))

    rows_out = []
    new_plan = replace(plan, fragment_probs=fragment_probs)
    mean_probs = _mean_probs(new_plan)
    for choice, j, beta, f0, fractions in sorted(planted, key=lambda p: p[0].gene):
        g = ref.genes[choice.gene]
        v = variants[g.chrom]
        cand, maf = candidates[g.chrom]
        p0 = f0[choice.switch]
        share = fractions[choice.switch]
        depth = sum(_expected_reads(g, tx_rows[choice.gene], mean_probs, introns, spec)
                    for introns in (choice.introns, choice.competing))
        noise = share.mean() * (1 - share.mean()) / depth
        rows_out.append(
            {
                "gene_id": g.gene_id,
                "gene_name": g.gene_name,
                "chrom": g.chrom,
                "tss": g.tss,
                "causal_variant": v.ids[j],
                "beta": round(beta, 4),
                "delta_psi": round(float(expit(logit(p0) + beta) - p0), 4),
                "switch_transcript": g.transcripts[choice.switch].transcript_id,
                "introns": ",".join(f"{g.chrom}:{s}:{e}" for s, e in choice.introns),
                "expected_junction_reads_per_library": round(
                    _expected_reads(g, tx_rows[choice.gene], mean_probs, choice.introns, spec), 2
                ),
                "maf": round(float(maf[np.searchsorted(cand, j)]), 4),
                "baseline_share": round(float(p0), 4),
                "share_sd": round(float(share.std()), 4),
                "expected_r2": round(float(share.var() / (share.var() + noise)), 4),
            }
        )
    return replace(new_plan, sqtls=pd.DataFrame(rows_out, columns=list(SQTL_COLUMNS)))


def _apply(fragment_probs, rows, fractions, eff_len, run_individual, ind_index) -> None:
    """Split each library's fragment probability of one gene by the individual's isoform
    fractions (in place). The gene's total probability is left as it is, which is the same as
    rescaling the individual's molecules of the gene so that molecules x effective length,
    summed over the isoforms, equals what the fixed proportions give: the gene's expected reads,
    and every other gene's, do not change with the causal genotype, only their split."""
    for run, probs in fragment_probs.items():
        weight = fractions[:, ind_index[run_individual[run]]] * eff_len
        probs[rows] = probs[rows].sum() * weight / weight.sum()
