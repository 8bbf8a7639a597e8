"""The demo cohort generator: committed sheets, real formats on a tiny cohort, and the eQTL plan."""

from __future__ import annotations

import gzip
import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from kgpex.common.errors import KgpexError
from kgpex.demo import (
    DemoSpec,
    build_model,
    generate,
    load_cohort,
    make_sheets,
    write_sheets,
)
from kgpex.demo import generator as generate_module
from kgpex.demo import spec as names
from kgpex.demo.__main__ import main as demo_cli
from kgpex.demo.expression import (
    HETEROGENEOUS_MIN_GROUP_MAF,
    MAX_LOG2_AFC,
    MAX_PAIR_R2,
    haplotype_expression,
)
from kgpex.samples.sheets import load_sheets

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SEED = CONFIG["demo"]["seed"]
COMMITTED_INDIVIDUALS = ROOT / "resources" / "demo" / "individuals.tsv"
COMMITTED_RUNS = ROOT / "resources" / "demo" / "runs.tsv"

TINY = replace(
    DemoSpec(),
    n_individuals=16,
    n_triplicates=2,
    n_batches=3,
    chrom_lengths=(("chr21", 400_000), ("chr22", 450_000)),
    n_genes=24,
    n_mito_genes=2,
    n_panel_only=6,
    variants_per_kb=2.0,
    n_single_egenes=4,
    n_double_egenes=2,
    egene_pool_fraction=0.9,
    read_pairs=1500,
)
TINY_SEED = 7


# --------------------------------------------------------------------------------------------
# Committed sheets


def test_committed_sheets_are_what_the_seed_makes(tmp_path):
    ind, runs = write_sheets(SEED, tmp_path)
    assert ind.read_bytes() == COMMITTED_INDIVIDUALS.read_bytes()
    assert runs.read_bytes() == COMMITTED_RUNS.read_bytes()


def test_cli_writes_the_committed_sheets(tmp_path):
    assert demo_cli(["sheets", "--seed", str(SEED), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "runs.tsv").read_bytes() == COMMITTED_RUNS.read_bytes()


def test_committed_sheets_follow_the_schemas_and_look_like_mage():
    sheets = load_sheets(COMMITTED_INDIVIDUALS, COMMITTED_RUNS)
    assert len(sheets.individuals) == 100
    runs_per_individual = Counter(r["individual"] for r in sheets.runs.values())
    assert sorted(Counter(runs_per_individual.values()).items()) == [(1, 95), (3, 5)]
    assert {r["continental_group"] for r in sheets.individuals.values()} == {
        "AFR",
        "AMR",
        "EAS",
        "EUR",
        "SAS",
    }
    assert {r["sex"] for r in sheets.individuals.values()} == {"male", "female"}
    assert 3 <= len({r["batch"] for r in sheets.runs.values()}) <= 4
    assert all(re.fullmatch(r"SRR9\d{7}", run) for run in sheets.runs)
    # Triplicates: two replicates together in a batch other than the first library's.
    for ind, n in runs_per_individual.items():
        if n == 3:
            batches = [sheets.runs[r]["batch"] for r in sheets.runs_of(ind)]
            assert batches[1] == batches[2] != batches[0]


def test_sheets_depend_on_the_seed():
    assert make_sheets(SEED)[0] != make_sheets(SEED + 1)[0]


def test_config_points_at_the_generated_files():
    base = "resources/demo/generated"
    assert CONFIG["samples"]["run_table"] == f"{base}/{names.RUN_TABLE}"
    ref = CONFIG["reference"]
    gencode = f"{base}/{names.GENCODE_DIR}"
    assert ref["transcripts_url"] == f"{gencode}/{names.TRANSCRIPTS_FA}"
    assert ref["annotation_url"] == f"{gencode}/{names.ANNOTATION_GTF}"
    assert ref["genome_url"] == f"{gencode}/{names.GENOME_FA}"
    assert ref["md5sums_url"] == f"{gencode}/{names.MD5SUMS}"
    assert CONFIG["genotypes"]["vcf_url"] == f"{base}/{names.VCF_DIR}/{names.VCF_NAME}"
    assert set(CONFIG["genotypes"]["chromosomes"]) <= set(DemoSpec().chromosomes)


# --------------------------------------------------------------------------------------------
# A tiny cohort, generated for real


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    ind, runs = write_sheets(TINY_SEED, base, TINY)
    out = base / "generated"
    written = generate(TINY_SEED, ind, runs, out, TINY)
    return {"base": base, "out": out, "individuals": ind, "runs": runs, "written": written}


def _gtf(path: Path) -> list[tuple[list[str], dict[str, str]]]:
    rows = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            attrs = dict(re.findall(r'(\S+) "?([^";]*)"?;', fields[8]))
            rows.append((fields, attrs))
    return rows


def _fasta(path: Path) -> dict[str, str]:
    seqs, name, parts = {}, None, []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith(">"):
                if name is not None:
                    seqs[name] = "".join(parts)
                name, parts = line[1:], []
            else:
                parts.append(line)
    seqs[name] = "".join(parts)
    return seqs


def _revcomp(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def test_generated_files_are_the_expected_layout(tiny):
    sheets = load_sheets(tiny["individuals"], tiny["runs"])
    expected = generate_module.expected_outputs(tiny["out"], sorted(sheets.runs), TINY.chromosomes)
    assert sorted(map(str, tiny["written"])) == sorted(map(str, expected))
    assert all(p.is_file() for p in expected)
    # Nothing temporary is left beside the output.
    assert [p.name for p in tiny["base"].iterdir() if "partial" in p.name] == []


def test_vcf_is_phased_biallelic_indexed_and_has_a_bigger_panel(tiny):
    cohort = set(load_sheets(tiny["individuals"], tiny["runs"]).individuals)
    genome = _fasta(tiny["out"] / names.GENCODE_DIR / names.GENOME_FA)
    genome = {name.split()[0]: seq for name, seq in genome.items()}
    for chrom, length in TINY.chrom_lengths:
        path = tiny["out"] / names.VCF_DIR / names.VCF_NAME.format(chrom=chrom)
        with pysam.VariantFile(str(path)) as vcf:
            samples = list(vcf.header.samples)
            assert cohort < set(samples)
            assert vcf.header.contigs[chrom].length == length
            assert list(vcf.header.formats) == ["GT"]
            records = list(vcf.fetch())
            region = list(vcf.fetch(chrom, 100_000, 200_000))
        assert records and region
        assert [r.pos for r in region] == [r.pos for r in records if 100_000 < r.pos <= 200_000]
        in_cohort = np.array([s in cohort for s in samples])
        positions = Counter(r.pos for r in records)
        assert any(n == 2 for n in positions.values()), "no split multi-allelic site"
        assert any(max(len(r.ref), len(r.alts[0])) > 50 for r in records), "no long indel"
        assert any(len(r.ref) != len(r.alts[0]) for r in records)
        monomorphic_in_cohort_common_in_panel = 0
        for rec in records:
            assert rec.id is None and len(rec.alts) == 1
            assert genome[chrom][rec.pos - 1 : rec.pos - 1 + len(rec.ref)] == rec.ref
            gts = np.array([rec.samples[s]["GT"] for s in samples])
            assert all(rec.samples[s].phased for s in samples)
            assert gts.sum() > 0  # the panel carries only variants seen in it
            carriers = gts.sum(axis=1)
            if carriers[in_cohort].sum() == 0 and carriers.sum() >= 0.05 * 2 * len(samples):
                monomorphic_in_cohort_common_in_panel += 1
        assert monomorphic_in_cohort_common_in_panel > 0


def test_vcf_text_is_nygc_style(tiny):
    path = tiny["out"] / names.VCF_DIR / names.VCF_NAME.format(chrom="chr21")
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    assert lines[0] == "##fileformat=VCFv4.2"
    body = [line.split("\t") for line in lines if not line.startswith("#")]
    assert {row[2] for row in body} == {"."}
    assert {row[8] for row in body} == {"GT"}
    assert all(re.fullmatch(r"[01]\|[01]", gt) for row in body for gt in row[9:])
    assert path.read_bytes()[:4] == b"\x1f\x8b\x08\x04"  # BGZF, not plain gzip


def test_gtf_is_gencode_style_and_consistent(tiny):
    gtf_path = tiny["out"] / names.GENCODE_DIR / names.ANNOTATION_GTF
    with gzip.open(gtf_path, "rt") as fh:
        header = [line for line in fh if line.startswith("##")]
    assert "##provider: GENCODE\n" in header and "##format: gtf\n" in header
    rows = _gtf(gtf_path)
    genes, transcripts, exons = {}, {}, defaultdict(list)
    for fields, attrs in rows:
        chrom, feature, start, end, strand = (
            fields[0],
            fields[2],
            int(fields[3]),
            int(fields[4]),
            fields[6],
        )
        assert re.fullmatch(r"ENSG\d{11}\.\d+", attrs["gene_id"])
        if feature == "gene":
            genes[attrs["gene_id"]] = (chrom, start, end, strand, attrs)
        elif feature == "transcript":
            assert re.fullmatch(r"ENST\d{11}\.\d+", attrs["transcript_id"])
            transcripts[attrs["transcript_id"]] = (chrom, start, end, strand, attrs)
        else:
            assert feature == "exon"
            exons[attrs["transcript_id"]].append((start, end, int(attrs["exon_number"])))
    assert {g[0] for g in genes.values()} == {"chr21", "chr22", "chrM"}
    assert {g[3] for g in genes.values()} == {"+", "-"}
    assert {g[4]["gene_type"] for g in genes.values()} == {"protein_coding", "lncRNA"}
    assert len(genes) == TINY.n_genes + TINY.n_mito_genes
    by_gene = defaultdict(list)
    for tid, (chrom, start, end, strand, attrs) in transcripts.items():
        gchrom, gstart, gend, gstrand, gattrs = genes[attrs["gene_id"]]
        assert (chrom, strand, attrs["gene_name"]) == (gchrom, gstrand, gattrs["gene_name"])
        by_gene[attrs["gene_id"]].append((start, end))
        tx_exons = exons[tid]
        assert min(s for s, _, _ in tx_exons) == start and max(e for _, e, _ in tx_exons) == end
        # exon_number follows the transcript's direction.
        ordered = [s for s, _, _ in sorted(tx_exons, key=lambda x: x[2])]
        assert ordered == sorted(ordered, reverse=strand == "-")
    for gid, spans in by_gene.items():
        assert genes[gid][1] == min(s for s, _ in spans) and genes[gid][2] == max(
            e for _, e in spans
        )
    assert (
        1 <= min(map(len, by_gene.values()))
        and max(map(len, by_gene.values())) <= TINY.max_isoforms
    )
    assert max(map(len, by_gene.values())) > 1


def test_transcript_fasta_headers_and_sequences_match_the_exons(tiny):
    gencode = tiny["out"] / names.GENCODE_DIR
    genome = {name.split()[0]: seq for name, seq in _fasta(gencode / names.GENOME_FA).items()}
    exons, strand_of, chrom_of = defaultdict(list), {}, {}
    for fields, attrs in _gtf(gencode / names.ANNOTATION_GTF):
        if fields[2] == "exon":
            exons[attrs["transcript_id"]].append((int(fields[3]), int(fields[4])))
            strand_of[attrs["transcript_id"]] = fields[6]
            chrom_of[attrs["transcript_id"]] = fields[0]
    transcripts = _fasta(gencode / names.TRANSCRIPTS_FA)
    assert len(transcripts) == len(exons)
    for header, seq in transcripts.items():
        fields = header.split("|")
        assert len(fields) == 9 and fields[8] == ""
        tid, gid, otg, ott, tname, gname, length, biotype = fields[:8]
        assert otg.startswith("OTTHUMG") and ott.startswith("OTTHUMT")
        assert re.fullmatch(rf"{re.escape(gname)}-2\d\d", tname)
        assert int(length) == len(seq) == sum(e - s + 1 for s, e in exons[tid])
        assert len(seq) >= 2 * TINY.fragment_mean
        spliced = "".join(genome[chrom_of[tid]][s - 1 : e] for s, e in sorted(exons[tid]))
        assert seq == (spliced if strand_of[tid] == "+" else _revcomp(spliced))


def test_md5sums_list_the_gencode_files(tiny):
    gencode = tiny["out"] / names.GENCODE_DIR
    lines = (gencode / names.MD5SUMS).read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        md5, name = line.split("  ")
        assert hashlib.md5((gencode / name).read_bytes()).hexdigest() == md5


def _fastq_records(path: Path) -> list[tuple[str, str, str, str]]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    return [tuple(lines[i : i + 4]) for i in range(0, len(lines), 4)]


def test_run_table_matches_the_fastq_files(tiny):
    table = pd.read_csv(tiny["out"] / names.RUN_TABLE, sep="\t", dtype=str)
    sheets = load_sheets(tiny["individuals"], tiny["runs"])
    assert list(table.columns) == list(generate_module.RUN_TABLE_COLUMNS)
    assert sorted(table.run_accession) == sorted(sheets.runs)
    for row in table.itertuples():
        assert row.sample_alias == sheets.runs[row.run_accession]["individual"]
        urls, md5s, sizes = (
            row.fastq_ftp.split(";"),
            row.fastq_md5.split(";"),
            row.fastq_bytes.split(";"),
        )
        counts = []
        for mate, (url, md5, size) in enumerate(zip(urls, md5s, sizes), start=1):
            parsed = urlparse(url)
            assert parsed.scheme == "file" and Path(parsed.path).is_absolute()
            path = Path(parsed.path)
            assert path.name == f"{row.run_accession}_{mate}.fastq.gz"
            data = path.read_bytes()
            assert hashlib.md5(data).hexdigest() == md5 and len(data) == int(size)
            records = _fastq_records(path)
            counts.append(len(records))
            for n, (head, seq, plus, qual) in enumerate(records[:50], start=1):
                assert head == f"@{row.run_accession}.{n} {n}/{mate}"
                assert len(seq) == TINY.read_length and set(seq) <= set("ACGT")
                assert plus == "+" and qual == "I" * TINY.read_length
        assert counts[0] == counts[1] == int(row.read_count)
        assert int(row.base_count) == 2 * TINY.read_length * int(row.read_count)
    # Replicates differ in depth, so the pipeline has a deepest library to keep.
    reads = table.set_index("run_accession").read_count.astype(int)
    for ind in sheets.individuals:
        depths = reads[sheets.runs_of(ind)]
        assert len(set(depths)) == len(depths)


def test_reads_come_from_transcripts_on_both_strands(tiny):
    gencode = tiny["out"] / names.GENCODE_DIR
    transcriptome = "#".join(_fasta(gencode / names.TRANSCRIPTS_FA).values())
    run = sorted(load_sheets(tiny["individuals"], tiny["runs"]).runs)[0]
    mate1 = _fastq_records(tiny["out"] / names.FASTQ_DIR / run / f"{run}_1.fastq.gz")
    sense = antisense = 0
    for _, seq, _, _ in mate1[:200]:
        probe = seq[:25]  # short enough to dodge most sequencing errors
        sense += probe in transcriptome
        antisense += _revcomp(seq)[-25:] in transcriptome
    assert sense > 60 and antisense > 60  # unstranded: read 1 from either strand


def test_truth_table_describes_planted_variants(tiny):
    truth = pd.read_csv(tiny["out"] / names.TRUTH_TABLE, sep="\t", keep_default_na=False)
    assert list(truth.columns) == [
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
    ]
    assert (truth.n_causal == 1).sum() == TINY.n_single_egenes
    assert (truth.n_causal == 2).sum() == TINY.n_double_egenes
    assert set(truth.causal_variants[truth.n_causal == 0]) == {"NA"}
    for row in truth[truth.n_causal > 0].itertuples():
        ids = row.causal_variants.split(",")
        assert len(ids) == len(row.effect_sizes.split(",")) == row.n_causal
        for vid in ids:
            chrom, pos, ref, alt = vid.split(":")
            assert chrom == row.chrom and len(ref) == len(alt) == 1
            assert abs(int(pos) - row.tss) <= 1_000_000


def test_generation_is_deterministic(tiny, tmp_path):
    again = generate(TINY_SEED, tiny["individuals"], tiny["runs"], tmp_path / "generated", TINY)
    first = pd.read_csv(tiny["out"] / names.RUN_TABLE, sep="\t")
    second = pd.read_csv(tmp_path / "generated" / names.RUN_TABLE, sep="\t")
    assert list(first.fastq_md5) == list(second.fastq_md5)
    for a in tiny["written"]:
        if a.name.endswith((".vcf.gz", ".gtf.gz", ".fa.gz")) or a.name == names.TRUTH_TABLE:
            b = tmp_path / "generated" / a.relative_to(tiny["out"])
            assert a.read_bytes() == b.read_bytes(), a.name
    assert len(again) == len(tiny["written"])


def test_failed_generation_leaves_nothing_that_looks_complete(tiny, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(generate_module, "write_fastq_gz", broken)
    with pytest.raises(RuntimeError):
        generate(TINY_SEED, tiny["individuals"], tiny["runs"], tmp_path / "generated", TINY)
    assert not (tmp_path / "generated" / names.RUN_TABLE).exists()
    assert (
        not any((tmp_path / "generated").rglob("*.gz"))
        if (tmp_path / "generated").exists()
        else True
    )
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_bad_sheet_is_one_line_before_any_work(tiny, tmp_path):
    runs = tmp_path / "runs.tsv"
    runs.write_text("run_accession\tindividual\tbatch\nSRR90000001\tXX12345\t1\n")
    with pytest.raises(KgpexError, match=r"runs.tsv line 2"):
        generate(TINY_SEED, tiny["individuals"], runs, tmp_path / "generated", TINY)
    assert not (tmp_path / "generated").exists()


# --------------------------------------------------------------------------------------------
# The full default cohort's plan (no files, no reads)


@pytest.fixture(scope="module")
def full_model():
    return build_model(DemoSpec(), SEED, load_cohort(COMMITTED_INDIVIDUALS, COMMITTED_RUNS))


def test_full_plan_has_enough_planted_egenes(full_model):
    truth = full_model.plan.truth
    assert (truth.n_causal == 1).sum() >= 60
    assert (truth.n_causal == 2).sum() >= 10
    planted = truth[truth.n_causal > 0]
    # Mostly in the range a 100-sample scan detects; nulls have no genetic variance.
    assert planted.r2.between(0.1, 0.6).mean() >= 0.8
    assert (truth.r2[truth.n_causal == 0] == 0).all()
    # Planted among well-expressed genes.
    assert planted.mean_tpm.median() > truth.mean_tpm[truth.chrom != "chrM"].median()


def test_full_plan_causal_variants_are_common_snps_and_pairs_independent(full_model):
    model = full_model
    panel_index = {s: k for k, s in enumerate(model.panel.samples)}
    cols = np.array([panel_index[i] for i in model.cohort.individuals])
    index = {}
    for chrom, v in model.variants.items():
        dosage = v.dosages(cols).astype(float)
        for k, vid in enumerate(v.ids):
            index[vid] = (dosage[k], v.multiallelic[k])
    for row in model.plan.truth[model.plan.truth.n_causal > 0].itertuples():
        ids = row.causal_variants.split(",")
        for vid in ids:
            dosage, multiallelic = index[vid]
            _, _, ref, alt = vid.split(":")
            af = dosage.mean() / 2
            assert len(ref) == len(alt) == 1 and not multiallelic
            assert min(af, 1 - af) >= DemoSpec().causal_min_maf
        if len(ids) == 2:
            r = np.corrcoef(index[ids[0]][0], index[ids[1]][0])[0, 1]
            assert r**2 < MAX_PAIR_R2


def test_full_cohort_windows_and_population_structure(full_model):
    model = full_model
    panel_index = {s: k for k, s in enumerate(model.panel.samples)}
    cols = np.array([panel_index[i] for i in model.cohort.individuals])
    # Variants a scan tests (cohort MAF >= 0.01) in each TSS +-1 Mb window: a few hundred to
    # ~2000 (up to ~1300 before the common exonic SNPs for the identity check came on top).
    counts = []
    for gene in model.reference.genes:
        if gene.chrom in model.variants:
            v = model.variants[gene.chrom]
            af = v.dosages(cols).mean(axis=1) / 2
            tested = np.minimum(af, 1 - af) >= 0.01
            counts.append(int((tested & (np.abs(v.pos - gene.tss) <= 1_000_000)).sum()))
    assert 200 <= min(counts) and max(counts) <= 2_000
    # Genotype PCs separate the continental groups.
    dosage = np.vstack([v.dosages(cols) for v in model.variants.values()]).astype(float)
    af = dosage.mean(axis=1) / 2
    common = dosage[(af > 0.05) & (af < 0.95)]
    z = (common - common.mean(axis=1, keepdims=True)) / common.std(axis=1, keepdims=True)
    pcs = np.linalg.svd(z.T, full_matrices=False)[0][:, :4]
    groups = np.array([p.continental_group for p in model.cohort.people])
    for k in range(2):
        between = sum((groups == g).sum() * pcs[groups == g, k].mean() ** 2 for g in set(groups))
        assert between / (pcs[:, k] ** 2).sum() > 0.7
    # LD: neighbouring common variants are correlated far more than distant ones.
    v = model.variants["chr22"]
    d = v.dosages(cols).astype(float)
    af = d.mean(axis=1) / 2
    keep = (af > 0.1) & (af < 0.9)
    d, pos = d[keep], v.pos[keep]
    r2 = np.corrcoef(d) ** 2
    dist = np.abs(pos[:, None] - pos[None, :])
    assert r2[(dist > 0) & (dist < 10_000)].mean() > 3 * r2[dist > 500_000].mean()


def test_haplotype_expression_is_afcn_model_by_hand():
    # One variant, log2 aFC 1: REF/REF 1, REF/ALT (1 + 2) / 2, ALT/ALT 2 (natural log).
    hap1 = np.array([[0, 1, 1]], dtype=float)
    hap2 = np.array([[0, 0, 1]], dtype=float)
    got = haplotype_expression(np.array([1.0]), hap1, hap2)
    assert np.allclose(got, np.log([1.0, 1.5, 2.0]))
    # Two variants on one haplotype multiply: 2^(1 - 2) on haplotype 1, 2^0 on haplotype 2.
    got = haplotype_expression(np.array([1.0, -2.0]), np.array([[1.0], [1.0]]), np.array([[0.0], [0.0]]))
    assert np.allclose(got, np.log((0.5 + 1) / 2))


def test_full_plan_plants_afc_effects_and_heterogeneous_eqtls(full_model):
    model = full_model
    truth = model.plan.truth
    planted = truth[truth.n_causal > 0]
    effects = np.array([float(e) for row in planted.effect_sizes for e in row.split(",")])
    assert np.abs(effects).max() <= MAX_LOG2_AFC and (np.abs(effects) > 0.1).all()
    het = truth[truth.heterogeneous_group != "NA"]
    assert len(het) == DemoSpec().n_heterogeneous_egenes
    assert (het.n_causal == 1).all()
    assert np.allclose(het.heterogeneous_effect_size.astype(float), -het.effect_sizes.astype(float))
    panel_index = {s: k for k, s in enumerate(model.panel.samples)}
    cols = np.array([panel_index[i] for i in model.cohort.individuals])
    groups = np.array([p.continental_group for p in model.cohort.people])
    dosage = {
        vid: v.dosages(cols)[k] for v in model.variants.values() for k, vid in enumerate(v.ids)
    }
    for row in het.itertuples():
        d = dosage[row.causal_variants]
        mafs = {g: min(d[groups == g].mean() / 2, 1 - d[groups == g].mean() / 2) for g in set(groups)}
        assert mafs[row.heterogeneous_group] >= HETEROGENEOUS_MIN_GROUP_MAF
        assert sum(m >= HETEROGENEOUS_MIN_GROUP_MAF for m in mafs.values()) >= 2
