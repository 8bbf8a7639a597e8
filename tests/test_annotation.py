"""kgpex.reference.annotation: genes, tx2gene and TSS BED from a GENCODE-style GTF."""

from __future__ import annotations

import gzip

import pytest

from kgpex.common.errors import KgpexError
from kgpex.reference.annotation import annotate_genes, parse_gtf


def gene(chrom, start, end, strand, gene_id, name, gene_type="protein_coding"):
    attrs = f'gene_id "{gene_id}"; gene_type "{gene_type}"; gene_name "{name}"; level 2;'
    return f"{chrom}\tHAVANA\tgene\t{start}\t{end}\t.\t{strand}\t.\t{attrs}"


def transcript(chrom, start, end, strand, tx_id, gene_id):
    attrs = f'gene_id "{gene_id}"; transcript_id "{tx_id}"; gene_type "protein_coding"; level 2;'
    return f"{chrom}\tHAVANA\ttranscript\t{start}\t{end}\t.\t{strand}\t.\t{attrs}"


def exon(chrom, start, end, strand, tx_id, gene_id):
    attrs = f'gene_id "{gene_id}"; transcript_id "{tx_id}"; exon_number 1;'
    return f"{chrom}\tHAVANA\texon\t{start}\t{end}\t.\t{strand}\t.\t{attrs}"


GTF_LINES = [
    "##description: test",
    gene("chr22", 5000, 6000, "-", "ENSG2.1", "MINUS"),
    transcript("chr22", 5000, 6000, "-", "ENST2.1", "ENSG2.1"),
    exon("chr22", 5000, 6000, "-", "ENST2.1", "ENSG2.1"),
    gene("chrY", 10, 20, "+", "ENSG9.1", "YGENE", "lncRNA"),
    gene("chr21", 100, 900, "+", "ENSG1.3", "PLUS"),
    transcript("chr21", 100, 900, "+", "ENST1a.1", "ENSG1.3"),
    transcript("chr21", 200, 900, "+", "ENST1b.1", "ENSG1.3"),
    gene("chrX", 50, 60, "-", "ENSG3.1", "XGENE"),
    gene("chr2", 7, 8, "+", "ENSG4.1", "TWO"),
]


def write_gtf(tmp_path, lines, name="annotation.gtf.gz"):
    path = tmp_path / name
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def read_rows(path):
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_genes_tx2gene_and_tss_bed(tmp_path):
    gtf = write_gtf(tmp_path, GTF_LINES)
    out = {k: tmp_path / f"{k}.out" for k in ("genes", "tx2gene", "tss")}
    annotate_genes(gtf, ["chr21", "chr22"], out["genes"], out["tx2gene"], out["tss"])
    genes = read_rows(out["genes"])
    assert genes[0] == [
        "gene_id",
        "gene_name",
        "gene_type",
        "chrom",
        "start",
        "end",
        "strand",
        "tss",
    ]
    # chr2 before chr21 before chr22 (numeric), then chrX, then other contigs.
    assert [g[0] for g in genes[1:]] == ["ENSG4.1", "ENSG1.3", "ENSG2.1", "ENSG3.1", "ENSG9.1"]
    assert genes[2] == ["ENSG1.3", "PLUS", "protein_coding", "chr21", "100", "900", "+", "100"]
    assert genes[3] == ["ENSG2.1", "MINUS", "protein_coding", "chr22", "5000", "6000", "-", "6000"]
    tss = read_rows(out["tss"])
    assert tss[0] == ["#chrom", "start", "end", "gene_id", "gene_name", "strand"]
    # BED 0-based: start = tss - 1, end = tss, on both strands.
    assert tss[2] == ["chr21", "99", "100", "ENSG1.3", "PLUS", "+"]
    assert tss[3] == ["chr22", "5999", "6000", "ENSG2.1", "MINUS", "-"]
    assert tss[4] == ["chrX", "59", "60", "ENSG3.1", "XGENE", "-"]
    assert read_rows(out["tx2gene"]) == [
        ["transcript_id", "gene_id"],
        ["ENST1a.1", "ENSG1.3"],
        ["ENST1b.1", "ENSG1.3"],
        ["ENST2.1", "ENSG2.1"],
    ]


def test_plain_text_gtf_is_read_too(tmp_path):
    path = tmp_path / "a.gtf"
    path.write_text("\n".join(GTF_LINES) + "\n")
    assert len(parse_gtf(path).genes) == 5


def test_chromosome_without_genes_stops_naming_it_and_the_file(tmp_path):
    gtf = write_gtf(tmp_path, GTF_LINES)
    out = [tmp_path / n for n in ("g", "t", "b")]
    with pytest.raises(
        KgpexError, match=rf"{gtf}: no genes on chr1, chr20 \(chromosomes in the GTF: chr2, chr21"
    ):
        annotate_genes(gtf, ["chr1", "chr20", "chr21"], *out)
    assert not any(p.exists() for p in out)


def test_gtf_without_gene_rows_is_an_error(tmp_path):
    gtf = write_gtf(tmp_path, [line for line in GTF_LINES if "\tgene\t" not in line])
    with pytest.raises(KgpexError, match="no gene rows"):
        parse_gtf(gtf)


def test_duplicate_gene_id_is_an_error(tmp_path):
    gtf = write_gtf(tmp_path, GTF_LINES + [gene("chr21", 1, 2, "+", "ENSG1.3", "AGAIN")])
    with pytest.raises(
        KgpexError, match=r"line 11: duplicate gene_id 'ENSG1.3' \(first on line 6\)"
    ):
        parse_gtf(gtf)


def test_transcript_of_unknown_gene_is_an_error(tmp_path):
    gtf = write_gtf(tmp_path, GTF_LINES + [transcript("chr21", 1, 2, "+", "ENST7.1", "ENSG7.1")])
    with pytest.raises(
        KgpexError, match="transcript ENST7.1 names gene ENSG7.1, which has no gene row"
    ):
        parse_gtf(gtf)


def test_malformed_rows_are_named(tmp_path):
    gtf = write_gtf(tmp_path, GTF_LINES[:2] + ["chr1\tx\tgene\t1\t2"])
    with pytest.raises(KgpexError, match="line 3: expected 9 tab-separated GTF fields, found 5"):
        parse_gtf(gtf)
    gtf = write_gtf(tmp_path, [gene("chr1", 10, 5, "+", "ENSG5.1", "BAD")])
    with pytest.raises(KgpexError, match="line 1: gene ENSG5.1: bad coordinates"):
        parse_gtf(gtf)
    gtf = write_gtf(tmp_path, [gene("chr1", 1, 5, ".", "ENSG5.1", "BAD")])
    with pytest.raises(KgpexError, match="strand '.' is not"):
        parse_gtf(gtf)
