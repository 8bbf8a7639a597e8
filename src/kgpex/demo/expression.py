"""Expression of every gene in every library, with planted cis-eQTLs and realistic noise.

Natural-log expression of gene g in a library of individual i:

    y = mean_g + genetic_gi + hidden_factors_i . loadings_g + biological_gi + batch_g,b + technical

``genetic`` follows aFC-n's haplotype model (Mohammadi 2017; Ongen/Taylor's aFC-n): each of the
individual's two haplotypes is expressed at 2^(sum over the gene's causal variants of s x ALT
allele on that haplotype), and the gene's expression is their sum, centred over the cohort:

    genetic_gi = ln((2^(s . h1_i) + 2^(s . h2_i)) / 2) - cohort mean

so s is each variant's log2 allelic fold change (aFC: an ALT haplotype's expression over a REF
haplotype's), which aFC-n estimates. The effects of a gene are scaled together so that genetic
variance / total variance of y over the cohort (each individual's deepest library, the one the
pipeline keeps) hits a drawn target; the truth table records the realised value. A few single
eGenes are heterogeneous: in one continental group the effect has the opposite sign, which
MAGE's genotype x group interaction test should find. Isoforms split a gene's molecules in fixed
proportions; a library's reads follow molecules x effective length, and library size varies.
(kgpex.demo.sqtls then makes the proportions of a few genes depend on genotype: planted sQTLs
that leave each gene's reads as they are here.)

The same model splits each gene's reads between the individual's haplotypes: a fragment comes
from haplotype 1 with probability 2^(s . h1) / (2^(s . h1) + 2^(s . h2)) (``haplotype_shares``),
1/2 for genes without a planted eQTL, so allelic imbalance agrees with the planted eQTLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from kgpex.demo.cohort import Cohort
from kgpex.demo.genotypes import ChromVariants, Panel
from kgpex.demo.reference import Reference
from kgpex.demo.spec import DemoSpec, rng_for

TRUTH_COLUMNS = (
    "gene_id",
    "gene_name",
    "chrom",
    "tss",
    "n_causal",
    "causal_variants",
    "effect_sizes",
    "heterogeneous_group",
    "heterogeneous_effect_size",
    "r2",
    "mean_tpm",
)
CIS_WINDOW = 1_000_000
CAUSAL_DISTANCE_SCALE = 100_000  # causal variants sit mostly within ~100 kb of the TSS
MAX_PAIR_R2 = 0.3  # two causal variants of one gene are at most this correlated
WEAK_FRACTION = 0.15  # single-variant eGenes planted below the 100-sample detection range
MAX_LOG2_AFC = 6.0  # inside aFC-n's +-6.64 bound (100-fold), so a planted effect is estimable
# A heterogeneous eQTL's variant is common in the group where its effect flips and in at least
# one other, so MAGE's interaction test (MAF >= 0.05 in two groups) tests it with some power.
HETEROGENEOUS_MIN_GROUP_MAF = 0.15
HETEROGENEOUS_LOG2_AFC = (1.5, 2.5)  # |log2 aFC| of a heterogeneous eQTL, drawn uniformly
MAX_R2 = 0.55  # the largest genetic share of expression variance planted (two-eQTL genes)
HETEROGENEOUS_MAX_SHARE = 0.3  # most of the genotype variance lies in the groups that keep the sign


@dataclass(frozen=True)
class CausalVariant:
    variant_id: str
    effect: float  # log2 aFC: an ALT haplotype's expression over a REF haplotype's
    flipped_group: str | None = None  # continental group where the effect has the other sign


@dataclass
class ExpressionPlan:
    truth: pd.DataFrame  # TRUTH_COLUMNS, one row per gene in GTF order
    read_pairs: dict[str, int]  # run -> read pairs
    fragment_probs: dict[str, np.ndarray]  # run -> probability of each transcript (GTF order)
    selected_runs: dict[str, str]  # individual -> the run with the most read pairs
    # Share of each gene's molecules from haplotype 1 (the VCF's first allele), genes (GTF order)
    # x individuals (cohort order).
    first_haplotype_share: np.ndarray
    # Each gene's fixed isoform proportions (GTF order within the gene), and each transcript's
    # effective length (reads ~ molecules x effective length); kgpex.demo.sqtls builds on them.
    isoform_fractions: list[np.ndarray] = field(default_factory=list)
    effective_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # The planted sQTLs (kgpex.demo.sqtls.SQTL_COLUMNS), once planted; None before.
    sqtls: pd.DataFrame | None = None

    @property
    def n_single(self) -> int:
        return int((self.truth["n_causal"] == 1).sum())

    @property
    def n_double(self) -> int:
        return int((self.truth["n_causal"] == 2).sum())


def library_sizes(spec: DemoSpec, seed: int, cohort: Cohort) -> dict[str, int]:
    """Read pairs per run: library-size spread, and replicates at 0.5x..1.5x depth."""
    rng = rng_for(seed, "library_sizes")
    sizes = {}
    for person in cohort.people:
        runs = [r["run_accession"] for r in cohort.runs if r["individual"] == person.individual]
        depths = np.linspace(0.5, 1.5, len(runs)) if len(runs) > 1 else np.ones(1)
        for run, depth in zip(runs, rng.permutation(depths)):
            sizes[run] = max(1000, int(round(spec.read_pairs * depth * rng.lognormal(0.0, 0.25))))
    return sizes


def _candidate_snps(
    variants: ChromVariants, cohort_dosage: np.ndarray, min_maf: float
) -> np.ndarray:
    """Records that may be causal: biallelic SNPs (not part of a split site), cohort MAF >= min_maf,
    not the exonic SNPs planted for the identity check (so the planted eQTLs do not move when
    those are added)."""
    af = cohort_dosage.mean(axis=1) / 2
    maf = np.minimum(af, 1 - af)
    return np.flatnonzero(
        variants.is_snp & ~variants.multiallelic & ~variants.exonic & (maf >= min_maf)
    )


def plan_expression(
    spec: DemoSpec,
    seed: int,
    ref: Reference,
    cohort: Cohort,
    panel: Panel,
    variants: dict[str, ChromVariants],
) -> ExpressionPlan:
    rng = rng_for(seed, "expression")
    genes = ref.genes
    n_genes = len(genes)
    individuals = cohort.individuals
    n_ind = len(individuals)
    panel_index = {s: k for k, s in enumerate(panel.samples)}
    cohort_cols = np.array([panel_index[i] for i in individuals])

    # Baseline expression: lncRNAs lower, chrM genes very high (and filtered out downstream).
    mean = np.array(
        [
            (
                rng.normal(3.0, 0.5)
                if g.chrom == "chrM"
                else rng.normal(-1.2, 0.9) if g.gene_type == "lncRNA" else rng.normal(0.0, 1.0)
            )
            for g in genes
        ]
    )
    iso_fracs = [rng.dirichlet([3.0] + [1.0] * (len(g.transcripts) - 1)) for g in genes]

    # Non-genetic variation.
    factors = rng.normal(0, 1, (n_ind, spec.n_hidden_factors))
    loadings = rng.normal(0, 0.25, (n_genes, spec.n_hidden_factors))
    biological = rng.normal(0, 1, (n_genes, n_ind)) * rng.uniform(0.2, 0.45, (n_genes, 1))
    batches = sorted({r["batch"] for r in cohort.runs})
    batch_effect = dict(zip(batches, rng.normal(0, 0.15, (len(batches), n_genes))))

    read_pairs = library_sizes(spec, seed, cohort)
    ind_index = {ind: k for k, ind in enumerate(individuals)}
    run_rows = {r["run_accession"]: r for r in cohort.runs}
    technical = {run: rng.normal(0, 0.05, n_genes) for run in sorted(run_rows)}
    selected: dict[str, str] = {}
    for run in sorted(run_rows):  # ties keep the first accession
        ind = run_rows[run]["individual"]
        if ind not in selected or read_pairs[run] > read_pairs[selected[ind]]:
            selected[ind] = run
    sel_runs = [selected[i] for i in individuals]
    non_genetic = (
        loadings @ factors.T
        + biological
        + np.stack([batch_effect[run_rows[r]["batch"]] + technical[r] for r in sel_runs], axis=1)
    )

    # Reads follow molecules x effective length (transcripts in the order of ref.transcripts()).
    lengths = np.array([t.length for _, t in ref.transcripts()], dtype=float)
    eff_len = np.maximum(lengths - spec.fragment_mean + 1, 1.0)
    gene_of_tx = np.concatenate([np.full(len(g.transcripts), k) for k, g in enumerate(genes)])
    frac_of_tx = np.concatenate(iso_fracs)
    log_reads = mean + np.log(np.bincount(gene_of_tx, frac_of_tx * eff_len, n_genes))

    groups = np.array([p.continental_group for p in cohort.people])  # people sorted as individuals
    genetic, causal, shares = _plant_eqtls(
        spec, rng, ref, variants, cohort_cols, groups, log_reads, non_genetic
    )

    fragment_probs = {}
    tpm = np.zeros((n_genes, n_ind))
    for run in sorted(run_rows):
        k = ind_index[run_rows[run]["individual"]]
        y = mean + genetic[:, k] + loadings @ factors[k] + biological[:, k]
        y = y + batch_effect[run_rows[run]["batch"]] + technical[run]
        molecules = np.exp(y)[gene_of_tx] * frac_of_tx
        weight = molecules * eff_len
        fragment_probs[run] = weight / weight.sum()
        if selected[run_rows[run]["individual"]] == run:
            tpm[:, k] = np.bincount(gene_of_tx, molecules, n_genes) / molecules.sum() * 1e6

    total = genetic + non_genetic
    rows = []
    for k, g in enumerate(genes):
        cv = causal.get(k, [])
        var_total = total[k].var()
        rows.append(
            {
                "gene_id": g.gene_id,
                "gene_name": g.gene_name,
                "chrom": g.chrom,
                "tss": g.tss,
                "n_causal": len(cv),
                "causal_variants": ",".join(c.variant_id for c in cv) if cv else "NA",
                "effect_sizes": ",".join(f"{c.effect:.4f}" for c in cv) if cv else "NA",
                "heterogeneous_group": next((c.flipped_group for c in cv if c.flipped_group), "NA"),
                "heterogeneous_effect_size": next(
                    (f"{-c.effect:.4f}" for c in cv if c.flipped_group), "NA"
                ),
                "r2": round(float(genetic[k].var() / var_total), 4) if var_total > 0 else 0.0,
                "mean_tpm": round(float(tpm[k].mean()), 3),
            }
        )
    return ExpressionPlan(
        truth=pd.DataFrame(rows, columns=list(TRUTH_COLUMNS)),
        read_pairs=read_pairs,
        fragment_probs=fragment_probs,
        selected_runs=selected,
        first_haplotype_share=shares,
        isoform_fractions=iso_fracs,
        effective_lengths=eff_len,
    )


def haplotype_expression(s: np.ndarray, hap1: np.ndarray, hap2: np.ndarray) -> np.ndarray:
    """ln of aFC-n's expression, (2^(s.h1) + 2^(s.h2)) / 2, per individual (haps: variants x n;
    ``s`` per variant, or variants x n for effects that differ between individuals)."""
    s = s[:, None] if s.ndim == 1 else s
    e1 = np.exp2((s * hap1).sum(axis=0))
    e2 = np.exp2((s * hap2).sum(axis=0))
    return np.log((e1 + e2) / 2)


def haplotype_shares(s: np.ndarray, hap1: np.ndarray, hap2: np.ndarray) -> np.ndarray:
    """Share of the molecules from haplotype 1, 2^(s.h1) / (2^(s.h1) + 2^(s.h2)), per individual
    (arguments as for ``haplotype_expression``)."""
    s = s[:, None] if s.ndim == 1 else s
    e1 = np.exp2((s * hap1).sum(axis=0))
    e2 = np.exp2((s * hap2).sum(axis=0))
    return e1 / (e1 + e2)


def _scale_to_variance(direction, hap1, hap2, target_var):
    """The multiple t of ``direction`` (log2 aFC per variant, possibly per individual) whose
    genetic component has variance ``target_var``; capped where an effect reaches MAX_LOG2_AFC."""
    t_max = MAX_LOG2_AFC / np.abs(direction).max()

    def excess(t):
        return haplotype_expression(t * direction, hap1, hap2).var() - target_var

    if excess(t_max) <= 0:
        return t_max
    return brentq(excess, 0.0, t_max, xtol=1e-10)


def _plant_eqtls(spec, rng, ref, variants, cohort_cols, groups, log_reads, non_genetic):
    """Pick eGenes among autosomal genes with many reads and give them 1 or 2 causal variants;
    the first ``n_heterogeneous_egenes`` single eGenes flip sign in one continental group."""
    genes = ref.genes
    n_ind = len(cohort_cols)
    genetic = np.zeros((len(genes), n_ind))
    first_share = np.full((len(genes), n_ind), 0.5)
    haps = {
        c: (v.haps[:, 2 * cohort_cols].astype(float), v.haps[:, 2 * cohort_cols + 1].astype(float))
        for c, v in variants.items()
    }
    dosage = {c: h1 + h2 for c, (h1, h2) in haps.items()}
    candidates = {
        c: _candidate_snps(v, dosage[c], spec.causal_min_maf) for c, v in variants.items()
    }
    ids = {c: v.ids for c, v in variants.items()}
    group_names = sorted(set(groups))
    in_group = {gr: groups == gr for gr in group_names}

    autosomal = [k for k, g in enumerate(genes) if g.chrom in variants]
    cutoff = np.quantile(log_reads[autosomal], 1 - spec.egene_pool_fraction)
    pool = [k for k in autosomal if log_reads[k] >= cutoff]
    order = rng.permutation(pool)
    n_double, n_single = spec.n_double_egenes, spec.n_single_egenes
    n_heterogeneous = min(spec.n_heterogeneous_egenes, n_single)
    causal: dict[int, list[CausalVariant]] = {}
    for k in order:
        want = 2 if n_double > 0 else 1 if n_single > 0 else 0
        if want == 0:
            break
        heterogeneous = want == 1 and n_heterogeneous > 0
        g = genes[k]
        v = variants[g.chrom]
        cand = candidates[g.chrom]
        distance = np.abs(v.pos[cand] - g.tss)
        cand, distance = cand[distance <= CIS_WINDOW // 2], distance[distance <= CIS_WINDOW // 2]
        flip_groups = {}
        if heterogeneous:
            for j in cand:
                d = dosage[g.chrom][j]
                maf = {gr: min(d[in_group[gr]].mean() / 2, 1 - d[in_group[gr]].mean() / 2) for gr in group_names}
                # Each group's share of the within-group genotype variance: the flipped group
                # holds a minority of it, so the pooled eQTL survives the flip (else it cancels).
                ss = {gr: ((d[in_group[gr]] - d[in_group[gr]].mean()) ** 2).sum() for gr in group_names}
                total = sum(ss.values())
                common = [gr for gr in group_names if maf[gr] >= HETEROGENEOUS_MIN_GROUP_MAF]
                flippable = [gr for gr in common if total > 0 and ss[gr] / total <= HETEROGENEOUS_MAX_SHARE]
                if len(common) >= 2 and flippable:
                    flip_groups[j] = flippable
            keep = np.isin(cand, list(flip_groups))
            cand, distance = cand[keep], distance[keep]
        if len(cand) < want:
            continue
        weights = np.exp(-distance / CAUSAL_DISTANCE_SCALE)
        first = int(rng.choice(cand, p=weights / weights.sum()))
        picked = [first]
        if want == 2:
            d0 = dosage[g.chrom][first]
            r2 = np.array([np.corrcoef(d0, dosage[g.chrom][j])[0, 1] ** 2 for j in cand])
            ok = (r2 < MAX_PAIR_R2) & (cand != first)
            if not ok.any():
                continue
            w = weights * ok
            picked.append(int(rng.choice(cand, p=w / w.sum())))
        if want == 2:
            target = rng.uniform(0.3, 0.55)
            split = rng.uniform(0.4, 0.6)
            shares = [split, 1 - split]
            n_double -= 1
        else:
            weak = not heterogeneous and rng.random() < WEAK_FRACTION
            target = rng.uniform(0.05, 0.12) if weak else rng.uniform(0.15, 0.5)
            shares = [1.0]
            n_single -= 1
        flipped = str(rng.choice(flip_groups[first])) if heterogeneous else None
        n_heterogeneous -= heterogeneous
        # Direction of the effects: sign, and a size per variant that splits the genetic
        # variance by ``shares`` (in the small-effect limit, where aFC acts like a dosage effect).
        signs = rng.choice([-1.0, 1.0], size=len(picked))
        direction = np.array(
            [sign * np.sqrt(share / dosage[g.chrom][j].var()) for j, share, sign in zip(picked, shares, signs)]
        )
        per_individual = np.repeat(direction[:, None], n_ind, axis=1)
        if flipped:
            per_individual[:, in_group[flipped]] *= -1
        h1, h2 = haps[g.chrom][0][picked], haps[g.chrom][1][picked]
        var_genetic = target / (1 - target) * non_genetic[k].var()
        if flipped:
            # A size the interaction test can see in a ~20-person group, not a variance target
            # (flipped signs make group-mean shifts that a target would count as signal); but no
            # more genetic variance than the largest target, lest the gene dominate the
            # expression PCs (hidden factors) and carry its signal into other genes.
            t = min(
                rng.uniform(*HETEROGENEOUS_LOG2_AFC) / np.abs(direction).max(),
                _scale_to_variance(per_individual, h1, h2, MAX_R2 / (1 - MAX_R2) * non_genetic[k].var()),
            )
        else:
            t = _scale_to_variance(per_individual, h1, h2, var_genetic)
        effect = haplotype_expression(t * per_individual, h1, h2)
        genetic[k] = effect - effect.mean()
        first_share[k] = haplotype_shares(t * per_individual, h1, h2)
        causal[k] = [
            CausalVariant(ids[g.chrom][j], float(t * d), flipped)
            for j, d in zip(picked, direction)
        ]
    if n_double > 0 or n_single > 0:
        raise ValueError(
            f"demo spec: could not plant all eGenes ({n_single} single, {n_double} double left); "
            "add genes or variants"
        )
    return genetic, causal, first_share
