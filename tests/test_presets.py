"""kgpex.samples.mage (through kgpex.samples.resolve.resolve_mage, the method ``mage``): MAGE
runs -> 1000 Genomes IDs through ENA's sample fields, the 2026 sample swap, overrides, and failures that
list every run. Fixtures are synthetic rows in the real column layouts (MAGE's
updated_metadata.tsv, ENA's filereport)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kgpex.common.errors import KgpexError
from kgpex.samples import mage as samples_mage
from kgpex.samples import metadata as samples_metadata
from kgpex.samples.resolve import ResolvedPaths, resolve_mage
from kgpex.samples.runtable import ENA_FIELDS
from kgpex.samples.sheets import load_sheets

META_HEADER = samples_mage.METADATA_COLUMNS
# sequencing_id, coriell_id, kgp_id, batch, superpop, subpop, sex, read pairs
LIBRARIES = [
    ("GM12878", "GM12878", "NA12878", "1", "EUR", "CEU", "female", 1000),
    ("HG00096", "HG00096", "HG00096", "1", "EUR", "GBR", "male", 1100),
    ("HG00100", "HG00100", "HG00100", "2", "EUR", "GBR", "female", 1200),
    ("HG00237", "HG00237", "HG00237", "3", "EUR", "GBR", "female", 2000),
    ("GM11919", "GM11919", "NA11919", "3", "EUR", "CEU", "male", 1500),
    ("HG00237-7-1", "HG00237", "HG00237", "7", "EUR", "GBR", "female", 3000),
    ("HG00237-7-2", "HG00237", "HG00237", "7", "EUR", "GBR", "female", 4000),
    ("GM19238", "GM19238", "NA19238", "2", "AFR", "YRI", "female", 5000),
    ("GM19238-10-1", "GM19238", "NA19238", "10", "AFR", "YRI", "female", 6000),
    ("GM19238-10-2", "GM19238", "NA19238", "10", "AFR", "YRI", "female", 7000),
]

ENA_HEADER = list(ENA_FIELDS)
# run, sample_alias, sample_title, library_name, read_count
RUNS = [
    ("SRR90000001", "GM12878", "LCL RNA-seq of GM12878", "GM12878", 1000),
    ("SRR90000002", "HG00096", "LCL RNA-seq of HG00096", "HG00096", 1100),
    ("SRR19762765", "HG00100", "LCL RNA-seq of HG00100", "HG00100", 1200),
    ("SRR19762247", "HG00237", "LCL RNA-seq of HG00237", "HG00237-7-2", 4000),
    ("SRR90000004", "HG00237", "LCL RNA-seq of HG00237", "HG00237_7_1", 3000),
    # The swapped pair, labelled as the 2026 notice says: HG00237's batch-3 library by read count.
    ("SRR19762530", "HG00237", "LCL RNA-seq of HG00237", "", 2000),
    ("SRR19762653", "GM11919", "LCL RNA-seq of GM11919", "GM11919", 1500),
    # A triplicate resolved by read count only, then by library names.
    ("SRR90000008", "NA19238", "", "", 5000),
    ("SRR90000009", "NA19238", "", "gm19238-10-1", 6000),
    ("SRR90000010", "NA19238", "", "GM19238-10-2", 7000),
]
REPLACEMENTS = [
    ("SRR37907958", "NA11919", "LCL RNA-seq of NA11919", "", 2000),
    ("SRR37907959", "HG00237", "LCL RNA-seq of HG00237", "", 1500),
]


def write_metadata(path: Path, libraries=LIBRARIES) -> Path:
    with open(path, "w") as fh:
        fh.write("\t".join(META_HEADER) + "\n")
        for seq, coriell, kgp, batch, superpop, subpop, sex, reads in libraries:
            fastq = f"${{fastqDir}}/batch{batch}/{seq}_R1_001.fastq.gz"
            fh.write(
                "\t".join(
                    [seq, coriell, kgp, batch, fastq, superpop, subpop, sex, "no", str(reads)]
                )
            )
            fh.write("\n")
    return path


def write_run_table(path: Path, runs) -> Path:
    with open(path, "w") as fh:
        fh.write("\t".join(ENA_HEADER) + "\n")
        for i, (run, alias, title, library, reads) in enumerate(runs):
            ftp = f"ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/00{i % 10}/{run}/{run}"
            values = {
                "run_accession": run,
                "study_accession": "SRP000001",
                "experiment_accession": f"SRX9000{i:04d}",
                "sample_accession": f"SAMN9000{i:04d}",
                "sample_alias": alias,
                "sample_title": title,
                "library_name": library,
                "library_layout": "PAIRED",
                "read_count": str(reads),
                "base_count": str(reads * 200),
                "fastq_ftp": f"{ftp}_1.fastq.gz;{ftp}_2.fastq.gz",
                "fastq_md5": f"{i:032x};{i + 1:032x}",
                "fastq_bytes": "100;100",
            }
            fh.write("\t".join(values[c] for c in ENA_HEADER) + "\n")
    return path


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def build(tmp_path: Path, runs, overrides: list[str] | None = None, libraries=LIBRARIES):
    meta = write_metadata(tmp_path / "updated_metadata.tsv", libraries)
    table = write_run_table(tmp_path / "filereport.tsv", runs)
    ov = None
    if overrides is not None:
        ov = tmp_path / "overrides.tsv"
        ov.write_text("run_accession\tlibrary\tindividual\n" + "".join(f"{r}\n" for r in overrides))
    out = tmp_path / "mage"
    out.mkdir(exist_ok=True)
    paths = ResolvedPaths(
        str(out / "individuals.tsv"),
        str(out / "runs.tsv"),
        str(out / "run_sources.tsv"),
        str(out / "run_mapping.tsv"),
    )
    return resolve_mage(meta, table, paths, ov), out


def runs_sheet(out: Path) -> dict[str, tuple[str, str, str]]:
    """run -> (individual, batch, MAGE library) from runs.tsv and run_mapping.tsv."""
    library = {r["run_accession"]: r["library"] for r in read_tsv(out / "run_mapping.tsv")}
    return {
        r["run_accession"]: (r["individual"], r["batch"], library[r["run_accession"]])
        for r in read_tsv(out / "runs.tsv")
    }


def failure(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- mapping ------------------------------------------------------------------------------


def test_runs_map_through_sample_fields_and_read_counts(tmp_path):
    _, out = build(tmp_path, RUNS + REPLACEMENTS)
    assert runs_sheet(out) == {
        "SRR90000001": ("NA12878", "1", "GM12878"),  # Coriell ID -> 1000 Genomes ID
        "SRR90000002": ("HG00096", "1", "HG00096"),
        "SRR19762765": ("HG00100", "2", "HG00100"),
        "SRR19762247": ("HG00237", "7", "HG00237-7-2"),  # library_name names the replicate
        "SRR90000004": ("HG00237", "7", "HG00237-7-1"),  # '_' separators normalised
        "SRR90000008": ("NA19238", "2", "GM19238"),  # triplicate resolved by read_count
        "SRR90000009": ("NA19238", "10", "GM19238-10-1"),  # lower case accepted
        "SRR90000010": ("NA19238", "10", "GM19238-10-2"),
        "SRR37907958": ("NA11919", "3", "HG00237"),
        "SRR37907959": ("HG00237", "3", "GM11919"),
    }
    assert read_tsv(out / "individuals.tsv") == [
        {"individual": "HG00096", "population": "GBR", "continental_group": "EUR", "sex": "male"},
        {"individual": "HG00100", "population": "GBR", "continental_group": "EUR", "sex": "female"},
        {"individual": "HG00237", "population": "GBR", "continental_group": "EUR", "sex": "female"},
        {"individual": "NA11919", "population": "CEU", "continental_group": "EUR", "sex": "male"},
        {"individual": "NA12878", "population": "CEU", "continental_group": "EUR", "sex": "female"},
        {"individual": "NA19238", "population": "YRI", "continental_group": "AFR", "sex": "female"},
    ]
    loaded = load_sheets(out / "individuals.tsv", out / "runs.tsv")
    assert loaded.runs_of("HG00237") == ["SRR19762247", "SRR37907959", "SRR90000004"]
    assert not (out / "unmapped_runs.tsv").exists()


def test_sample_swap_uses_the_replacement_runs_and_drops_the_mislabelled_ones(tmp_path):
    _, out = build(tmp_path, RUNS + REPLACEMENTS)
    sheet = runs_sheet(out)
    assert "SRR19762530" not in sheet and "SRR19762653" not in sheet
    mapping = {r["run_accession"]: r for r in read_tsv(out / "run_mapping.tsv")}
    assert mapping["SRR19762530"]["status"] == "excluded"
    assert mapping["SRR19762530"]["evidence"] == (
        "superseded by SRR37907958 (2026 MAGE sample swap); "
        "swap state: original labels, replacement present"
    )
    assert mapping["SRR37907958"]["evidence"].startswith("replaces SRR19762530 (labelled HG00237")
    assert mapping["SRR90000008"]["evidence"] == "sample_alias=NA19238; read_count=5000"


def test_sample_swap_without_replacement_runs_relabels_the_swapped_runs(tmp_path):
    _, out = build(tmp_path, RUNS)
    sheet = runs_sheet(out)
    assert sheet["SRR19762530"] == ("NA11919", "3", "HG00237")
    assert sheet["SRR19762653"] == ("HG00237", "3", "GM11919")
    assert "SRR37907958" not in sheet


def test_swap_notice_contradicted_by_the_run_table_fails(tmp_path):
    runs = [r for r in RUNS if r[0] != "SRR19762653"]
    # Neither NA11919 (the original label) nor HG00237 (SRA's 2026-04-03 relabelling).
    runs.append(("SRR19762653", "HG00096", "", "", 1500))
    with pytest.raises(KgpexError) as excinfo:
        build(tmp_path, runs)
    assert (
        "SRR19762653 names HG00096 (sample_alias=HG00096), but the 2026 swap notice says it is "
        "labelled NA11919 (or, relabelled on SRA, HG00237): decide with an overrides table"
    ) in failure(excinfo)


def test_every_unmapped_run_is_listed_and_no_sheet_is_written(tmp_path):
    runs = RUNS + [
        ("SRR90000020", "sample 20", "RNA-seq", "lib20", 10),
        ("SRR90000021", "HG99999", "", "", 10),
        ("SRR90000022", "HG00237", "", "", 42),
        ("SRR90000023", "NA12878", "HG00096", "", 10),
    ]
    with pytest.raises(KgpexError) as excinfo:
        build(tmp_path, runs)
    message = failure(excinfo)
    table = tmp_path / "filereport.tsv"
    report = tmp_path / "mage" / "unmapped_runs.tsv"
    assert message == (
        f"{table}: 4 of 14 runs could not be mapped to a MAGE library: "
        "SRR90000020 (no 1000 Genomes or Coriell ID in sample_alias, sample_title, library_name), "
        "SRR90000021 (ID(s) HG99999 not in the library table), "
        "SRR90000022 (HG00237 has 3 libraries (HG00237, HG00237-7-1, HG00237-7-2) and read_count "
        "42 matches none), "
        "SRR90000023 (names more than one individual: NA12878 (sample_alias=NA12878), "
        f"HG00096 (sample_title=HG00096)) (every run's evidence: {report})"
    )
    assert not (tmp_path / "mage" / "runs.tsv").exists()
    assert not (tmp_path / "mage" / "individuals.tsv").exists()
    statuses = {r["run_accession"]: r["status"] for r in read_tsv(report)}
    assert [r for r, s in statuses.items() if s == "unmapped"] == [
        "SRR90000020",
        "SRR90000021",
        "SRR90000022",
        "SRR90000023",
    ]


def test_overrides_map_exclude_and_relabel(tmp_path):
    runs = [r for r in RUNS if r[0] != "SRR90000010"] + [
        ("SRR90000020", "sample 20", "", "", 7000),  # GM19238-10-2's reads, unlabelled
        ("SRR90000021", "HG99999", "", "", 10),  # not a MAGE library
    ]
    overrides = [
        "SRR90000020\tGM19238-10-2\t",
        "SRR90000021\texclude\t",
        "SRR90000001\tGM12878\texclude",  # keep NA12878's library out of the sheets
    ]
    _, out = build(tmp_path, runs, overrides)
    sheet = runs_sheet(out)
    assert sheet["SRR90000020"] == ("NA19238", "10", "GM19238-10-2")
    assert "SRR90000021" not in sheet and "SRR90000001" not in sheet
    assert "NA12878" not in {r["individual"] for r in read_tsv(out / "individuals.tsv")}
    mapping = {r["run_accession"]: r for r in read_tsv(out / "run_mapping.tsv")}
    assert mapping["SRR90000021"]["status"] == "excluded"
    assert mapping["SRR90000020"]["evidence"] == "overrides table"


def test_override_with_an_unknown_library_fails(tmp_path):
    with pytest.raises(KgpexError) as excinfo:
        build(tmp_path, RUNS, ["SRR90000001\tGM99999\t"])
    assert failure(excinfo) == (
        f"{tmp_path / 'overrides.tsv'} line 2: library 'GM99999' is not a sequencing_id of "
        f"{tmp_path / 'updated_metadata.tsv'} (nor 'exclude')"
    )


def test_override_of_a_run_not_in_the_table_fails(tmp_path):
    with pytest.raises(KgpexError) as excinfo:
        build(tmp_path, RUNS, ["SRR11111111\texclude\t"])
    assert "the overrides table names runs not in the run table: SRR11111111" in failure(excinfo)


def test_documented_run_mapped_elsewhere_fails(tmp_path):
    runs = [r for r in RUNS if r[0] not in ("SRR19762765", "SRR90000002")]
    runs += [("SRR19762765", "HG00096", "", "", 1100), ("SRR90000002", "HG00100", "", "", 1200)]
    with pytest.raises(KgpexError) as excinfo:
        build(tmp_path, runs)
    assert "SRR19762765 maps to HG00096, but MAGE documents it as HG00100" in failure(excinfo)


def test_library_without_a_run_fails(tmp_path):
    with pytest.raises(KgpexError) as excinfo:
        build(tmp_path, [r for r in RUNS if r[0] != "SRR90000002"])
    message = failure(excinfo)
    assert f"1 libraries of {tmp_path / 'updated_metadata.tsv'} have no run: HG00096" in message


def test_library_claimed_by_two_runs_fails(tmp_path):
    with pytest.raises(KgpexError) as excinfo:
        build(tmp_path, RUNS + [("SRR90000030", "GM12878", "", "", 999)])
    assert "library GM12878 is claimed by runs SRR90000001, SRR90000030" in failure(excinfo)


# --- metadata checks -----------------------------------------------------------------------


def test_metadata_with_a_missing_column_fails(tmp_path):
    path = tmp_path / "meta.tsv"
    path.write_text("sequencing_id\tkgp_id\nGM12878\tNA12878\n")
    with pytest.raises(KgpexError) as excinfo:
        samples_mage.read_metadata(path)
    assert failure(excinfo).startswith(
        f"{path} line 1: MAGE library table lacks column(s) coriell_id"
    )


def test_metadata_with_conflicting_sex_fails(tmp_path):
    libraries = LIBRARIES + [("HG00096-9-1", "HG00096", "HG00096", "9", "EUR", "GBR", "female", 1)]
    path = write_metadata(tmp_path / "meta.tsv", libraries)
    with pytest.raises(KgpexError) as excinfo:
        samples_mage.read_metadata(path)
    assert failure(excinfo) == (
        f"{path} line 12: sex 'female' of HG00096 differs from line 3 ('male')"
    )


def test_metadata_with_a_duplicate_library_fails(tmp_path):
    path = write_metadata(tmp_path / "meta.tsv", LIBRARIES + [LIBRARIES[0]])
    with pytest.raises(KgpexError) as excinfo:
        samples_mage.read_metadata(path)
    assert (
        failure(excinfo) == f"{path} line 12: duplicate sequencing_id 'GM12878' (first on line 2)"
    )


def test_map_run_normalises_tokens():
    meta_rows = {
        lib[0].upper(): samples_mage.Library(
            lib[0], lib[1], lib[2], lib[3], lib[4], lib[5], lib[6], lib[7], i
        )
        for i, lib in enumerate(LIBRARIES)
    }
    meta = samples_mage.Metadata(label="m", libraries=meta_rows)
    for lib in meta_rows.values():
        meta.individual_ids[lib.kgp_id] = lib.kgp_id
        meta.individual_ids[lib.coriell_id] = lib.kgp_id
        meta.by_individual.setdefault(lib.kgp_id, []).append(lib)
    run = samples_metadata.Run(
        "SRR1", {"sample_alias": "", "sample_title": "hg00237.7.1 rep", "library_name": ""}, None, 2
    )
    assignment = samples_mage.map_run(run, meta)
    assert assignment.library.sequencing_id == "HG00237-7-1"
    assert assignment.individual == "HG00237"


def test_overriding_a_contradicted_swap_run_settles_it(tmp_path):
    runs = [r for r in RUNS if r[0] != "SRR19762653"]
    # Labelled neither as announced nor as SRA relabelled it: the overrides table decides.
    runs.append(("SRR19762653", "HG00096", "", "", 1500))
    _, out = build(tmp_path, runs, ["SRR19762653\tGM11919\tHG00237"])
    assert runs_sheet(out)["SRR19762653"] == ("HG00237", "3", "GM11919")


# --- the preset's config -------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _merged(base: dict, over: dict) -> dict:
    """Snakemake's --configfile merge: mappings key by key, everything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


PRESETS = sorted(p.stem for p in (ROOT / "config/presets").glob("*.yaml"))
# Presets of RNA-seq runs (stranger2012 is an array matrix: kgpex.matrix_input's tests).
READS_PRESETS = ["geuvadis", "mage", "montgomery2010", "pickrell2010"]


def preset_config(name: str) -> dict:
    """A preset merged over the demo config, validated, methods applied (as common.smk does)."""
    import yaml

    from kgpex.common.config import validate_config
    from kgpex.common.methods import apply_methods

    demo = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    preset = yaml.safe_load((ROOT / f"config/presets/{name}.yaml").read_text())
    return apply_methods(validate_config(_merged(demo, preset)))


def test_every_preset_is_documented():
    assert set(READS_PRESETS) <= set(PRESETS)
    readme = (ROOT / "config/presets/README.md").read_text()
    for name in PRESETS:
        assert f"`{name}.yaml`" in readme, name


@pytest.mark.parametrize("name", READS_PRESETS)
def test_preset_is_valid_and_replaces_every_demo_source(name):
    import yaml

    config = preset_config(name)
    assert config["cohort"] != "DEMO"
    assert config["samples"]["method"] != "sheets"
    gencode = "https://ftp.ebi.ac.uk/pub/databases/gencode/Gencode_human/release_38/"
    assert config["reference"]["transcripts_url"] == gencode + "gencode.v38.transcripts.fa.gz"
    assert config["reference"]["annotation_url"] == gencode + "gencode.v38.annotation.gtf.gz"
    assert config["reference"]["md5sums_url"] == gencode + "MD5SUMS"
    assert config["genotypes"]["chromosomes"] == [f"chr{i}" for i in range(1, 23)] + ["chrX"]
    assert config["genotypes"]["vcf_url"].endswith(
        "CCDG_14151_B01_GRM_WGS_2020-08-05_{chrom}.filtered.shapeit2-duohmm-phased.vcf.gz"
    )
    assert config["genotypes"]["vcf_url_chrX"].endswith(
        "CCDG_14151_B01_GRM_WGS_2020-08-05_chrX.filtered.eagle2-phased.v2.vcf.gz"
    )
    # The demo's 10 hidden factors suit ~290 genes, not a genome.
    assert config["covariates"]["hidden_factors"] != 10
    # Nothing may still point into the demo's generated mirror, except the demo's own sheets,
    # which a non-sheets method never reads.
    samples = {k: v for k, v in config["samples"].items() if k not in ("individuals", "runs")}
    flat = yaml.safe_dump({**{k: v for k, v in config.items() if k != "demo"}, "samples": samples})
    assert "resources/demo" not in flat


def test_mage_preset_runs_mage_methods_on_its_bioproject():
    config = preset_config("mage")
    assert (config["cohort"], config["release"]) == ("MAGE", "v1.0")
    assert config["methods"] == "mage"
    assert config["salmon"]["settings"] == "mage" and config["reference"]["decoys"] is False
    assert config["genotypes"]["pca"]["n_covariate_pcs"] == 5
    assert config["covariates"]["hidden_factors"] == 60
    assert config["eqtl"]["mapper"] == "fastqtl"
    assert config["eqtl"]["fastqtl"]["permute"] == [1000, 10000]
    assert config["eqtl"]["fdr"] == 0.05
    samples = config["samples"]
    assert (samples["method"], samples["accession"], samples["run_table"]) == (
        "mage",
        "PRJNA851328",
        "",
    )
    assert samples["mage_metadata"] == samples_mage.MAGE_METADATA_URL
    assert samples["mage_metadata_sha256"] == samples_mage.MAGE_METADATA_SHA256
    assert samples["expected_individuals"] == 731


def test_other_presets_keep_the_modern_methods():
    for name in ("geuvadis", "montgomery2010", "pickrell2010"):
        config = preset_config(name)
        assert config["methods"] == "default", name
        assert config["eqtl"]["mapper"] == "tensorqtl", name
        assert config["covariates"]["hidden_factors"] == "auto", name
