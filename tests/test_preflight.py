"""kgpex.preflight: parse-time config checks and the check_inputs content checks."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest
import yaml
from input_fixtures import INDIVIDUALS, gene_line, write_cohort, write_gtf, write_matrix_cohort, write_vcf
from workdirs import ROOT, _merge

from kgpex.common.config import validate_config
from kgpex.common.errors import KgpexError
from kgpex.common.genome import CHROM_LENGTHS, build_named_in, build_of_length
from kgpex.common.http import UrlPolicy
from kgpex.preflight.config_checks import (
    check_config,
    check_individual_id,
    check_run_id,
    check_source,
    config_sources,
)
from kgpex.preflight.input_checks import (
    check_gene_table,
    check_gtf,
    check_inputs,
    check_resolved_samples,
    check_vcf,
)


def _config(overrides: dict) -> dict:
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    return validate_config(_merge(config, overrides))


@pytest.fixture
def cohort(tmp_path) -> dict:
    return write_cohort(tmp_path / "cohort")


# -- IDs and URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["SRR1234567", "ERR0001", "my_run.2-b"])
def test_run_ids_that_are_safe_pass(run):
    assert check_run_id(run, "runs.tsv line 2") == run


@pytest.mark.parametrize("run", ["", "-rf", "..", ".hidden", "SRR1;ls", "SRR1 2", "SRR$(x)", "a/b"])
def test_run_ids_unsafe_as_names_or_arguments_are_rejected(run):
    with pytest.raises(KgpexError, match=r"^runs.tsv line 2: run_accession .* is not a run ID"):
        check_run_id(run, "runs.tsv line 2")


@pytest.mark.parametrize("individual", ["HG0096", "NA12878;", "hg00096", "HG00096 "])
def test_individual_ids_out_of_pattern_are_rejected(individual):
    with pytest.raises(KgpexError, match="is not a 1000 Genomes ID"):
        check_individual_id(individual, "individuals.tsv line 3")


@pytest.mark.parametrize(
    "source",
    [
        "https://ftp.ebi.ac.uk/pub/x.gtf.gz",
        "ftp://ftp.sra.ebi.ac.uk/vol1/x_1.fastq.gz",
        "file:///data/x.vcf.gz",
        "relative/path.vcf.gz",
        "/abs/path.vcf.gz",
        "https://www.ebi.ac.uk/ena/portal/api/filereport?accession=PRJ1&result=read_run",
    ],
)
def test_allowed_sources_pass(source):
    assert check_source(source, "config: field 'x'") == source


@pytest.mark.parametrize(
    "source, problem",
    [
        ("s3://bucket/x.vcf.gz", "unsupported URL scheme 's3'"),
        ("gs://bucket/x.vcf.gz", "unsupported URL scheme 'gs'"),
        ("https://host/x`id`.gz", "character '`'"),
        ("https://host/a b.gz", "character ' '"),
        ("x.gz$(reboot)", r"character '\$'"),
        ("x.gz\nrm", "character '\\\\n'"),
    ],
)
def test_unsupported_or_unsafe_sources_are_rejected(source, problem):
    with pytest.raises(KgpexError, match=r"^config: field 'x': " + problem):
        check_source(source, "config: field 'x'")


# -- parse time: the config --------------------------------------------------------------------


def test_a_config_of_existing_local_files_passes(cohort):
    check_config(_config(cohort))


def test_the_demo_config_passes_because_the_demo_rule_makes_its_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no generated demo here; the committed sheets only
    (tmp_path / "resources/demo").mkdir(parents=True)
    for name in ("individuals.tsv", "runs.tsv"):
        (tmp_path / "resources/demo" / name).write_bytes((ROOT / "resources/demo" / name).read_bytes())
    check_config(_config({}), produced_under=["resources/demo/generated"])
    with pytest.raises(KgpexError, match="files not found"):
        check_config(_config({}), produced_under=[])


def test_every_missing_local_file_is_named_in_one_line_with_its_key_and_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "presets/arrays.yaml"
    preset.parent.mkdir()
    settings = {
        "samples": {"method": "sheets", "individuals": "in/individuals.tsv", "runs": ""},
        "expression": {"input": "matrix", "matrix": {
            "url": "in/matrix.tsv.gz", "kind": "array", "annotation_url": "in/probes.tsv",
            "arrays_url": "in/arrays.tsv",
        }},
    }
    preset.write_text(yaml.safe_dump(settings))
    config = _config(_merge(settings, {"reference": {"annotation_url": "https://ftp.ebi.ac.uk/x.gtf.gz"}}))
    with pytest.raises(KgpexError) as err:
        check_config(config, produced_under=["resources/demo/generated"], configfiles=[preset])
    assert str(err.value) == (
        "config: 4 files not found; provide in/individuals.tsv (field 'samples.individuals'), "
        "in/matrix.tsv.gz (field 'expression.matrix.url'), in/probes.tsv (field "
        "'expression.matrix.annotation_url'), in/arrays.tsv (field 'expression.matrix.arrays_url') "
        "(how to make them: see the header of presets/arrays.yaml)"
    )
    # Files that are there are not named; a key overridden after the preset names no preset.
    (tmp_path / "in").mkdir()
    for name in ("individuals.tsv", "matrix.tsv.gz", "probes.tsv"):
        (tmp_path / "in" / name).write_text("x\n")
    with pytest.raises(KgpexError) as err:
        check_config(config, ["resources/demo/generated"], configfiles=[preset])
    assert str(err.value) == (
        "config: field 'expression.matrix.arrays_url': file not found: in/arrays.tsv "
        "(how to make it: see the header of presets/arrays.yaml)"
    )
    config["expression"]["matrix"]["arrays_url"] = "elsewhere/arrays.tsv"
    with pytest.raises(KgpexError) as err:
        check_config(config, ["resources/demo/generated"], configfiles=[preset])
    assert str(err.value) == "config: field 'expression.matrix.arrays_url': file not found: elsewhere/arrays.tsv"
    # A matrix run does not read the runs sheet it does not name, nor a URL's file.
    config["expression"]["matrix"]["arrays_url"] = "https://www.ebi.ac.uk/arrays.tsv"
    check_config(config, ["resources/demo/generated"], configfiles=[preset])


def test_config_sources_name_each_chromosome_and_skip_the_unused_genome(cohort):
    config = _config(_merge(cohort, {"reference": {"genome_url": "g.fa.gz", "decoys": False}}))
    fields = {s.field: s for s in config_sources(config)}
    assert fields["genotypes.vcf_url (chr22)"].source.endswith("cohort_chr22.vcf.gz")
    assert not fields["reference.genome_url"].used
    check_config(config)  # the genome is not read without decoys
    config["reference"]["decoys"] = True
    with pytest.raises(KgpexError, match="field 'reference.genome_url': file not found: g.fa.gz"):
        check_config(config)


def test_a_missing_gtf_names_the_field_and_path(cohort, tmp_path):
    gone = tmp_path / "gone.gtf.gz"
    cohort["reference"]["annotation_url"] = str(gone)
    with pytest.raises(KgpexError) as err:
        check_config(_config(cohort))
    assert str(err.value) == f"config: field 'reference.annotation_url': file not found: {gone}"


def test_a_local_vcf_without_index_is_rejected(cohort, tmp_path):
    Path(cohort["genotypes"]["vcf_url"].replace("{chrom}", "chr21") + ".tbi").unlink()
    with pytest.raises(KgpexError, match=r"'genotypes.vcf_url \(chr21\)': index not found: .*\.tbi"):
        check_config(_config(cohort))


def test_an_unsupported_scheme_in_a_chromosome_vcf_is_rejected(cohort):
    cohort["genotypes"]["vcf_url_chrX"] = "s3://bucket/chrX.vcf.gz"
    cohort["genotypes"]["chromosomes"] = ["chr22", "chrX"]
    with pytest.raises(KgpexError, match=r"'genotypes.vcf_url_chrX \(chrX\)': unsupported URL scheme 's3'"):
        check_config(_config(cohort))


def test_a_host_outside_download_allowed_hosts_is_rejected(cohort):
    cohort["reference"]["annotation_url"] = "https://mirror.example.org/gencode.gtf.gz"
    with pytest.raises(KgpexError) as err:
        check_config(_config(cohort))
    assert str(err.value).startswith(
        "config: field 'reference.annotation_url': https://mirror.example.org/gencode.gtf.gz: "
        "host mirror.example.org is not in download.allowed_hosts ("
    )
    cohort["download"] = {"allowed_hosts": ["mirror.example.org"]}
    check_config(_config(cohort))


def test_local_files_are_rejected_where_download_allow_file_is_false(cohort):
    cohort["download"] = {"allow_file": False}
    with pytest.raises(KgpexError, match=r"^config: field 'samples.run_table': file://.*: local files are not allowed"):
        check_config(_config(cohort))


def test_salmon_extra_args_with_shell_syntax_are_rejected(cohort):
    check_config(_config(_merge(cohort, {"salmon": {"extra_args": "--seqBias --numBootstraps=10"}})))
    with pytest.raises(KgpexError, match=r"'salmon.extra_args': character ';' is not allowed"):
        check_config(_config(_merge(cohort, {"salmon": {"extra_args": "--seqBias; rm -rf ~"}})))


def test_an_even_kmer_is_rejected(cohort):
    with pytest.raises(KgpexError, match=r"'reference.kmer': 30 is even"):
        check_config(_config(_merge(cohort, {"reference": {"kmer": 30}})))


# -- the GTF -----------------------------------------------------------------------------------


def test_a_gencode_like_gtf_passes(tmp_path):
    finding = check_gtf(write_gtf(tmp_path / "a.gtf.gz"), ["chr21", "chr22"])
    assert finding.finding.startswith("6 gene records carry gene_id, gene_name, gene_type")


def test_a_gtf_without_gene_name_names_the_line(tmp_path):
    gtf = write_gtf(tmp_path / "a.gtf.gz", named=False)
    with pytest.raises(KgpexError) as err:
        check_gtf(gtf, ["chr21"])
    assert str(err.value) == (
        f"{gtf} line 2: gene ENSG00000000001.1 has no gene_name attribute (a GENCODE GTF names every gene)"
    )


def test_only_the_first_gene_records_are_checked_for_attributes(tmp_path):
    gtf = tmp_path / "a.gtf"
    gtf.write_text(gene_line("chr21", 1) + gene_line("chr22", 2, name=False))
    check_gtf(gtf, ["chr21", "chr22"], gene_records=1)
    with pytest.raises(KgpexError, match="line 2: gene ENSG00000000002.1 has no gene_name"):
        check_gtf(gtf, ["chr21", "chr22"], gene_records=2)


def test_gene_biotype_stands_for_gene_type(tmp_path):
    gtf = tmp_path / "a.gtf"
    gtf.write_text(gene_line("chr21", 1).replace("gene_type", "gene_biotype"))
    check_gtf(gtf, ["chr21"])


def test_a_gtf_with_bare_chromosome_names_is_a_naming_disagreement(tmp_path):
    gtf = write_gtf(tmp_path / "a.gtf.gz", chroms=["21", "22"])
    with pytest.raises(KgpexError, match=r"chromosome naming: the GTF names chromosomes without 'chr' \(21, 22\)"):
        check_gtf(gtf, ["chr21", "chr22"])


def test_a_gtf_without_genes_on_a_genotyped_chromosome_is_rejected(tmp_path):
    gtf = write_gtf(tmp_path / "a.gtf.gz", chroms=["chr21"])
    with pytest.raises(KgpexError, match=r"no genes on chr22 \(genotypes.chromosomes\); chromosomes with genes in the GTF: chr21"):
        check_gtf(gtf, ["chr21", "chr22"])


def test_a_gtf_that_is_not_a_gtf_is_rejected(tmp_path):
    bad = tmp_path / "a.gtf.gz"
    bad.write_bytes(gzip.compress(b"just text\n"))
    with pytest.raises(KgpexError, match="line 1: not a GTF row"):
        check_gtf(bad, ["chr21"])
    bad.write_bytes(b"\x1f\x8b broken gzip")
    with pytest.raises(KgpexError, match="cannot read the GTF"):
        check_gtf(bad, ["chr21"])


# -- VCF headers -------------------------------------------------------------------------------


def test_a_vcf_with_the_cohort_and_chromosome_passes(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf.gz", "chr22")
    finding = check_vcf(str(vcf), "chr22", INDIVIDUALS, label=str(vcf))
    assert finding.finding == "2 samples, all cohort individuals; contig chr22"
    # file:// URLs read the same file.
    check_vcf(vcf.resolve().as_uri(), "chr22", INDIVIDUALS, label="x")


def test_a_vcf_with_bare_contig_names_passes(tmp_path):
    # cohort_genotypes renames 22 -> chr22.
    vcf = write_vcf(tmp_path / "c.vcf.gz", "22")
    assert check_vcf(str(vcf), "chr22", INDIVIDUALS, "x").finding.endswith("contig 22")


def test_a_vcf_without_contig_lines_is_named_by_its_first_record(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf.gz", "chr22", contigs=[])  # header without ##contig
    assert check_vcf(str(vcf), "chr22", INDIVIDUALS, "x").finding.endswith("contig chr22")


def test_a_sites_only_vcf_is_rejected(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf.gz", "chr22", samples=[])
    with pytest.raises(KgpexError, match=r"^lbl: the VCF has no samples"):
        check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl")


def test_individuals_missing_from_the_vcf_are_listed(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf.gz", "chr22", samples=["HG00096", "HG00097"])
    with pytest.raises(KgpexError) as err:
        check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl")
    assert str(err.value) == "lbl: 1 cohort individual(s) not among the VCF's 2 samples: NA12878"


def test_a_vcf_with_other_contig_names_is_a_naming_disagreement(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf.gz", "chr22", contigs=["NC_000022.11"])
    with pytest.raises(KgpexError, match=r"chromosome naming: neither chr22 nor 22 is among the VCF's contigs \(NC_000022.11\)"):
        check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl")


def test_a_missing_or_unreadable_vcf_is_one_line(tmp_path):
    with pytest.raises(KgpexError, match="lbl: VCF not found"):
        check_vcf(str(tmp_path / "none.vcf.gz"), "chr22", INDIVIDUALS, "lbl")
    bad = tmp_path / "bad.vcf.gz"
    bad.write_bytes(gzip.compress(b"not a vcf\n"))
    with pytest.raises(KgpexError, match=r"^lbl: not a VCF \(no #CHROM header line\)$"):
        check_vcf(str(bad), "chr22", INDIVIDUALS, "lbl")
    bad.write_bytes(b"\x1f\x8b\x08\x04 not bgzip at all")
    with pytest.raises(KgpexError, match=r"^lbl: not a readable VCF"):
        check_vcf(str(bad), "chr22", INDIVIDUALS, "lbl")
    bad.write_bytes(gzip.compress(b"##fileformat=VCFv4.2\n#CHROM\tPOS\n"))
    with pytest.raises(KgpexError, match=r"^lbl: not a readable VCF"):
        check_vcf(str(bad), "chr22", INDIVIDUALS, "lbl")


# -- genome build ------------------------------------------------------------------------------


def test_the_build_table_holds_the_assemblies_lengths():
    for build in ("GRCh38", "GRCh37"):
        assert list(CHROM_LENGTHS[build]) == [*map(str, range(1, 23)), "X", "Y", "M"]
    assert CHROM_LENGTHS["GRCh38"]["22"] == 50818468 and CHROM_LENGTHS["GRCh37"]["22"] == 51304566
    assert CHROM_LENGTHS["GRCh38"]["1"] == 248956422 and CHROM_LENGTHS["GRCh37"]["1"] == 249250621
    assert CHROM_LENGTHS["GRCh38"]["X"] == 156040895 and CHROM_LENGTHS["GRCh37"]["X"] == 155270560
    # Every nuclear chromosome tells the builds apart; the mitochondrion (rCRS in both) does not.
    assert all(CHROM_LENGTHS["GRCh38"][c] != CHROM_LENGTHS["GRCh37"][c] for c in CHROM_LENGTHS["GRCh38"] if c != "M")
    assert build_of_length("chr22", 51304566) == "GRCh37" and build_of_length("22", 50818468) == "GRCh38"
    assert build_of_length("chrM", 16569) is None and build_of_length("chr22", 3_500_000) is None
    assert build_named_in("##description: evidence-based annotation of the human genome (GRCh37), version 19") == "GRCh37"
    assert build_named_in("#!genome-build GRCh38.p14") == "GRCh38"
    assert build_named_in("file:///ref/hs37d5.fa.gz") == "GRCh37" and build_named_in("test annotation") is None


def test_a_b37_vcf_header_against_grch38_is_one_line(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf.gz", "22", lengths={"22": 51304566})
    with pytest.raises(KgpexError) as err:
        check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl", build="GRCh38")
    assert str(err.value) == (
        "lbl: contig 22 has length 51304566 (GRCh37's length), the config's genome_build is "
        "GRCh38 (chr22 50818468) (genotypes.check_build: false skips this check)"
    )
    # Declared GRCh37, or with the check off (build None), the same VCF passes.
    finding = check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl", build="GRCh37").finding
    assert finding.endswith("contig 22 (length 51304566 (GRCh37))")
    assert check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl").finding.endswith("contig 22")


def test_a_contig_longer_than_the_builds_is_rejected_and_a_shorter_synthetic_one_noted(tmp_path):
    longer = write_vcf(tmp_path / "l.vcf.gz", "chr21", lengths={"chr21": 50_000_000})
    with pytest.raises(KgpexError, match=r"^lbl: contig chr21 has length 50000000 \(longer than GRCh38's 46709983\)"):
        check_vcf(str(longer), "chr21", INDIVIDUALS, "lbl", build="GRCh38")
    # The demo's synthetic genome: shorter contigs of no known build pass, and the finding says so.
    demo = write_vcf(tmp_path / "d.vcf.gz", "chr22", lengths={"chr22": 3_500_000})
    finding = check_vcf(str(demo), "chr22", INDIVIDUALS, "lbl", build="GRCh38").finding
    assert finding.endswith("(length 3500000, not GRCh38's 50818468 (no known build: not checked))")


def test_a_vcf_whose_reference_line_names_another_build_is_rejected(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf.gz", "chr22", contigs=[], reference="file:///ref/hs37d5.fa.gz")
    with pytest.raises(KgpexError, match=r"^lbl: ##reference=file:///ref/hs37d5.fa.gz is GRCh37, the config's genome_build is GRCh38"):
        check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl", build="GRCh38")


def test_a_header_and_records_that_name_the_chromosome_differently_are_one_line(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf.gz", "chr22", contigs=["22"], record_chrom="chr22")
    with pytest.raises(KgpexError) as err:
        check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl", build="GRCh38")
    assert str(err.value) == (
        "lbl: chromosome naming: the header's ##contig is 22, the records' chromosome is chr22 "
        "(fix the header, e.g. bcftools reheader)"
    )
    # Also with the build checks off.
    with pytest.raises(KgpexError, match="chromosome naming"):
        check_vcf(str(vcf), "chr22", INDIVIDUALS, "lbl")


def test_a_gtf_header_naming_another_build_is_rejected(tmp_path):
    gtf = write_gtf(tmp_path / "a.gtf.gz", description="evidence-based annotation of the human genome (GRCh37), version 19")
    with pytest.raises(KgpexError, match=r"a.gtf.gz line 1: the GTF is on GRCh37 \(##description: .*\), the config's genome_build is GRCh38"):
        check_gtf(gtf, ["chr21", "chr22"], build="GRCh38")
    assert check_gtf(gtf, ["chr21", "chr22"], build="GRCh37").finding.endswith("header names GRCh37")
    check_gtf(gtf, ["chr21", "chr22"])  # check_build false
    # A header naming no build (the test GTF's) is not checked.
    check_gtf(write_gtf(tmp_path / "b.gtf.gz"), ["chr21", "chr22"], build="GRCh38")


def _genes_table(path: Path, rows: list[tuple[str, str, int]]) -> Path:
    path.write_text(
        "gene_id\tgene_name\tgene_type\tchrom\tstart\tend\tstrand\ttss\n"
        + "".join(f"{g}\t{g}\tprotein_coding\t{c}\t{p}\t{p + 10}\t+\t{p}\n" for g, c, p in rows)
    )
    return path


def test_a_matrix_annotation_is_checked_in_place_of_the_gtf(tmp_path):
    genes = _genes_table(tmp_path / "genes.tsv", [("G1", "chr22", 20_000_000), ("G2", "chr21", 100)])
    finding = check_gene_table(genes, ["chr21", "chr22"], "GRCh38", label="ann.tsv")
    assert finding.finding == "2 genes on 2 chromosomes, within GRCh38's chromosome lengths"
    with pytest.raises(KgpexError, match=r"^ann.tsv: no genes on chrX \(genotypes.chromosomes\)"):
        check_gene_table(genes, ["chr22", "chrX"], "GRCh38", label="ann.tsv")
    beyond = _genes_table(tmp_path / "b.tsv", [("G1", "chr22", 51_000_000)])  # GRCh37's chr22 only
    with pytest.raises(KgpexError, match=r"^ann.tsv: gene G1 at chr22:51000010 lies beyond chr22's end in GRCh38 \(50818468\)"):
        check_gene_table(beyond, ["chr22"], "GRCh38", label="ann.tsv")
    check_gene_table(beyond, ["chr22"], None, label="ann.tsv")


def test_check_inputs_without_a_gtf_checks_the_matrix_annotation(tmp_path):
    cohort = write_cohort(tmp_path / "c")
    vcfs = {c: cohort["genotypes"]["vcf_url"].replace("{chrom}", c) for c in ("chr21", "chr22")}
    genes = _genes_table(tmp_path / "genes.tsv", [("G1", "chr22", 20_000_000), ("G2", "chr21", 100)])
    dest = tmp_path / "inputs_checked.tsv"
    check_inputs(*_resolved(tmp_path), None, vcfs, dest, genes=genes, genes_label="ann.tsv", build="GRCh38")
    with open(dest) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [(r["input"], r["source"]) for r in rows[3:4]] == [("annotation", "ann.tsv")]
    assert rows[4]["finding"].endswith("contig chr21 (length 46709983 (GRCh38))")


def test_a_matrix_with_its_own_annotation_reads_no_reference(tmp_path):
    overrides = write_matrix_cohort(tmp_path / "m", n_individuals=4, n_genes=2, n_variants=20)
    # Local reference files that do not exist: not an error, as nothing reads them.
    overrides["reference"].update(annotation_url=str(tmp_path / "none.gtf.gz"),
                                  transcripts_url=str(tmp_path / "none.fa.gz"))
    config = _config(overrides)
    assert not [s.field for s in config_sources(config) if s.used and s.field.startswith("reference.")]
    check_config(config)
    # Without the annotation table the GTF's genes are needed again.
    config["expression"]["matrix"]["annotation_url"] = ""
    with pytest.raises(KgpexError, match=r"2 files not found; provide .*none.fa.gz \(field 'reference.transcripts_url'\)"):
        check_config(config)


# -- resolved sheets and the whole job ---------------------------------------------------------


def _resolved(tmp_path, run="SRR0000001", url="https://h/x_1.fastq.gz", md5="0" * 32):
    ind = tmp_path / "individuals.tsv"
    ind.write_text("individual\tpopulation\tcontinental_group\tsex\nHG00096\tGBR\tEUR\tmale\n")
    runs = tmp_path / "runs.tsv"
    runs.write_text(f"run_accession\tindividual\tbatch\n{run}\tHG00096\tb1\n")
    sources = tmp_path / "run_sources.tsv"
    sources.write_text(
        "run_accession\tsource\turl_1\turl_2\tmd5_1\tmd5_2\tbytes_1\tbytes_2\n"
        f"{run}\tena\t{url}\thttps://h/x_2.fastq.gz\t{md5}\t{'1' * 32}\t10\t10\n"
    )
    return ind, runs, sources


def test_resolved_sheets_with_safe_ids_and_urls_pass(tmp_path):
    cohort, _ = check_resolved_samples(*_resolved(tmp_path))
    assert cohort == ["HG00096"]


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"run": "SRR1;rm"}, r"runs.tsv line 2: run_accession 'SRR1;rm' is not a run ID"),
        ({"url": "s3://b/x_1.fastq.gz"}, r"run_sources.tsv line 2: field 'url_1': unsupported URL scheme 's3'"),
        ({"md5": "abc"}, r"run_sources.tsv line 2: field 'md5_1': 'abc' is not an md5"),
    ],
)
def test_resolved_sheets_from_an_api_are_checked_by_pattern(tmp_path, kwargs, problem):
    with pytest.raises(KgpexError, match=problem):
        check_resolved_samples(*_resolved(tmp_path, **kwargs))


def test_check_inputs_writes_one_finding_per_input(tmp_path):
    cohort = write_cohort(tmp_path / "c")
    vcfs = {c: cohort["genotypes"]["vcf_url"].replace("{chrom}", c) for c in ("chr21", "chr22")}
    dest = tmp_path / "out" / "inputs_checked.tsv"
    dest.parent.mkdir()
    check_inputs(
        *_resolved(tmp_path), cohort["reference"]["annotation_url"], vcfs, dest
    )
    with open(dest) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["input"] for r in rows] == [
        "individuals", "runs", "run sources", "annotation", "vcf chr21", "vcf chr22"
    ]


def test_a_remote_vcf_header_is_read_over_http_without_a_download(tmp_path, monkeypatch):
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    write_vcf(served / "c.vcf.gz", "chr22")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/moved.vcf.gz":
                self.send_response(302)
                self.send_header("Location", "http://elsewhere.invalid/c.vcf.gz")
                self.end_headers()
                return
            super().do_GET()

    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # htslib would cache a remote index here
    try:
        url = f"http://127.0.0.1:{server.server_port}/c.vcf.gz"
        assert check_vcf(url, "chr22", INDIVIDUALS, url).finding.endswith("contig chr22")
        gone = url.replace("c.vcf", "gone.vcf")
        with pytest.raises(KgpexError, match=r"/gone.vcf.gz: cannot read the VCF \(HTTP 404 "):
            check_vcf(gone, "chr22", INDIVIDUALS, gone, UrlPolicy(retries=0))
        # Hosts are checked as download.allowed_hosts says, redirects included.
        only_loopback = UrlPolicy(allowed_hosts=("127.0.0.1",), retries=0)
        check_vcf(url, "chr22", INDIVIDUALS, url, only_loopback)
        with pytest.raises(KgpexError, match=r"host localhost is not in download.allowed_hosts \(127.0.0.1\)"):
            check_vcf(url.replace("127.0.0.1", "localhost"), "chr22", INDIVIDUALS, "x", only_loopback)
        moved = url.replace("c.vcf", "moved.vcf")
        with pytest.raises(KgpexError, match=r"^x: redirected to http://elsewhere.invalid/c.vcf.gz: host elsewhere.invalid is not"):
            check_vcf(moved, "chr22", INDIVIDUALS, "x", only_loopback)
    finally:
        server.shutdown()
    assert list(cwd.iterdir()) == []
