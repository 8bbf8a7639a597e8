"""kgpex.samples.sheets and kgpex.common.config: config defaults and checks, sheet schemas,
duplicates and cross-checks.

Every error must be a KgpexError of one line naming the file, row and field.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kgpex.common import config as common_config
from kgpex.common.errors import KgpexError
from kgpex.samples import sheets

ROOT = Path(__file__).resolve().parents[1]

MINIMAL_CONFIG = {
    "cohort": "TEST",
    "release": "v0",
    "samples": {
        "method": "sheets",
        "individuals": "individuals.tsv",
        "runs": "runs.tsv",
        "run_table": "run_table.tsv",
    },
    "reference": {"transcripts_url": "t.fa.gz", "annotation_url": "a.gtf.gz"},
    "genotypes": {"vcf_url": "vcf/{chrom}.vcf.gz"},
}

IND_HEADER = ["individual", "population", "continental_group", "sex"]
RUN_HEADER = ["run_accession", "individual", "batch"]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    return path


@pytest.fixture
def sheet_paths(tmp_path):
    ind = _write(
        tmp_path / "individuals.tsv",
        IND_HEADER,
        [["HG00096", "GBR", "EUR", "male"], ["NA12878", "CEU", "EUR", "female"]],
    )
    run = _write(
        tmp_path / "runs.tsv",
        RUN_HEADER,
        [
            ["SRR0000001", "HG00096", "b1"],
            ["SRR0000002", "NA12878", "b1"],
            ["SRR0000003", "NA12878", "b2"],
        ],
    )
    return ind, run


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- config ------------------------------------------------------------------------------


def test_minimal_config_gets_every_default():
    config = common_config.validate_config(copy.deepcopy(MINIMAL_CONFIG))
    assert config["download"] == {
        "retries": 5,
        "backoff_seconds": 2.0,
        "timeout_seconds": 120,
        "fastq_scheme": "https",
        "keep_fastq": False,
        "threads": 2,
        # ENA, GENCODE, IGSR/NYGC, NCBI and MAGE's repository: the hosts the presets name.
        "allowed_hosts": [
            "ftp.sra.ebi.ac.uk",
            "ftp.ebi.ac.uk",
            "www.ebi.ac.uk",
            "ftp.1000genomes.ebi.ac.uk",
            "ftp-trace.ncbi.nlm.nih.gov",
            "ftp.ncbi.nlm.nih.gov",
            "raw.githubusercontent.com",
            "github.com",
        ],
        "allow_http": False,
        "allow_file": True,
    }
    assert config["salmon"] == {"settings": "default", "extra_args": "", "threads": 8}
    assert config["eqtl"]["threads"] == 4
    # The splicing arm is off unless asked for, with MAGE's LeafCutter settings.
    assert config["splicing"] == {
        "enabled": False, "anchor": 8, "min_intron": 50, "max_intron": 500000,
        "min_cluster_reads": 50, "max_cluster_intron": 500000, "min_cluster_ratio": 0.001,
        "pct_cutoff": 10, "hidden_factors": 15,
    }
    assert config["reference"]["kmer"] == 31 and config["reference"]["decoys"] is False
    assert config["genotypes"]["chromosomes"][-1] == "chrX"
    assert len(config["genotypes"]["chromosomes"]) == 23
    assert config["genotypes"]["pca"]["n_covariate_pcs"] == 5
    assert config["covariates"]["hidden_factors"] == "auto"
    assert config["eqtl"]["fastqtl"]["permute"] == [1000, 10000]
    assert config["eqtl"]["finemapping"] == {"method": "susier", "L": 10, "coverage": 0.95, "min_abs_corr": 0.5}


def test_given_values_are_kept_over_defaults():
    config = copy.deepcopy(MINIMAL_CONFIG)
    config["eqtl"] = {"mapper": "fastqtl", "window": 500000}
    common_config.validate_config(config)
    assert config["eqtl"]["mapper"] == "fastqtl"
    assert config["eqtl"]["window"] == 500000
    assert config["eqtl"]["permutations"] == 10000


def test_defaults_are_copies_not_shared_between_configs():
    first = common_config.validate_config(copy.deepcopy(MINIMAL_CONFIG))
    first["genotypes"]["chromosomes"].append("chrY")
    second = common_config.validate_config(copy.deepcopy(MINIMAL_CONFIG))
    assert "chrY" not in second["genotypes"]["chromosomes"]


def test_shipped_demo_config_is_valid():
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    common_config.validate_config(config)


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda c: c["eqtl"].update(window="wide"),
            "config: field 'eqtl.window': 'wide' is not of type 'integer'",
        ),
        (
            lambda c: c.update(permutation_count=1000),
            "config: field '(top level)': Additional properties are not allowed "
            "('permutation_count' was unexpected)",
        ),
        (
            lambda c: c["eqtl"].update(mapper="matrixeqtl"),
            "config: field 'eqtl.mapper': 'matrixeqtl' is not one of ['tensorqtl', 'fastqtl']",
        ),
        (
            lambda c: c["genotypes"].update(chromosomes=["22"]),
            "config: field 'genotypes.chromosomes.0': '22' does not match "
            "'^chr([1-9]|1[0-9]|2[0-2]|X)$'",
        ),
        (
            # vcf_url without {chrom} is one file for every chromosome; neither it nor
            # genotypes.pgen is an error.
            lambda c: c["genotypes"].update(vcf_url=""),
            "config: field 'genotypes.vcf_url': '' should be non-empty",
        ),
        (
            lambda c: c["samples"].pop("runs"),
            "config: field 'samples': 'runs' is a required property",
        ),
    ],
)
def test_bad_config_is_one_line_naming_the_field(change, expected):
    config = copy.deepcopy(MINIMAL_CONFIG)
    config["eqtl"] = {}
    change(config)
    with pytest.raises(KgpexError) as excinfo:
        common_config.validate_config(config)
    assert _one_line_error(excinfo) == expected


# --- sheets ------------------------------------------------------------------------------


def test_good_sheets_load_with_runs_per_individual(sheet_paths):
    loaded = sheets.load_sheets(*sheet_paths)
    assert sorted(loaded.individuals) == ["HG00096", "NA12878"]
    assert loaded.individuals["NA12878"]["sex"] == "female"
    assert sorted(loaded.runs) == ["SRR0000001", "SRR0000002", "SRR0000003"]
    assert loaded.runs_of("NA12878") == ["SRR0000002", "SRR0000003"]
    assert loaded.runs_of("HG00096") == ["SRR0000001"]


def test_values_stay_strings_and_comment_lines_are_skipped(tmp_path):
    path = tmp_path / "runs.tsv"
    path.write_text("# produced by hand\nrun_accession\tindividual\tbatch\nSRR1\tHG00096\t01\n")
    rows = sheets.read_tsv(path)
    assert rows == [{"run_accession": "SRR1", "individual": "HG00096", "batch": "01"}]


def test_shipped_demo_sheets_load():
    loaded = sheets.load_sheets(
        ROOT / "resources/demo/individuals.tsv", ROOT / "resources/demo/runs.tsv"
    )
    assert loaded.individuals and loaded.runs


def test_missing_sheet(tmp_path):
    with pytest.raises(KgpexError) as excinfo:
        sheets.read_tsv(tmp_path / "absent.tsv")
    assert _one_line_error(excinfo) == f"{tmp_path / 'absent.tsv'}: sheet not found"


def test_sheet_with_only_a_header(tmp_path):
    path = _write(tmp_path / "runs.tsv", RUN_HEADER, [])
    with pytest.raises(KgpexError) as excinfo:
        sheets.read_tsv(path)
    assert _one_line_error(excinfo) == f"{path}: sheet has no rows"


@pytest.mark.parametrize(
    "row, expected",
    [
        (
            ["NA12878", "CEU", "EUR", "F"],
            "line 3 (individual=NA12878): field 'sex': 'F' is not one of ['male', 'female']",
        ),
        (
            ["NA1287", "CEU", "EUR", "female"],
            "line 3 (individual=NA1287): field 'individual': 'NA1287' does not match "
            "'^(HG|NA)[0-9]{5}$'",
        ),
        (
            ["NA12878", "ceu", "EUR", "female"],
            "line 3 (individual=NA12878): field 'population': 'ceu' does not match '^[A-Z]{3}$'",
        ),
        (
            ["NA12878", "CEU", "EU", "female"],
            "line 3 (individual=NA12878): field 'continental_group': 'EU' is not one of "
            "['AFR', 'AMR', 'EAS', 'EUR', 'SAS']",
        ),
        (["NA12878", "CEU", "EUR"], "line 3: wrong number of columns"),
        (["NA12878", "CEU", "EUR", "female", "extra"], "line 3: wrong number of columns"),
    ],
)
def test_bad_individual_row_names_file_line_and_field(tmp_path, sheet_paths, row, expected):
    _, run = sheet_paths
    ind = _write(
        tmp_path / "bad_individuals.tsv", IND_HEADER, [["HG00096", "GBR", "EUR", "male"], row]
    )
    with pytest.raises(KgpexError) as excinfo:
        sheets.load_sheets(ind, run)
    assert _one_line_error(excinfo) == f"{ind} {expected}"


def test_missing_column_is_named(tmp_path, sheet_paths):
    _, run = sheet_paths
    ind = _write(
        tmp_path / "no_sex.tsv",
        IND_HEADER[:3],
        [["HG00096", "GBR", "EUR"], ["NA12878", "CEU", "EUR"]],
    )
    with pytest.raises(KgpexError) as excinfo:
        sheets.load_sheets(ind, run)
    assert _one_line_error(excinfo) == (
        f"{ind} line 2 (individual=HG00096): field '(top level)': 'sex' is a required property"
    )


def test_bad_run_accession(tmp_path, sheet_paths):
    ind, _ = sheet_paths
    run = _write(tmp_path / "runs_bad.tsv", RUN_HEADER, [["SRR 1", "HG00096", "b1"]])
    with pytest.raises(KgpexError) as excinfo:
        sheets.load_sheets(ind, run)
    assert _one_line_error(excinfo) == (
        f"{run} line 2 (run_accession=SRR 1): field 'run_accession': 'SRR 1' does not match "
        "'^[A-Za-z0-9][A-Za-z0-9_.-]*$'"
    )


def test_empty_batch_is_rejected(tmp_path, sheet_paths):
    ind, _ = sheet_paths
    run = _write(tmp_path / "runs_bad.tsv", RUN_HEADER, [["SRR1", "HG00096", ""]])
    with pytest.raises(KgpexError) as excinfo:
        sheets.load_sheets(ind, run)
    assert _one_line_error(excinfo) == (
        f"{run} line 2 (run_accession=SRR1): field 'batch': '' should be non-empty"
    )


def test_duplicate_individual(tmp_path, sheet_paths):
    _, run = sheet_paths
    ind = _write(
        tmp_path / "dup.tsv",
        IND_HEADER,
        [
            ["HG00096", "GBR", "EUR", "male"],
            ["NA12878", "CEU", "EUR", "female"],
            ["HG00096", "GBR", "EUR", "male"],
        ],
    )
    with pytest.raises(KgpexError) as excinfo:
        sheets.load_sheets(ind, run)
    assert (
        _one_line_error(excinfo)
        == f"{ind} line 4: duplicate individual 'HG00096' (first on line 2)"
    )


def test_duplicate_run(tmp_path, sheet_paths):
    ind, _ = sheet_paths
    run = _write(
        tmp_path / "dup_runs.tsv",
        RUN_HEADER,
        [
            ["SRR0000001", "HG00096", "b1"],
            ["SRR0000002", "NA12878", "b1"],
            ["SRR0000002", "NA12878", "b2"],
        ],
    )
    with pytest.raises(KgpexError) as excinfo:
        sheets.load_sheets(ind, run)
    assert _one_line_error(excinfo) == (
        f"{run} line 4: duplicate run_accession 'SRR0000002' (first on line 3)"
    )


def test_run_of_an_individual_not_in_the_individuals_sheet(tmp_path, sheet_paths):
    ind, _ = sheet_paths
    run = _write(
        tmp_path / "runs_unknown.tsv",
        RUN_HEADER,
        [
            ["SRR0000001", "HG00096", "b1"],
            ["SRR0000002", "NA12878", "b1"],
            ["SRR0000009", "NA19238", "b3"],
        ],
    )
    with pytest.raises(KgpexError) as excinfo:
        sheets.load_sheets(ind, run)
    assert _one_line_error(excinfo) == (
        f"{run} line 4: run SRR0000009 belongs to individual NA19238, who is not in {ind}"
    )


def test_individuals_without_any_run_are_listed(tmp_path):
    ind = _write(
        tmp_path / "individuals.tsv",
        IND_HEADER,
        [
            ["HG00096", "GBR", "EUR", "male"],
            ["NA12878", "CEU", "EUR", "female"],
            ["NA19238", "YRI", "AFR", "female"],
        ],
    )
    run = _write(tmp_path / "runs.tsv", RUN_HEADER, [["SRR0000001", "HG00096", "b1"]])
    with pytest.raises(KgpexError) as excinfo:
        sheets.load_sheets(ind, run)
    assert _one_line_error(excinfo) == (
        f"{ind}: individuals without any run in {run}: NA12878, NA19238"
    )
