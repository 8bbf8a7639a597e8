"""Phased genotypes of a reference panel, laid out like NYGC's 1kGP high-coverage VCFs.

Haplotypes come from a structured coalescent: the chromosome is cut into LD blocks (exponential
lengths, mean ``ld_block_kb``); each block has its own genealogy of all panel haplotypes under a
population tree with out-of-Africa bottlenecks; each variant is a mutation on a branch drawn by
branch length, carried by the haplotypes below it. Variants on one branch are in perfect LD,
nested branches in partial LD, and LD decays with distance as blocks change. Drift in the
bottlenecked groups makes allele frequencies differ, so genotype PCs separate the groups; AMR
haplotypes take their local ancestry per block from Native American, European and African
lineages. The panel holds the cohort plus panel-only samples, and some sites are common among
the panel-only samples and monomorphic in the cohort.

On top of those sites, common SNPs are planted in exons (``exonic_snps_per_kb``), so that RNA-seq
reads show each individual's alleles at heterozygous sites. They are mutations on the same block
genealogies, restricted to branches whose carriers make up a cohort MAF >= ``exonic_snp_min_maf``,
and they draw from their own random stream, so the other sites stay as they were.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgpex.demo.cohort import Cohort, Person, draw_people
from kgpex.demo.reference import BASES, Reference
from kgpex.demo.spec import DemoSpec, rng_for

# Population sizes relative to the ancestral one ("NAT": Native American lineages of AMR).
POP_SIZES = {"AFR": 1.0, "EUR": 0.25, "SAS": 0.3, "EAS": 0.2, "NAT": 0.12}
# Going back in time (coalescent units): (time, population, population it merges into).
POP_MERGES = (
    (0.04, "NAT", "EAS"),
    (0.05, "SAS", "EUR"),
    (0.07, "EAS", "EUR"),
    (0.10, "EUR", "AFR"),
)
AMR_ANCESTRY = {"NAT": 0.45, "EUR": 0.45, "AFR": 0.10}
SITE_KINDS = ("snp", "insertion", "deletion", "multiallelic", "panel_only")
SITE_PROBS = (0.86, 0.04, 0.05, 0.03, 0.02)
LONG_INDEL_FRACTION = 0.05
ALT_MAJOR_FRACTION = 0.1  # SNPs whose REF is the derived allele, as at some real sites
GT_STRINGS = np.array(["0|0", "0|1", "1|0", "1|1"])


@dataclass(frozen=True)
class Panel:
    people: list[Person]  # VCF sample order (sorted by ID)
    in_cohort: np.ndarray  # bool per sample

    @property
    def samples(self) -> list[str]:
        return [p.individual for p in self.people]


@dataclass
class ChromVariants:
    """Biallelic records of one chromosome; split multi-allelic sites share a position."""

    chrom: str
    pos: np.ndarray  # 1-based
    ref: list[str]
    alt: list[str]
    multiallelic: np.ndarray  # bool: record is one allele of a split multi-allelic site
    haps: np.ndarray  # uint8 (records x 2*samples): sample s has columns 2s, 2s+1
    # bool: a common SNP planted in an exon for the identity check (never a causal variant, so
    # the planted eQTLs are those the other sites give)
    exonic: np.ndarray

    @property
    def ids(self) -> list[str]:
        return [f"{self.chrom}:{p}:{r}:{a}" for p, r, a in zip(self.pos, self.ref, self.alt)]

    @property
    def is_snp(self) -> np.ndarray:
        return np.array([len(r) == 1 and len(a) == 1 for r, a in zip(self.ref, self.alt)])

    def dosages(self, sample_index: np.ndarray) -> np.ndarray:
        """ALT dosages (records x samples) of the samples at ``sample_index``."""
        return self.haps[:, 2 * sample_index] + self.haps[:, 2 * sample_index + 1]


def build_panel(spec: DemoSpec, seed: int, cohort: Cohort) -> Panel:
    rng = rng_for(seed, "panel")
    extra = draw_people(rng, spec.n_panel_only, set(cohort.individuals))
    people = sorted(cohort.people + extra, key=lambda p: p.individual)
    members = set(cohort.individuals)
    return Panel(people=people, in_cohort=np.array([p.individual in members for p in people]))


def _site_positions(rng: np.random.Generator, spec: DemoSpec, length: int) -> np.ndarray:
    """Site positions with a density that varies in 250 kb blocks, as real variant density does."""
    block = 250_000
    positions = []
    for start in range(0, length, block):
        end = min(start + block, length)
        rate = spec.variants_per_kb / 1000 * rng.gamma(4.0, 0.25)
        positions.append(rng.integers(start + 1, end + 1, rng.poisson(rate * (end - start))))
    pos = np.unique(np.concatenate(positions))
    return pos[(pos > 1_000) & (pos < length - 1_000)]


def _random_bases(rng: np.random.Generator, n: int) -> str:
    return BASES[rng.integers(0, 4, n)].tobytes().decode()


def _left_aligned_deletion(genome: np.ndarray, pos: int, size: int) -> str:
    """REF of a deletion anchored at ``pos``, lengthened until it cannot shift left (as after
    bcftools norm): the last deleted base must differ from the anchor base."""
    while genome[pos - 1 + size] == genome[pos - 1]:
        size += 1
    return BASES[genome[pos - 1 : pos + size]].tobytes().decode()


def _design_sites(rng, spec, chrom, genome):
    """Records (pos, ref, alt, kind): alleles match the genome, indels are left-aligned, and no
    record overlaps the next site."""
    records = []
    last_end = 0
    have_long = False
    for pos in _site_positions(rng, spec, len(genome)):
        pos = int(pos)
        if pos <= last_end:
            continue
        kind = SITE_KINDS[rng.choice(len(SITE_KINDS), p=SITE_PROBS)]
        ref_base = BASES[genome[pos - 1]].tobytes().decode()
        if kind in ("insertion", "deletion"):
            long_indel = rng.random() < LONG_INDEL_FRACTION or not have_long
            size = int(rng.integers(51, 150)) if long_indel else int(rng.geometric(0.4))
            have_long |= long_indel
            if kind == "insertion":
                inserted = _random_bases(rng, size - 1) + rng.choice(
                    [b for b in "ACGT" if b != ref_base]
                )
                records.append((pos, ref_base, ref_base + inserted, kind))
                last_end = pos
            else:
                ref = _left_aligned_deletion(genome, pos, size)
                records.append((pos, ref, ref_base, kind))
                last_end = pos + len(ref) - 1
            continue
        others = [b for b in "ACGT" if b != ref_base]
        if kind == "multiallelic":
            alts = rng.choice(others, 2, replace=False)
            records.append((pos, ref_base, str(alts[0]), kind))
            if rng.random() < 0.7:
                records.append((pos, ref_base, str(alts[1]), kind))
            else:  # a SNP and a deletion at one position, as bcftools norm -m- splits them
                ref = _left_aligned_deletion(genome, pos, int(rng.integers(1, 6)))
                records.append((pos, ref, ref_base, kind))
                last_end = pos + len(ref) - 1
                continue
        else:
            records.append((pos, ref_base, str(others[rng.integers(3)]), kind))
        last_end = pos
    return records


def _exonic_snp_positions(
    rng: np.random.Generator, spec: DemoSpec, chrom: str, ref: Reference, taken: np.ndarray
) -> np.ndarray:
    """Sorted positions in the exons of ``chrom``'s genes, none inside ``taken`` (bool per base,
    True where an existing record's REF lies)."""
    exonic = np.zeros(len(ref.genome[chrom]), dtype=bool)
    for gene in ref.genes:
        if gene.chrom == chrom:
            for tx in gene.transcripts:
                for s, e in tx.exons:
                    exonic[s - 1 : e] = True
    n = min(rng.poisson(spec.exonic_snps_per_kb / 1000 * exonic.sum()), int(exonic.sum()))
    pos = np.sort(rng.choice(np.flatnonzero(exonic), size=n, replace=False)) + 1
    return pos[~taken[pos - 1]]


def coalescent_tree(rng: np.random.Generator, leaf_pops: list[str]) -> tuple[list[int], np.ndarray]:
    """One genealogy of the leaves: (leaf set of each node as a bitmask, branch lengths).

    The root's branch length is 0, so no mutation falls above it. Python's Random does the
    per-event draws: this loop runs once per coalescence and numpy's per-call cost dominates.
    """
    draw = random.Random(int(rng.integers(2**63)))
    pops = list(POP_SIZES)
    lineages: dict[str, list[int]] = {p: [] for p in pops}
    for leaf, pop in enumerate(leaf_pops):
        lineages[pop].append(leaf)
    clades = [1 << leaf for leaf in range(len(leaf_pops))]
    times = [0.0] * len(leaf_pops)
    lengths = [0.0] * len(leaf_pops)
    merges = list(POP_MERGES)
    t = 0.0
    remaining = len(leaf_pops)
    while remaining > 1:
        rates = [len(lineages[p]) * (len(lineages[p]) - 1) / 2 / POP_SIZES[p] for p in pops]
        total = sum(rates)
        wait = draw.expovariate(total) if total > 0 else float("inf")
        if merges and t + wait >= merges[0][0]:
            t, source, target = merges.pop(0)
            lineages[target] += lineages[source]
            lineages[source] = []
            continue
        t += wait
        pool = lineages[draw.choices(pops, weights=rates)[0]]
        a, b = sorted(draw.sample(range(len(pool)), 2), reverse=True)
        left, right = pool.pop(a), pool.pop(b)
        for child in (left, right):
            lengths[child] = t - times[child]
        clades.append(clades[left] | clades[right])
        times.append(t)
        lengths.append(0.0)
        pool.append(len(clades) - 1)
        remaining -= 1
    return clades, np.array(lengths)


def _bits_to_haplotypes(bits: int, n: int) -> np.ndarray:
    raw = np.frombuffer(bits.to_bytes((n + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:n]


def simulate_chromosome(
    spec: DemoSpec, seed: int, chrom: str, ref: Reference, panel: Panel
) -> ChromVariants:
    rng = rng_for(seed, "genotypes", chrom)
    genome = ref.genome[chrom]
    records = _design_sites(rng, spec, chrom, genome)
    n_rec = len(records)
    kinds = np.array([r[3] for r in records])
    pos = np.array([r[0] for r in records], dtype=np.int64)
    n_haps = 2 * len(panel.people)
    haps = np.zeros((n_rec, n_haps), dtype=np.uint8)

    # LD blocks, each with its own genealogy; AMR haplotypes draw their local ancestry per block.
    n_blocks = max(1, rng.poisson(len(genome) / (spec.ld_block_kb * 1000)))
    block_ends = np.sort(rng.integers(1, len(genome), n_blocks))
    block_of = np.searchsorted(block_ends, pos)
    groups = [p.continental_group for p in panel.people for _ in (0, 1)]
    amr_pops, amr_weights = list(AMR_ANCESTRY), np.array(list(AMR_ANCESTRY.values()))

    def genealogy(draw: np.random.Generator) -> tuple[list[int], np.ndarray]:
        leaf_pops = [g if g != "AMR" else amr_pops[draw.choice(3, p=amr_weights)] for g in groups]
        return coalescent_tree(draw, leaf_pops)

    trees = {}  # kept for the exonic SNPs, which share the blocks' genealogies
    for block in np.unique(block_of):
        clades, lengths = trees[block] = genealogy(rng)
        prob = lengths / lengths.sum()
        previous = None
        for i in np.flatnonzero(block_of == block):
            carriers = _bits_to_haplotypes(clades[rng.choice(len(clades), p=prob)], n_haps)
            if previous is not None and pos[previous] == pos[i]:
                # A haplotype carries at most one ALT allele of a split multi-allelic site.
                carriers &= 1 - haps[previous]
            elif kinds[i] == "snp" and rng.random() < ALT_MAJOR_FRACTION:
                carriers = 1 - carriers
            haps[i] = carriers
            previous = i

    # Sites common among panel-only samples and absent from the cohort.
    panel_only = np.flatnonzero(kinds == "panel_only")
    cohort_cols = np.repeat(panel.in_cohort, 2)
    for i in panel_only:
        haps[i] = np.where(cohort_cols, 0, rng.random(n_haps) < rng.uniform(0.25, 0.5))

    keep = haps.sum(axis=1) > 0  # the panel holds only variants seen in it
    idx = np.flatnonzero(keep)
    ref_alleles = [records[i][1] for i in idx]
    alt_alleles = [records[i][2] for i in idx]
    pos, haps = pos[idx], haps[idx]

    # Common exonic SNPs, off every existing record's REF span (one record per position).
    exonic_rng = rng_for(seed, "genotypes", chrom, "exonic")
    taken = np.zeros(len(genome), dtype=bool)
    for p, r in zip(pos, ref_alleles):
        taken[p - 1 : p - 1 + len(r)] = True
    ex_pos = _exonic_snp_positions(exonic_rng, spec, chrom, ref, taken)
    ex_haps = _common_carriers(exonic_rng, spec, ex_pos, block_ends, trees, genealogy, panel)
    ex_pos = ex_pos[ex_haps.sum(axis=1) > 0]  # blocks without a common branch plant nothing
    ex_haps = ex_haps[ex_haps.sum(axis=1) > 0]
    ex_ref = BASES[genome[ex_pos - 1]]
    shift = exonic_rng.integers(1, 4, len(ex_pos))  # ALT: any base but REF
    ex_alt = BASES[(genome[ex_pos - 1] + shift) % 4]
    order = np.argsort(np.concatenate([pos, ex_pos]), kind="stable")
    exonic = np.concatenate([np.zeros(len(pos), bool), np.ones(len(ex_pos), bool)])[order]
    pos = np.concatenate([pos, ex_pos])[order]
    haps = np.concatenate([haps, ex_haps])[order]
    ref_alleles = np.array(ref_alleles + [chr(b) for b in ex_ref], dtype=object)[order].tolist()
    alt_alleles = np.array(alt_alleles + [chr(b) for b in ex_alt], dtype=object)[order].tolist()

    same_as_prev = np.concatenate([[False], pos[1:] == pos[:-1]])
    same_as_next = np.concatenate([pos[:-1] == pos[1:], [False]])
    return ChromVariants(
        chrom=chrom,
        pos=pos,
        ref=ref_alleles,
        alt=alt_alleles,
        multiallelic=same_as_prev | same_as_next,
        haps=haps,
        exonic=exonic,
    )


def _common_carriers(rng, spec, positions, block_ends, trees, genealogy, panel) -> np.ndarray:
    """Haplotypes (positions x panel haplotypes) of common SNPs: each is a mutation on a branch
    of its block's genealogy, drawn by length among branches whose carriers give a cohort MAF of
    at least ``spec.exonic_snp_min_maf``. Blocks without a genealogy yet get one from ``rng``."""
    n_haps = 2 * len(panel.people)
    haps = np.zeros((len(positions), n_haps), dtype=np.uint8)
    cohort_cols = np.flatnonzero(np.repeat(panel.in_cohort, 2))
    cohort_mask = sum(1 << int(c) for c in cohort_cols)
    n_cohort = len(cohort_cols)
    block_of = np.searchsorted(block_ends, positions)
    for block in np.unique(block_of):
        if block not in trees:
            trees[block] = genealogy(rng)
        clades, lengths = trees[block]
        count = np.array([(c & cohort_mask).bit_count() for c in clades])
        common = np.minimum(count, n_cohort - count) >= spec.exonic_snp_min_maf * n_cohort
        weights = lengths * common
        if weights.sum() == 0:
            continue
        for i in np.flatnonzero(block_of == block):
            carriers = _bits_to_haplotypes(
                clades[rng.choice(len(clades), p=weights / weights.sum())], n_haps
            )
            haps[i] = 1 - carriers if rng.random() < ALT_MAJOR_FRACTION else carriers
    return haps


def vcf_header(chrom_lengths: dict[str, int], samples: list[str]) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        "##source=kgpex demo cohort (synthetic haplotypes in the layout of the NYGC 1kGP phased panel)",
        "##reference=GRCh38.DEMO.genome.fa",
    ]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in chrom_lengths.items()]
    lines += [
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called genotypes">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele Frequency">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        ),
    ]
    return "\n".join(lines) + "\n"


def write_vcf(variants: ChromVariants, ref: Reference, panel: Panel, path: Path) -> None:
    """bgzipped VCF and its tabix index (``path`` + '.tbi')."""
    import pysam

    plain = path.with_name(path.name + ".plain")
    contigs = {c: len(ref.genome[c]) for c in ref.genome}
    an = variants.haps.shape[1]
    with open(plain, "w") as fh:
        fh.write(vcf_header(contigs, panel.samples))
        for i in range(len(variants.pos)):
            h = variants.haps[i]
            ac = int(h.sum())
            gts = "\t".join(GT_STRINGS[2 * h[0::2] + h[1::2]])
            fh.write(
                f"{variants.chrom}\t{variants.pos[i]}\t.\t{variants.ref[i]}\t{variants.alt[i]}\t.\tPASS\t"
                f"AC={ac};AN={an};AF={ac / an:.6g}\tGT\t{gts}\n"
            )
    try:
        pysam.tabix_compress(str(plain), str(path), force=True)
    finally:
        plain.unlink()
    pysam.tabix_index(str(path), preset="vcf", force=True)
