"""kgpex.runtable: ENA filereport parsing and the checked per-run table."""

from __future__ import annotations

import pytest

from kgpex.errors import KgpexError
from kgpex.runtable import (
    CHECKED_COLUMNS,
    RunSource,
    check_run_table,
    read_checked_row,
    read_run_table,
    write_checked,
)

HEADER = "run_accession\tsample_alias\tfastq_ftp\tfastq_md5\tfastq_bytes\n"
M1, M2, M0 = "a" * 32, "b" * 32, "c" * 32


def table(tmp_path, *rows: str, header: str = HEADER):
    path = tmp_path / "filereport.tsv"
    path.write_text(header + "".join(r + "\n" for r in rows))
    return path


def paired(run: str) -> str:
    base = f"ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/{run}/{run}"
    return f"{run}\tHG00096\t{base}_1.fastq.gz;{base}_2.fastq.gz\t{M1};{M2}\t100;200"


def test_scheme_less_urls_get_the_configured_scheme(tmp_path):
    path = table(tmp_path, paired("SRR19762765"))
    [run] = check_run_table(path, ["SRR19762765"], scheme="https")
    assert run == RunSource(
        "SRR19762765",
        "ena",
        "https://ftp.sra.ebi.ac.uk/vol1/fastq/SRR197/SRR19762765/SRR19762765_1.fastq.gz",
        "https://ftp.sra.ebi.ac.uk/vol1/fastq/SRR197/SRR19762765/SRR19762765_2.fastq.gz",
        M1,
        M2,
        "100",
        "200",
    )
    [ftp] = check_run_table(path, ["SRR19762765"], scheme="ftp")
    assert ftp.url_1.startswith("ftp://ftp.sra.ebi.ac.uk/")


def test_urls_with_a_scheme_are_kept(tmp_path):
    row = f"SRR1\tx\tfile:///m/SRR1_1.fastq.gz;file:///m/SRR1_2.fastq.gz\t{M1};{M2}\t1;2"
    [run] = check_run_table(table(tmp_path, row), ["SRR1"])
    assert (run.url_1, run.url_2) == ("file:///m/SRR1_1.fastq.gz", "file:///m/SRR1_2.fastq.gz")


def test_three_file_run_picks_mates_by_name(tmp_path):
    # ENA lists the unpaired reads file first; md5s and sizes follow the same order.
    row = (
        "ERR188040\tx\tftp.x/ERR188040.fastq.gz;ftp.x/ERR188040_2.fastq.gz;ftp.x/ERR188040_1.fastq.gz"
        f"\t{M0};{M2};{M1}\t5;200;100"
    )
    [run] = check_run_table(table(tmp_path, row), ["ERR188040"])
    assert run.url_1 == "https://ftp.x/ERR188040_1.fastq.gz"
    assert run.url_2 == "https://ftp.x/ERR188040_2.fastq.gz"
    assert (run.md5_1, run.md5_2, run.bytes_1, run.bytes_2) == (M1, M2, "100", "200")


def test_sra_fallback_only_for_sra_run_accessions(tmp_path):
    path = table(tmp_path, "SRR5\tx\t\t\t", "DRR7\tx\t\t\t", "ERR9\tx\t\t\t")
    runs = check_run_table(path, ["SRR5", "DRR7", "ERR9"])
    assert [(r.run_accession, r.source, r.url_1) for r in runs] == [
        ("DRR7", "sra", ""),
        ("ERR9", "sra", ""),
        ("SRR5", "sra", ""),
    ]
    path = table(tmp_path, "LIB_7\tx\t\t\t")
    with pytest.raises(
        KgpexError, match=r"LIB_7 \(line 2: no FASTQ and not an SRA/ENA/DDBJ run accession\)"
    ):
        check_run_table(path, ["LIB_7"])


def test_every_run_without_reads_is_listed_in_one_error(tmp_path):
    path = table(
        tmp_path,
        paired("SRR1"),
        f"SRR2\tx\tftp.x/SRR2.fastq.gz\t{M0}\t5",
        "XYZ3\tx\t\t\t",
    )
    with pytest.raises(KgpexError) as err:
        check_run_table(path, ["SRR1", "SRR2", "XYZ3", "SRR4", "SRR0"], runs_label="runs.tsv")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: 4 run(s) of runs.tsv have no source of paired reads: ")
    assert "SRR0 (not in the run table)" in message
    assert "SRR4 (not in the run table)" in message
    assert "SRR2 (line 3: single-end: 1 FASTQ file)" in message
    assert "XYZ3 (line 4: no FASTQ" in message
    assert "SRR1 " not in message


def test_runs_not_in_the_sheet_are_ignored(tmp_path):
    path = table(tmp_path, paired("SRR1"), paired("SRR2"), "OTHER\tx\t\t\t")
    assert [r.run_accession for r in check_run_table(path, ["SRR2"])] == ["SRR2"]


def test_duplicate_run_accession_is_an_error(tmp_path):
    path = table(tmp_path, paired("SRR1"), paired("SRR2"), paired("SRR1"))
    with pytest.raises(
        KgpexError, match=r"line 4: duplicate run_accession 'SRR1' \(first on line 2\)"
    ):
        read_run_table(path)


def test_malformed_tables(tmp_path):
    with pytest.raises(KgpexError, match="missing column"):
        read_run_table(table(tmp_path, "SRR1\tx", header="run_accession\tsample\n"))
    row = f"SRR1\tx\tftp.x/SRR1_1.fastq.gz;ftp.x/SRR1_2.fastq.gz\t{M1}\t1;2"
    with pytest.raises(KgpexError, match="line 2: fastq_md5 has 1 entries but fastq_ftp has 2"):
        check_run_table(table(tmp_path, row), ["SRR1"])
    row = f"SRR1\tx\tftp.x/SRR1_1.fastq.gz;ftp.x/SRR1_2.fastq.gz\t{M1};{M2}\t1;2kb"
    with pytest.raises(KgpexError, match="line 2: fastq_bytes entry '2kb'"):
        check_run_table(table(tmp_path, row), ["SRR1"])
    with pytest.raises(KgpexError, match="line 2: wrong number of columns"):
        read_run_table(table(tmp_path, "SRR1\tx"))


def test_checked_table_round_trip(tmp_path):
    runs = check_run_table(table(tmp_path, paired("SRR1"), "SRR2\tx\t\t\t"), ["SRR1", "SRR2"])
    out = tmp_path / "runs.checked.tsv"
    write_checked(runs, out)
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == list(CHECKED_COLUMNS)
    assert lines[2] == "SRR2\tsra\t\t\t\t\t\t"
    assert read_checked_row(out, "SRR1") == runs[0]
    assert read_checked_row(out, "SRR2").source == "sra"
    with pytest.raises(KgpexError, match="no row for run SRR3"):
        read_checked_row(out, "SRR3")
