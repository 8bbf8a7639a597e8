"""kgpex.expression: salmon output, library choice, gene aggregation, normalisation, TSS BEDs."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess

import numpy as np
import pandas as pd
import pysam
import pytest

from kgpex.common.errors import KgpexError
from kgpex.common.io import write_bgzip_indexed
from kgpex.expression import normalize
from kgpex.expression.aggregate import aggregate_genes, read_quant, read_tx2gene
from kgpex.expression.libraries import (
    choose_libraries,
    library_types_table,
    plot_library_qc,
    salmon_library_info,
)
from kgpex.expression.matrices import (
    filtered_genes_table,
    normalize_expression,
    tss_bed,
)
from kgpex.reference.genes import read_genes

# ----------------------------------------------------------------------------- fixtures


def write_quant(path, rows):
    """rows: (name, tpm, numreads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fh.write("Name\tLength\tEffectiveLength\tTPM\tNumReads\n")
        fh.writelines(f"{name}\t1000\t850.000\t{tpm:.6f}\t{reads:.3f}\n" for name, tpm, reads in rows)
    return path


def write_salmon_json(dirpath, expected_format="ISR", num_processed=1000, num_mapped=900, isf=5, isr=880):
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "aux_info").mkdir(exist_ok=True)
    fmt = {
        "read_files": "[ r_1.fq.gz, r_2.fq.gz]",
        "expected_format": expected_format,
        "compatible_fragment_ratio": 0.99,
        "num_compatible_fragments": isr,
        "num_assigned_fragments": num_mapped,
        "strand_mapping_bias": 0.006,
        "ISF": isf,
        "ISR": isr,
        "IU": 0,
    }
    meta = {
        "salmon_version": "1.10.1",
        "library_types": [expected_format],
        "num_processed": num_processed,
        "num_mapped": num_mapped,
        "percent_mapped": 100.0 * num_mapped / num_processed,
    }
    (dirpath / "lib_format_counts.json").write_text(json.dumps(fmt))
    (dirpath / "aux_info" / "meta_info.json").write_text(json.dumps(meta))
    return dirpath / "lib_format_counts.json", dirpath / "aux_info" / "meta_info.json"


TX2GENE = pd.Series(
    {"ENST1.1": "ENSG1.1", "ENST2.1": "ENSG1.1", "ENST3.2": "ENSG2.4", "ENST4.1": "ENSG3.1"},
    name="gene_id",
)


# ----------------------------------------------------------------------------- salmon output


def test_salmon_library_info_and_library_types(tmp_path):
    fmt, meta = write_salmon_json(tmp_path / "SRR2", num_processed=2000, num_mapped=1500, isf=10, isr=990)
    info = salmon_library_info("SRR2", fmt, meta)
    assert info["salmon_format"] == "ISR" and info["meta_library_types"] == "ISR"
    assert info["num_processed"] == 2000 and info["percent_mapped"] == 75.0
    assert info["isr_fraction"] == pytest.approx(0.99)
    fmt1, meta1 = write_salmon_json(tmp_path / "SRR1", expected_format="IU")
    table = library_types_table(
        [info, salmon_library_info("SRR1", fmt1, meta1)], "A", {"SRR1": "b1", "SRR2": "b2"},
        {"SRR1": ["SRR1"], "SRR2": ["SRR2", "SRR3"]},
    )
    assert list(table["library"]) == ["SRR1", "SRR2"]
    assert list(table.columns[:5]) == ["library", "batch", "runs", "requested_format", "salmon_format"]
    assert list(table["batch"]) == ["b1", "b2"]
    assert list(table["runs"]) == ["SRR1", "SRR2,SRR3"]


def test_salmon_library_info_names_bad_file(tmp_path):
    fmt, meta = write_salmon_json(tmp_path / "SRR1")
    data = json.loads(meta.read_text())
    del data["num_processed"]
    meta.write_text(json.dumps(data))
    with pytest.raises(KgpexError, match=r"meta_info.json: field 'num_processed' missing"):
        salmon_library_info("SRR1", fmt, meta)
    meta.write_text("{not json")
    with pytest.raises(KgpexError, match="meta_info.json: not valid JSON"):
        salmon_library_info("SRR1", fmt, meta)


@pytest.mark.skipif(shutil.which("salmon") is None, reason="salmon not installed")
def test_salmon_library_info_reads_real_salmon_output(tmp_path):
    """A tiny real salmon run: the fields we read exist, with the values salmon reports."""
    rng = random.Random(7)
    seqs = ["".join(rng.choice("ACGT") for _ in range(800)) for _ in range(3)]
    with gzip.open(tmp_path / "tx.fa.gz", "wt") as fh:
        for i, s in enumerate(seqs):
            fh.write(f">ENST{i}.1|ENSG{i}.1|-|-|T{i}-201|T{i}|800|protein_coding|\n{s}\n")
    comp = str.maketrans("ACGT", "TGCA")
    with gzip.open(tmp_path / "r_1.fq.gz", "wt") as f1, gzip.open(tmp_path / "r_2.fq.gz", "wt") as f2:
        for i in range(600):
            s = seqs[i % 2]
            p = rng.randint(0, 550)
            frag = s[p : p + 250]
            f1.write(f"@r{i}/1\n{frag[::-1].translate(comp)[:70]}\n+\n{'I' * 70}\n")  # ISR
            f2.write(f"@r{i}/2\n{frag[:70]}\n+\n{'I' * 70}\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=tmp_path)
    run("salmon", "index", "-t", "tx.fa.gz", "-i", "idx", "--gencode", "-k", "31", "-p", "1")
    run("salmon", "quant", "-i", "idx", "-l", "A", "-1", "r_1.fq.gz", "-2", "r_2.fq.gz",
        "-p", "1", "--validateMappings", "-o", "q")
    info = salmon_library_info("R1", tmp_path / "q/lib_format_counts.json", tmp_path / "q/aux_info/meta_info.json")
    assert info["num_processed"] == 600
    assert info["num_mapped"] == 600
    assert info["isr_fraction"] == 1.0
    quant = read_quant(tmp_path / "q/quant.sf")
    assert list(quant.index) == ["ENST0.1", "ENST1.1", "ENST2.1"]  # --gencode keeps the ID only
    assert quant["NumReads"].sum() == pytest.approx(600, abs=0.01)


# ----------------------------------------------------------------------------- library choice


def test_choose_libraries_most_reads_and_tie_break():
    libraries = pd.DataFrame(
        {
            "library": ["SRR5", "SRR3", "SRR4", "SRR9", "SRR8", "SRX1"],
            "individual": ["NA1", "NA1", "NA1", "HG2", "HG2", "HG3"],
            "runs": ["SRR5", "SRR3", "SRR4", "SRR9", "SRR8", "SRR1,SRR2"],
            "num_processed": [100, 300, 200, 50, 50, 10],
        }
    )
    choice = choose_libraries(libraries)
    assert list(choice.columns) == [
        "individual", "library", "runs", "num_processed", "n_libraries", "libraries_considered",
    ]
    rows = choice.set_index("individual")
    assert list(rows.index) == ["HG2", "HG3", "NA1"]
    assert rows.loc["NA1", "library"] == "SRR3"  # most reads
    assert rows.loc["NA1", "n_libraries"] == 3
    assert rows.loc["NA1", "libraries_considered"] == "SRR3,SRR4,SRR5"
    assert rows.loc["HG2", "library"] == "SRR8"  # tie: smaller ID
    assert rows.loc["HG3", "library"] == "SRX1" and rows.loc["HG3", "n_libraries"] == 1
    assert rows.loc["HG3", "runs"] == "SRR1,SRR2"  # a library of two lanes


# ----------------------------------------------------------------------------- aggregation


def test_aggregate_genes_sums_numreads_and_tpm(tmp_path):
    q1 = write_quant(tmp_path / "B/quant.sf", [("ENST1.1", 10.5, 3.25), ("ENST2.1", 0.25, 1.5),
                                              ("ENST3.2", 100.0, 40.0), ("ENST4.1", 0.0, 0.0)])
    q2 = write_quant(tmp_path / "A/quant.sf", [("ENST1.1", 1.0, 1.0), ("ENST2.1", 2.0, 2.0),
                                              ("ENST3.2", 0.0, 0.0), ("ENST4.1", 7.0, 6.5)])
    counts, tpm = aggregate_genes({"SRR_B": q1, "SRR_A": q2}, TX2GENE)
    assert list(counts.columns) == ["SRR_A", "SRR_B"]
    assert list(counts.index) == ["ENSG1.1", "ENSG2.4", "ENSG3.1"]
    assert counts.loc["ENSG1.1", "SRR_B"] == 4.75
    assert tpm.loc["ENSG1.1", "SRR_B"] == 10.75
    assert counts.loc["ENSG1.1", "SRR_A"] == 3.0 and tpm.loc["ENSG3.1", "SRR_A"] == 7.0
    assert counts.loc["ENSG2.4", "SRR_A"] == 0.0 and counts.loc["ENSG2.4", "SRR_B"] == 40.0


def test_aggregate_genes_unknown_transcript_is_an_error(tmp_path):
    q = write_quant(tmp_path / "A/quant.sf", [("ENST1.1", 1, 1), ("ENST77.1", 1, 1)])
    with pytest.raises(KgpexError, match=r"quant.sf: transcript ENST77.1 is not in tx2gene"):
        aggregate_genes({"SRR1": q}, TX2GENE)


def test_aggregate_genes_rejects_runs_from_another_index(tmp_path):
    q1 = write_quant(tmp_path / "A/quant.sf", [("ENST1.1", 1, 1), ("ENST3.2", 1, 1)])
    q2 = write_quant(tmp_path / "B/quant.sf", [("ENST1.1", 1, 1), ("ENST4.1", 1, 1)])
    with pytest.raises(KgpexError, match=r"B/quant.sf: transcripts differ"):
        aggregate_genes({"SRR1": q1, "SRR2": q2}, TX2GENE)


def test_read_quant_and_tx2gene_errors(tmp_path):
    bad = tmp_path / "quant.sf"
    bad.write_text("Name\tLength\tTPM\n")
    with pytest.raises(KgpexError, match="columns missing: EffectiveLength, NumReads"):
        read_quant(bad)
    neg = write_quant(tmp_path / "n/quant.sf", [("ENST1.1", 1.0, 1.0), ("ENST2.1", 1.0, -2.0)])
    with pytest.raises(KgpexError, match="line 3: NumReads"):
        read_quant(neg)
    t2g = tmp_path / "tx2gene.tsv"
    t2g.write_text("transcript_id\tgene_id\nENST1.1\tENSG1.1\nENST1.1\tENSG2.1\n")
    with pytest.raises(KgpexError, match="line 3: transcript ENST1.1 listed twice"):
        read_tx2gene(t2g)


# ----------------------------------------------------------------------------- BEDs


def make_genes(tmp_path):
    rows = [
        # gene_id gene_name gene_type chrom start end strand tss
        ("ENSG10.1", "TEN", "protein_coding", "chr10", 500, 900, "+", 500),
        ("ENSG2a.1", "TWOA", "lncRNA", "chr2", 3000, 4000, "-", 4000),
        ("ENSG2b.1", "TWOB", "protein_coding", "chr2", 100, 200, "+", 100),
        ("ENSGX.1", "EX", "protein_coding", "chrX", 50, 80, "-", 80),
        ("ENSG1.1", "ONE", "protein_coding", "chr1", 1000, 1500, "+", 1000),
        ("ENSGY.1", "WHY", "protein_coding", "chrY", 10, 20, "+", 10),
    ]
    path = tmp_path / "genes.tsv"
    pd.DataFrame(rows, columns=["gene_id", "gene_name", "gene_type", "chrom", "start", "end", "strand", "tss"]).to_csv(
        path, sep="\t", index=False
    )
    return read_genes(path)


def test_tss_bed_sorted_and_tabix_queryable(tmp_path):
    genes = make_genes(tmp_path)
    ids = ["ENSGX.1", "ENSG2a.1", "ENSG10.1", "ENSG1.1", "ENSG2b.1"]
    matrix = pd.DataFrame(
        np.arange(15, dtype=float).reshape(5, 3) / 4, index=ids, columns=["NA2", "HG9", "NA1"]
    )
    bed = tss_bed(matrix, genes)
    assert list(bed.columns) == ["#Chr", "start", "end", "ID", "HG9", "NA1", "NA2"]
    assert list(bed["ID"]) == ["ENSG1.1", "ENSG2b.1", "ENSG2a.1", "ENSG10.1", "ENSGX.1"]
    assert list(bed["start"]) == [999, 99, 3999, 499, 79]  # TSS - 1 (minus strand: gene end)
    assert list(bed["end"]) == [1000, 100, 4000, 500, 80]
    assert bed.set_index("ID").loc["ENSG2a.1", "NA2"] == matrix.loc["ENSG2a.1", "NA2"]

    dest = tmp_path / "inverse_normal_TMM.filtered.TSS.T.v1.bed.gz"
    write_bgzip_indexed(bed, dest, seq_col=0, start_col=1, end_col=2, zerobased=True, header_prefix="#")
    tbx = pysam.TabixFile(str(dest))
    assert list(tbx.header) == ["#Chr\tstart\tend\tID\tHG9\tNA1\tNA2"]
    assert set(tbx.contigs) == {"chr1", "chr2", "chr10", "chrX"}
    hits = [row.split("\t")[3] for row in tbx.fetch("chr2", 3998, 4000)]
    assert hits == ["ENSG2a.1"]
    assert [row.split("\t")[3] for row in tbx.fetch("chr2", 0, 5000)] == ["ENSG2b.1", "ENSG2a.1"]
    assert list(tbx.fetch("chr2", 200, 3998)) == []
    back = pd.read_csv(dest, sep="\t")
    assert back.shape == (5, 7)
    np.testing.assert_array_equal(back["NA1"].to_numpy(), bed["NA1"].to_numpy())  # full precision


def test_filtered_genes_table(tmp_path):
    genes = make_genes(tmp_path)
    table = filtered_genes_table(["ENSG2a.1", "ENSG1.1", "ENSGX.1"], genes)
    assert list(table.columns) == ["chrom", "start", "end", "ensemblID", "geneSymbol", "geneType"]
    assert list(table["ensemblID"]) == ["ENSG1.1", "ENSG2a.1", "ENSGX.1"]
    assert table.iloc[1].tolist() == ["chr2", 2999, 4000, "ENSG2a.1", "TWOA", "lncRNA"]
    dest = tmp_path / "expression_filteredGenes.T.v1.txt.gz"
    write_bgzip_indexed(table, dest, seq_col=0, start_col=1, end_col=2, zerobased=True)
    tbx = pysam.TabixFile(str(dest))
    assert [r.split("\t")[3] for r in tbx.fetch("chr2", 3500, 3501)] == ["ENSG2a.1"]


def test_read_genes_rejects_duplicates(tmp_path):
    path = tmp_path / "genes.tsv"
    path.write_text(
        "gene_id\tgene_name\tgene_type\tchrom\tstart\tend\tstrand\ttss\n"
        "G1\tA\tlncRNA\tchr1\t1\t5\t+\t1\nG1\tA\tlncRNA\tchr1\t1\t5\t+\t1\n"
    )
    with pytest.raises(KgpexError, match="line 3: gene G1 listed twice"):
        read_genes(path)


# ----------------------------------------------------------------------------- normalisation


def test_normalize_expression(tmp_path):
    genes = make_genes(tmp_path)
    rng = np.random.default_rng(3)
    gene_ids = list(genes.index)
    runs = ["SRR1", "SRR2", "SRR3", "SRR4", "SRR5", "SRR6"]
    counts = pd.DataFrame(rng.integers(20, 500, size=(6, 6)).astype(float), index=gene_ids, columns=runs)
    counts.loc["ENSG2b.1"] = [0, 0, 0, 0, 7, 0]  # expressed in 1 of the 5 chosen (20%): kept
    counts.loc["ENSG10.1"] = [0, 0, 0, 0, 0, 9]  # only in the unchosen replicate: dropped
    tpm = counts / counts.sum() * 1e6
    choice = pd.DataFrame(
        {
            "individual": ["NA5", "HG1", "NA2", "HG4", "NA3"],
            "library": ["SRR5", "SRR1", "SRR2", "SRR4", "SRR3"],
        }
    )
    result = normalize_expression(
        counts, tpm, choice, genes, 0.1, 6, 0.2, chromosomes=[f"chr{i}" for i in range(1, 23)] + ["chrX"]
    )
    individuals = ["HG1", "HG4", "NA2", "NA3", "NA5"]
    assert list(result.inverse_normal.columns) == individuals
    # chrY is expressed but off the chromosome list; ENSG10.1 fails; the rest pass.
    assert set(result.inverse_normal.index) == {"ENSG1.1", "ENSG2a.1", "ENSG2b.1", "ENSGX.1"}
    assert not result.gene_filter.loc["ENSGY.1", "keep"] and result.gene_filter.loc["ENSGY.1", "pass_tpm"]
    assert result.summary == {
        "genes_in": 6, "samples": 5, "min_samples": 1, "genes_pass_tpm": 5,
        "genes_pass_counts": 5, "genes_pass_both": 5, "genes_on_chromosomes": 5, "genes_kept": 4,
    }
    # TMM on ALL genes of the chosen libraries (chrY included), before filtering.
    chosen = counts[["SRR1", "SRR4", "SRR2", "SRR3", "SRR5"]]
    factors = normalize.tmm_factors(chosen)
    np.testing.assert_allclose(result.factors["tmm_factor"], factors, rtol=1e-15)
    assert list(result.factors["library"]) == ["SRR1", "SRR4", "SRR2", "SRR3", "SRR5"]
    expected_cpm = chosen.loc["ENSG1.1"].to_numpy() / (chosen.sum().to_numpy() * factors) * 1e6
    np.testing.assert_allclose(result.tmm_cpm.loc["ENSG1.1"].to_numpy(), expected_cpm, rtol=1e-12)
    np.testing.assert_array_equal(result.raw_counts.loc["ENSG1.1"].to_numpy(), chosen.loc["ENSG1.1"].to_numpy())
    # Each gene's inverse-normal values are the normal quantiles at rank/(n+1): mean 0 without
    # ties; ENSG2b.1's four zeros share the average rank 2.5.
    untied = ["ENSG1.1", "ENSG2a.1", "ENSGX.1"]
    np.testing.assert_allclose(result.inverse_normal.loc[untied].mean(axis=1), 0, atol=1e-12)
    from scipy.stats import norm

    np.testing.assert_allclose(
        result.inverse_normal.loc["ENSG2b.1"], norm.ppf(np.array([2.5, 2.5, 2.5, 2.5, 5]) / 6)
    )


def test_normalize_expression_input_errors(tmp_path):
    genes = make_genes(tmp_path)
    counts = pd.DataFrame({"SRR1": [10.0, 20.0], "SRR2": [5.0, 9.0]}, index=["ENSG1.1", "ENSG9.9"])
    choice = pd.DataFrame({"individual": ["HG1", "HG2"], "library": ["SRR1", "SRR2"]})
    with pytest.raises(KgpexError, match="gene ENSG9.9 of the quantifications is not annotated"):
        normalize_expression(counts, counts, choice, genes)
    choice.loc[1, "library"] = "SRR7"
    with pytest.raises(KgpexError, match="chosen library SRR7"):
        normalize_expression(counts, counts, choice, genes)


def test_plot_library_qc(tmp_path):
    types = pd.DataFrame(
        {
            "library": ["SRR1", "SRR2", "SRR3"],
            "runs": ["SRR1", "SRR2", "SRR3"],
            "batch": ["b1", "b1", "b2"],
            "salmon_format": ["ISR", "ISR", "IU"],
            "num_processed": [3_000_000, 2_000_000, 1_000_000],
            "isr_fraction": [0.98, 0.97, 0.5],
            "percent_mapped": [90.0, 88.0, 80.0],
        }
    )
    choice = choose_libraries(types.assign(individual=["HG1", "HG1", "HG2"]))
    dest = tmp_path / "library_qc.png"
    plot_library_qc(types, choice, dest)
    assert dest.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
