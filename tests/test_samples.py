"""kgpex.samples: methods sdrf and ena (runs joined to 1000 Genomes IDs, population and sex from
the metadata or the sample panel), sheets with the run mapping, one's own reads, the metadata
checks, and the single-line failures that list every run. Fixtures are synthetic rows in the
real layouts: an SDRF in E-GEUV-1's columns, ENA's filereport, IGSR's panel files."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from kgpex.common.config import validate_config
from kgpex.common.errors import KgpexError
from kgpex.samples import resolve as samples_resolve
from kgpex.samples.metadata import MAPPING_COLUMNS
from kgpex.samples.panel import read_panel
from kgpex.samples.runtable import CHECKED_COLUMNS, ENA_FIELDS
from kgpex.samples.sheets import check_samples_config, individuals_only, read_ids

M = "0123456789abcdef0123456789abcdef"

# IGSR's 3,202-sample PED: space-separated, sex 1/2.
PANEL = """FamilyID SampleID FatherID MotherID Sex Population Superpopulation
HG00096 HG00096 0 0 1 GBR EUR
HG00097 HG00097 0 0 2 GBR EUR
NA20503 NA20503 0 0 2 TSI EUR
NA18486 NA18486 0 0 1 YRI AFR
NA18487 NA18487 0 0 2 YRI AFR
"""

SDRF_COLUMNS = [
    "Source Name",
    "Comment[ENA_SAMPLE]",
    "Characteristics[Organism]",
    "Characteristics[population]",
    "Protocol REF",
    "Extract Name",
    "Comment[LIBRARY_LAYOUT]",
    "Performer",
    "Assay Name",
    "Scan Name",
    "Comment[ENA_RUN]",
    "Comment[FASTQ_URI]",
    "Protocol REF",
    "Factor Value[population]",
]


def sdrf_rows(source: str, population: str, lab: str, run: str) -> list[list[str]]:
    """Two rows per paired run, one per FASTQ file, as ArrayExpress writes them."""
    rows = []
    for mate in (1, 2):
        fastq = f"ftp://ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/{run}/{run}_{mate}.fastq.gz"
        rows.append(
            [source, "ERS0001", "Homo sapiens", population, "P-1", f"{source} extract", "PAIRED"]
            + [lab, f"{source}.1", f"{run}_{mate}.fastq.gz", run, fastq, "P-2", population]
        )
    return rows


GEUVADIS = (
    sdrf_rows("HG00096", "GBR", "UNIGE", "ERR188021")
    + sdrf_rows("HG00097", "GBR", "CNAG_CRG", "ERR188022")
    + sdrf_rows("NA20503", "TSI", "UNIGE", "ERR188297")
)


def write_sdrf(path: Path, rows, columns=SDRF_COLUMNS) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def write_filereport(path: Path, rows: list[dict]) -> Path:
    with open(path, "w") as fh:
        fh.write("\t".join(ENA_FIELDS) + "\n")
        for i, row in enumerate(rows):
            run = row["run_accession"]
            ftp = f"ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/{run}/{run}"
            values = {
                "library_layout": "PAIRED",
                "read_count": str(1000 + i),
                "fastq_ftp": f"{ftp}_1.fastq.gz;{ftp}_2.fastq.gz",
                "fastq_md5": f"{M};{M}",
                "fastq_bytes": "10;10",
                **row,
            }
            fh.write("\t".join(values.get(f, "") for f in ENA_FIELDS) + "\n")
    return path


def outputs(tmp_path: Path) -> samples_resolve.ResolvedPaths:
    out = tmp_path / "samples"
    out.mkdir(exist_ok=True)
    return samples_resolve.ResolvedPaths(
        *(str(out / n) for n in ("individuals.tsv", "runs.tsv", "run_sources.tsv", "run_mapping.tsv"))
    )


def read_tsv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.fixture
def panel(tmp_path) -> Path:
    path = tmp_path / "panel.txt"
    path.write_text(PANEL)
    return path


def geuvadis_inputs(tmp_path, rows=GEUVADIS, columns=SDRF_COLUMNS, runs=None):
    sdrf = write_sdrf(tmp_path / "sdrf.txt", rows, columns)
    runs = runs or ["ERR188021", "ERR188022", "ERR188297"]
    table = write_filereport(tmp_path / "run_table.tsv", [{"run_accession": r} for r in runs])
    return sdrf, table


# --- sdrf --------------------------------------------------------------------------------------


def test_sdrf_runs_get_their_individuals_batches_and_sources(tmp_path, panel):
    sdrf, table = geuvadis_inputs(tmp_path)
    out = outputs(tmp_path)
    sheets = samples_resolve.resolve_from_sdrf(sdrf, table, panel, out, batch_column="Performer")
    assert sorted(sheets.runs) == ["ERR188021", "ERR188022", "ERR188297"]
    assert read_tsv(out.individuals) == [
        {"individual": "HG00096", "population": "GBR", "continental_group": "EUR", "sex": "male"},
        {"individual": "HG00097", "population": "GBR", "continental_group": "EUR", "sex": "female"},
        {"individual": "NA20503", "population": "TSI", "continental_group": "EUR", "sex": "female"},
    ]
    assert [(r["run_accession"], r["individual"], r["batch"]) for r in read_tsv(out.runs)] == [
        ("ERR188021", "HG00096", "UNIGE"),
        ("ERR188022", "HG00097", "CNAG_CRG"),
        ("ERR188297", "NA20503", "UNIGE"),
    ]
    sources = read_tsv(out.sources)
    assert [s["md5_1"] for s in sources] == [M] * 3
    mapping = read_tsv(out.mapping)
    assert mapping[0] == {
        "run_accession": "ERR188021",
        "status": "used",
        "individual": "HG00096",
        "library": "ERR188021",
        "read_count": "1000",
        "evidence": "Source Name=HG00096",
        "library_evidence": "its individual's only library, one run",
    }


def test_sdrf_headers_as_r_writes_them_are_understood(tmp_path, panel):
    # read.table's make.names: "Source Name" -> Source.Name, "Comment[ENA_RUN]" -> Comment.ENA_RUN.
    dotted = [c.replace(" ", ".").replace("[", ".").replace("]", ".") for c in SDRF_COLUMNS]
    sdrf, table = geuvadis_inputs(tmp_path, columns=dotted)
    sheets = samples_resolve.resolve_from_sdrf(sdrf, table, panel, outputs(tmp_path), "Source.Name")
    assert sheets.runs["ERR188297"]["individual"] == "NA20503"
    assert sheets.runs["ERR188297"]["batch"] == "1"  # no batch column: one batch


def test_sdrf_problems_are_listed_together_and_only_the_evidence_is_written(tmp_path, panel):
    rows = (
        GEUVADIS
        + sdrf_rows("sample 7", "GBR", "UNIGE", "ERR188030")  # no ID
        + sdrf_rows("HG00096 HG00097", "GBR", "UNIGE", "ERR188031")  # two IDs
        + sdrf_rows("NA12878", "CEU", "UNIGE", "ERR188032")  # not in the panel
        + sdrf_rows("NA18486", "TSI", "UNIGE", "ERR188033")  # panel says YRI
    )
    runs = ["ERR188021", "ERR188022", "ERR188297", "ERR188030", "ERR188031", "ERR188032", "ERR188033"]
    sdrf, table = geuvadis_inputs(tmp_path, rows=rows, runs=runs)
    out = outputs(tmp_path)
    with pytest.raises(KgpexError) as excinfo:
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, out)
    assert one_line(excinfo) == (
        f"{sdrf}: 2 of 7 runs name no single 1000 Genomes individual: "
        "ERR188030 (Source Name 'sample 7' names no 1000 Genomes IDs), "
        "ERR188031 (Source Name 'HG00096 HG00097' names 2 1000 Genomes IDs); "
        f"1 runs belong to individuals not in {panel}: ERR188032 (NA12878); "
        f"the metadata contradicts {panel}: ERR188033: NA18486 population 'TSI' vs 'YRI' "
        f"(every run's evidence: {out.unmapped})"
    )
    assert not Path(out.runs).exists() and not Path(out.individuals).exists()
    statuses = {r["run_accession"]: r["status"] for r in read_tsv(out.unmapped)}
    assert statuses["ERR188030"] == "unmapped" and statuses["ERR188021"] == "mapped"


def test_overrides_settle_and_exclude_runs(tmp_path, panel):
    rows = GEUVADIS + sdrf_rows("sample 7", "GBR", "UNIGE", "ERR188030")
    rows += sdrf_rows("NA12878", "CEU", "UNIGE", "ERR188032")
    runs = ["ERR188021", "ERR188022", "ERR188297", "ERR188030", "ERR188032"]
    sdrf, table = geuvadis_inputs(tmp_path, rows=rows, runs=runs)
    overrides = tmp_path / "overrides.tsv"
    overrides.write_text("run_accession\tindividual\nERR188030\tHG00097\nERR188032\texclude\n")
    out = outputs(tmp_path)
    sheets = samples_resolve.resolve_from_sdrf(sdrf, table, panel, out, overrides=overrides)
    assert sheets.runs["ERR188030"]["individual"] == "HG00097"
    assert "ERR188032" not in sheets.runs
    mapping = {r["run_accession"]: r for r in read_tsv(out.mapping)}
    assert (mapping["ERR188032"]["status"], mapping["ERR188032"]["evidence"]) == (
        "excluded",
        "overrides table",
    )
    overrides.write_text("run_accession\tindividual\nERR999999\texclude\n")
    with pytest.raises(KgpexError, match=f"the overrides table names runs not in {sdrf}: ERR999999"):
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, out, overrides=overrides)
    overrides.write_text("run_accession\tindividual\nERR188030\tsomeone\n")
    with pytest.raises(KgpexError, match="line 2: individual 'someone' is not a 1000 Genomes ID"):
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, out, overrides=overrides)


def test_sdrf_runs_missing_from_the_run_table_are_listed(tmp_path, panel):
    sdrf, table = geuvadis_inputs(tmp_path, runs=["ERR188021"])
    with pytest.raises(KgpexError) as excinfo:
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, outputs(tmp_path))
    assert one_line(excinfo) == (
        f"{table}: 2 run(s) of {sdrf} have no source of reads: "
        "ERR188022 (not in the run table); ERR188297 (not in the run table)"
    )


def test_sdrf_mates_that_disagree_and_missing_columns_fail(tmp_path, panel):
    rows = sdrf_rows("HG00096", "GBR", "UNIGE", "ERR188021")
    rows[1][0] = "HG00097"
    sdrf, table = geuvadis_inputs(tmp_path, rows=rows, runs=["ERR188021"])
    with pytest.raises(KgpexError, match="line 3: run ERR188021 is described differently on line 2"):
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, outputs(tmp_path))
    sdrf, table = geuvadis_inputs(tmp_path, runs=["ERR188021"])
    with pytest.raises(KgpexError, match="line 1: SDRF lacks column Lab"):
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, outputs(tmp_path), batch_column="Lab")
    columns = [c for c in SDRF_COLUMNS if c != "Comment[ENA_RUN]"]
    write_sdrf(sdrf, [r[:10] + r[11:] for r in GEUVADIS], columns)
    with pytest.raises(KgpexError, match=r"line 1: SDRF lacks column Comment\[ENA_RUN\]"):
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, outputs(tmp_path))


def test_expected_cohort_size_is_checked(tmp_path, panel):
    sdrf, table = geuvadis_inputs(tmp_path)
    with pytest.raises(KgpexError) as excinfo:
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, outputs(tmp_path), expected_individuals=462)
    assert one_line(excinfo) == (
        f"{sdrf}: 3 individuals, but samples.expected_individuals is 462"
    )


# --- ena -----------------------------------------------------------------------------------


def pickrell_table(tmp_path, rows) -> Path:
    return write_filereport(tmp_path / "run_table.tsv", rows)


def test_ena_sample_fields_name_the_individuals(tmp_path, panel):
    table = pickrell_table(
        tmp_path,
        [
            {"run_accession": "SRR031919", "sample_title": "NA18486_argonne", "instrument": "x"},
            {"run_accession": "SRR031920", "sample_alias": "GM18486", "sample_title": "YRI LCL"},
            {"run_accession": "SRR031922", "library_name": "NA18487 lane 2"},
        ],
    )
    out = outputs(tmp_path)
    sheets = samples_resolve.resolve_from_ena(table, panel, out, default_batch="PICKRELL2010")
    assert {r: row["individual"] for r, row in sheets.runs.items()} == {
        "SRR031919": "NA18486",
        "SRR031920": "NA18486",  # Coriell's GM number is the NA ID
        "SRR031922": "NA18487",
    }
    assert {row["batch"] for row in sheets.runs.values()} == {"PICKRELL2010"}
    assert read_tsv(out.individuals)[0] == {
        "individual": "NA18486",
        "population": "YRI",
        "continental_group": "AFR",
        "sex": "male",
    }
    evidence = {r["run_accession"]: r["evidence"] for r in read_tsv(out.mapping)}
    assert evidence["SRR031919"] == "sample_title=NA18486_argonne"


def test_ena_runs_naming_none_or_two_individuals_are_listed(tmp_path, panel):
    table = pickrell_table(
        tmp_path,
        [
            {"run_accession": "SRR031919", "sample_title": "NA18486"},
            {"run_accession": "SRR031920", "sample_title": "YRI pool"},
            {"run_accession": "SRR031921", "sample_alias": "NA18486", "sample_title": "NA18487"},
        ],
    )
    with pytest.raises(KgpexError) as excinfo:
        samples_resolve.resolve_from_ena(table, panel, outputs(tmp_path))
    assert one_line(excinfo).startswith(
        f"{table}: 2 of 3 runs name no single 1000 Genomes individual: "
        "SRR031920 (no 1000 Genomes ID in sample_alias, sample_title, library_name), "
        "SRR031921 (names NA18486, NA18487)"
    )


def test_single_end_runs_resolve_with_their_layout(tmp_path, panel):
    table = pickrell_table(
        tmp_path,
        [
            {
                "run_accession": "SRR031919",
                "sample_title": "NA18486",
                "library_layout": "SINGLE",
                "fastq_ftp": "ftp.sra.ebi.ac.uk/vol1/fastq/SRR031/SRR031919/SRR031919.fastq.gz",
                "fastq_md5": M,
                "fastq_bytes": "5",
            },
            {"run_accession": "SRR031920", "sample_title": "NA18487", "library_layout": "SINGLE",
             "fastq_ftp": "", "fastq_md5": "", "fastq_bytes": ""},
        ],
    )
    out = outputs(tmp_path)
    samples_resolve.resolve_from_ena(table, panel, out)
    sources = {r["run_accession"]: r for r in read_tsv(out.sources)}
    assert {run: (r["source"], r["layout"]) for run, r in sources.items()} == {
        "SRR031919": ("ena", "single"),
        "SRR031920": ("sra", "single"),  # fasterq-dump writes its one file
    }
    assert sources["SRR031919"]["url_1"].endswith("/SRR031919.fastq.gz")
    assert (sources["SRR031919"]["md5_1"], sources["SRR031919"]["url_2"]) == (M, "")


# --- sheets --------------------------------------------------------------------------------


def test_own_reads_listed_in_the_runs_sheet_resolve_with_it_as_run_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ind = tmp_path / "individuals.tsv"
    ind.write_text("individual\tpopulation\tcontinental_group\tsex\nHG00096\tGBR\tEUR\tmale\n")
    runs = tmp_path / "runs.tsv"
    runs.write_text(
        "run_accession\tindividual\tbatch\tfastq_1\tfastq_2\tmd5_1\tmd5_2\n"
        f"LIB1\tHG00096\tb1\treads/LIB1_R1.fq.gz\treads/LIB1_R2.fq.gz\t{M}\t{M}\n"
    )
    out = outputs(tmp_path)
    samples_resolve.resolve_from_sheets(ind, runs, runs, out)
    [source] = read_tsv(out.sources)
    assert source["url_1"] == (tmp_path / "reads/LIB1_R1.fq.gz").as_uri()
    assert read_tsv(out.runs) == [
        {"run_accession": "LIB1", "individual": "HG00096", "batch": "b1", "library": "LIB1"}
    ]
    [mapping] = read_tsv(out.mapping)
    assert (mapping["status"], mapping["evidence"]) == ("used", f"runs sheet {runs}")


# --- a cohort of individuals alone (the matrix entry point) -----------------------------------

INDIVIDUALS = (
    "individual\tpopulation\tcontinental_group\tsex\n"
    "NA19238\tYRI\tAFR\tfemale\nNA12878\tCEU\tEUR\tfemale\nHG00096\tGBR\tEUR\tmale\n"
)


def test_individuals_alone_resolve_with_header_only_run_tables(tmp_path):
    ind = tmp_path / "individuals.tsv"
    ind.write_text(INDIVIDUALS)
    out = outputs(tmp_path)
    settings = {"expected_individuals": 3}
    # No run table among the inputs: rule resolve_samples gives it none in this mode.
    sheets = samples_resolve.resolve("sheets", {"individuals": str(ind)}, out, settings, "ARRAYS", "https")
    assert sorted(sheets.individuals) == ["HG00096", "NA12878", "NA19238"] and sheets.runs == {}
    assert [r["individual"] for r in read_tsv(out.individuals)] == ["HG00096", "NA12878", "NA19238"]
    assert read_tsv(out.individuals)[0] == {
        "individual": "HG00096", "population": "GBR", "continental_group": "EUR", "sex": "male"
    }
    # Each run table is its header alone, so every reader finds its columns and no rows.
    headers = {
        out.runs: "run_accession\tindividual\tbatch\tlibrary",
        out.sources: "\t".join(CHECKED_COLUMNS),
        out.mapping: "\t".join(MAPPING_COLUMNS),
    }
    for path, header in headers.items():
        assert Path(path).read_text() == header + "\n", path
    assert read_ids(out.runs, "run_accession") == []


def test_individuals_alone_are_checked_as_with_runs(tmp_path):
    ind = tmp_path / "individuals.tsv"
    out = outputs(tmp_path)
    ind.write_text(INDIVIDUALS)
    with pytest.raises(KgpexError) as excinfo:
        samples_resolve.resolve("sheets", {"individuals": str(ind)}, out, {"expected_individuals": 2}, "X", "https")
    assert one_line(excinfo) == f"{ind}: 3 individuals, but samples.expected_individuals is 2"
    ind.write_text(INDIVIDUALS + "NA12878\tCEU\tEUR\tfemale\n")
    with pytest.raises(KgpexError) as excinfo:
        samples_resolve.resolve("sheets", {"individuals": str(ind)}, out, {}, "X", "https")
    assert one_line(excinfo) == f"{ind} line 5: duplicate individual 'NA12878' (first on line 3)"
    ind.write_text(INDIVIDUALS.split("\n")[0] + "\n")
    with pytest.raises(KgpexError) as excinfo:
        samples_resolve.resolve("sheets", {"individuals": str(ind)}, out, {}, "X", "https")
    assert one_line(excinfo) == f"{ind}: sheet has no rows"
    assert not any(Path(p).exists() for p in (out.individuals, out.runs, out.sources, out.mapping))


def _config(runs: str, expression_input: str, method: str = "sheets") -> dict:
    return {
        "samples": {"method": method, "individuals": "individuals.tsv", "runs": runs},
        "expression": {"input": expression_input},
    }


def test_only_the_matrix_entry_point_takes_a_cohort_without_runs():
    assert individuals_only(_config("", "matrix"))
    assert not individuals_only(_config("runs.tsv", "matrix"))
    assert not individuals_only(_config("", "matrix", method="sdrf"))  # its runs come from the SDRF
    check_samples_config(_config("", "matrix"))
    check_samples_config(_config("runs.tsv", "reads"))
    with pytest.raises(KgpexError) as excinfo:
        check_samples_config(_config("", "reads"))
    assert one_line(excinfo).startswith(
        "config: field 'samples.runs': no runs sheet, but expression.input is 'reads'"
    )


def test_schema_needs_no_accession_for_a_cohort_without_runs():
    base = {
        "cohort": "ARRAYS", "release": "v1",
        "reference": {"transcripts_url": "t.fa.gz", "annotation_url": "a.gtf.gz"},
        "genotypes": {"vcf_url": "v_{chrom}.vcf.gz"},
    }
    validate_config({**base, "samples": {"method": "sheets", "individuals": "i.tsv", "runs": ""}})
    # With runs, an empty run_table still means "query ENA", which needs an accession.
    with pytest.raises(KgpexError, match="field 'samples.accession': '' should be non-empty"):
        validate_config({**base, "samples": {"method": "sheets", "individuals": "i.tsv", "runs": "r.tsv"}})
    with pytest.raises(KgpexError, match="field 'samples': 'runs' is a required property"):
        validate_config({**base, "samples": {"method": "sheets", "individuals": "i.tsv"}})


# --- dispatch, metadata files, the panel -----------------------------------------------------


def test_resolve_dispatches_on_the_method(tmp_path, panel):
    sdrf, table = geuvadis_inputs(tmp_path)
    settings = {"individual_column": "Source Name", "batch_column": "", "expected_individuals": 3}
    inputs = {"sdrf": str(sdrf), "run_table": str(table), "panel": str(panel)}
    sheets = samples_resolve.resolve("sdrf", inputs, outputs(tmp_path), settings, "GEUVADIS", "ftp")
    assert {row["batch"] for row in sheets.runs.values()} == {"GEUVADIS"}
    assert read_tsv(outputs(tmp_path).sources)[0]["url_1"].startswith("ftp://")
    with pytest.raises(KgpexError, match="samples.method: unknown method 'arrays'"):
        samples_resolve.resolve("arrays", inputs, outputs(tmp_path), settings, "X", "ftp")


def test_metadata_checks_sha256_and_parses(tmp_path, panel):
    samples_resolve.check_metadata("panel", panel)
    digest = hashlib.sha256(panel.read_bytes()).hexdigest()
    samples_resolve.check_metadata("panel", panel, sha256=digest)
    with pytest.raises(KgpexError, match=f"{panel}: sha256 {digest}, expected {'0' * 64}"):
        samples_resolve.check_metadata("panel", panel, sha256="0" * 64)
    bad = tmp_path / "bad.txt"
    bad.write_text("<html>moved</html>\n")
    with pytest.raises(KgpexError, match="sample panel lacks a column for individual"):
        samples_resolve.check_metadata("panel", bad)
    with pytest.raises(KgpexError, match="lacks column"):
        samples_resolve.check_metadata("mage_metadata", bad)


def test_panel_formats_of_igsr_are_both_read(tmp_path):
    ped = tmp_path / "ped.txt"
    ped.write_text(PANEL)
    phase3 = tmp_path / "phase3.panel"
    phase3.write_text("sample\tpop\tsuper_pop\tgender\t\nHG00096\tGBR\tEUR\tmale\t\n")
    assert read_panel(ped)["HG00096"] == read_panel(phase3)["HG00096"] == {
        "individual": "HG00096",
        "population": "GBR",
        "continental_group": "EUR",
        "sex": "male",
    }
    ped.write_text(PANEL + "HG00099 HG00099 0 0 0 GBR EUR\n")
    with pytest.raises(KgpexError, match="line 7: sex '0' is not 1/2/male/female"):
        read_panel(ped)


def test_resolved_rows_are_checked_against_the_sheet_schemas(tmp_path):
    panel = tmp_path / "panel.txt"
    panel.write_text(PANEL.replace("HG00096 HG00096 0 0 1 GBR EUR", "HG00096 HG00096 0 0 1 gbr EUR"))
    sdrf, table = geuvadis_inputs(tmp_path, rows=sdrf_rows("HG00096", "", "UNIGE", "ERR188021"),
                                  runs=["ERR188021"])
    out = outputs(tmp_path)
    with pytest.raises(KgpexError) as excinfo:
        samples_resolve.resolve_from_sdrf(sdrf, table, panel, out)
    assert one_line(excinfo) == (
        f"{sdrf}: individual HG00096: field 'population': 'gbr' does not match '^[A-Z]{{3}}$'"
    )
    assert not Path(out.individuals).exists()
