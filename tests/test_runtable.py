"""kgpex.samples.runtable: ENA filereport parsing and the checked per-run table."""

from __future__ import annotations

import pytest

from kgpex.common.errors import KgpexError
from kgpex.samples.runtable import (
    CHECKED_COLUMNS,
    PAIRED,
    SINGLE,
    RunSource,
    check_run_table,
    read_checked_row,
    read_layouts,
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
    header = "run_accession\tlibrary_layout\tfastq_ftp\tfastq_md5\tfastq_bytes\n"
    path = table(
        tmp_path,
        paired("SRR1").replace("HG00096", "PAIRED"),
        f"SRR2\tPAIRED\tftp.x/SRR2.fastq.gz\t{M0}\t5",
        "XYZ3\tSINGLE\t\t\t",
        f"SRR5\tSINGLE\tftp.x/SRR5.fastq.gz\t{M0}\t5",
        header=header,
    )
    with pytest.raises(KgpexError) as err:
        check_run_table(
            path, ["SRR1", "SRR2", "XYZ3", "SRR4", "SRR0", "SRR5"], runs_label="runs.tsv"
        )
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: 4 run(s) of runs.tsv have no source of reads: ")
    assert "SRR0 (not in the run table)" in message
    assert "SRR4 (not in the run table)" in message
    assert (
        "SRR2 (line 3: library_layout PAIRED but 1 FASTQ file (mates interleaved, joined or lost))"
        in message
    )
    assert "XYZ3 (line 4: no FASTQ" in message
    assert "SRR1 " not in message and "SRR5 " not in message


def test_one_fastq_file_is_a_single_end_run(tmp_path):
    header = "run_accession\tlibrary_layout\tfastq_ftp\tfastq_md5\tfastq_bytes\n"
    path = table(
        tmp_path,
        f"SRR1\tSINGLE\tftp.x/SRR1.fastq.gz\t{M0.upper()}\t5",
        "SRR2\t\t/m/SRR2.fastq.gz\t\t",  # no layout given: one file is single-end
        paired("SRR3").replace("HG00096", "PAIRED"),
        header=header,
    )
    one, two, three = check_run_table(path, ["SRR1", "SRR2", "SRR3"], scheme="ftp")
    assert one == RunSource("SRR1", "ena", "ftp://ftp.x/SRR1.fastq.gz", md5_1=M0, bytes_1="5", layout=SINGLE)
    assert (two.url_1, two.url_2, two.md5_1, two.layout) == ("file:///m/SRR2.fastq.gz", "", "", SINGLE)
    assert three.layout == PAIRED and three.url_2.endswith("SRR3_2.fastq.gz")


def test_sra_fallback_takes_the_layout_from_library_layout(tmp_path):
    header = "run_accession\tlibrary_layout\tfastq_ftp\tfastq_md5\tfastq_bytes\n"
    path = table(tmp_path, "SRR1\tSINGLE\t\t\t", "SRR2\tPAIRED\t\t\t", "SRR3\t\t\t\t", header=header)
    runs = check_run_table(path, ["SRR1", "SRR2", "SRR3"])
    assert [(r.run_accession, r.source, r.layout) for r in runs] == [
        ("SRR1", "sra", SINGLE),
        ("SRR2", "sra", PAIRED),
        ("SRR3", "sra", PAIRED),  # unknown layout: fasterq-dump must then write two mates
    ]


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
    assert lines[2] == "SRR2\tsra\t\t\t\t\t\t\tpaired"
    assert read_checked_row(out, "SRR1") == runs[0]
    assert read_checked_row(out, "SRR2").source == "sra"
    with pytest.raises(KgpexError, match="no row for run SRR3"):
        read_checked_row(out, "SRR3")


def test_checked_table_layouts(tmp_path):
    out = tmp_path / "run_sources.tsv"
    write_checked(
        [
            RunSource("A", "ena", "file:///a.fq.gz", layout=SINGLE),
            RunSource("B", "ena", "file:///b_1.fq.gz", "file:///b_2.fq.gz"),
            RunSource("C", "sra", layout=SINGLE),
        ],
        out,
    )
    assert out.read_text().splitlines()[0].endswith("\tbytes_2\tlayout")
    assert read_layouts(out) == {"A": SINGLE, "B": PAIRED, "C": SINGLE}
    assert read_checked_row(out, "A") == RunSource("A", "ena", "file:///a.fq.gz", layout=SINGLE)
    # A table written before the layout column: every run paired.
    legacy = tmp_path / "legacy.tsv"
    legacy.write_text("\t".join(CHECKED_COLUMNS[:-1]) + "\nB\tena\tu1\tu2\t\t\t\t\n")
    assert read_layouts(legacy) == {"B": PAIRED}
    bad = tmp_path / "bad.tsv"
    bad.write_text("\t".join(CHECKED_COLUMNS) + "\nB\tena\tu1\tu2\t\t\t\t\tmates\n")
    with pytest.raises(KgpexError, match=r"bad.tsv line 2: field 'layout': 'mates' is not paired or single"):
        read_layouts(bad)
    bad.write_text("\t".join(CHECKED_COLUMNS) + "\nB\tena\tu1\t\t\t\t\t\tpaired\n")
    with pytest.raises(KgpexError, match=r"bad.tsv line 2: a paired run without its URL\(s\)"):
        read_checked_row(bad, "B")


# --- ENA's portal API, served from recorded-shape responses on a loopback server -------------

import http.server  # noqa: E402
import threading  # noqa: E402

from kgpex.common.fetch import fetch  # noqa: E402
from kgpex.samples.runtable import ENA_FIELDS, check_fetched_run_table, ena_filereport_url  # noqa: E402


class _Responses(http.server.BaseHTTPRequestHandler):
    """Answers each request with the (status, body) recorded for its path and query."""

    recorded: dict[str, tuple[int, bytes]] = {}  # not `responses`: the base class has one

    def do_GET(self):
        status, body = self.recorded.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def ena():
    """A loopback stand-in for ENA's portal API; yields (responses dict, base URL)."""
    handler = type("Handler", (_Responses,), {"recorded": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler.recorded, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _filereport(*rows: dict) -> bytes:
    """A filereport body in ENA's shape: the requested fields as header, '' for absent values."""
    lines = ["\t".join(ENA_FIELDS)]
    lines += ["\t".join(row.get(f, "") for f in ENA_FIELDS) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def _query(base: str, accession: str) -> tuple[str, str]:
    url = ena_filereport_url(accession).replace("https://www.ebi.ac.uk", base)
    return url, url[len(base) :]


def _fetch_table(url: str, tmp_path):
    return fetch(url, tmp_path / "run_table.tsv", retries=0, check=check_fetched_run_table)


def test_filereport_query_asks_for_every_read_run_with_per_mate_fields():
    url = ena_filereport_url("PRJNA851328")
    assert url.startswith("https://www.ebi.ac.uk/ena/portal/api/filereport?accession=PRJNA851328")
    assert "&result=read_run&" in url and "&format=tsv" in url
    fields = url.split("&fields=")[1].split("&")[0].split(",")
    assert {"run_accession", "fastq_ftp", "fastq_md5", "fastq_bytes", "read_count"} <= set(fields)
    with pytest.raises(KgpexError, match="'GSE19480 ' is not an ENA/SRA accession"):
        ena_filereport_url("GSE19480 ")


def test_served_filereport_resolves_paired_single_end_and_sra_only_runs(ena, tmp_path):
    responses, base = ena
    url, path = _query(base, "PRJNA000001")
    paired_base = "ftp.sra.ebi.ac.uk/vol1/fastq/SRR197/065/SRR19762765/SRR19762765"
    responses[path] = (
        200,
        _filereport(
            {
                "run_accession": "SRR19762765",
                "library_layout": "PAIRED",
                "fastq_ftp": f"{paired_base}_1.fastq.gz;{paired_base}_2.fastq.gz",
                "fastq_md5": f"{M1};{M2}",
                "fastq_bytes": "100;200",
            },
            {
                "run_accession": "SRR031919",
                "library_layout": "SINGLE",
                "fastq_ftp": "ftp.sra.ebi.ac.uk/vol1/fastq/SRR031/SRR031919/SRR031919.fastq.gz",
                "fastq_md5": M0,
                "fastq_bytes": "50",
            },
            {"run_accession": "SRR37907958", "library_layout": "PAIRED"},  # no FASTQ on ENA yet
            {"run_accession": "SRR031920", "library_layout": "SINGLE"},
        ),
    )
    table = _fetch_table(url, tmp_path)
    sources = check_run_table(table, ["SRR19762765", "SRR37907958", "SRR031919", "SRR031920"])
    assert [(s.run_accession, s.source, s.layout) for s in sources] == [
        ("SRR031919", "ena", SINGLE),
        ("SRR031920", "sra", SINGLE),  # the SRA fallback, one file
        ("SRR19762765", "ena", PAIRED),
        ("SRR37907958", "sra", PAIRED),  # the SRA fallback
    ]
    assert sources[2].url_2 == f"https://{paired_base}_2.fastq.gz"
    assert sources[0].url_1 == "https://ftp.sra.ebi.ac.uk/vol1/fastq/SRR031/SRR031919/SRR031919.fastq.gz"
    assert (sources[0].md5_1, sources[0].bytes_1, sources[0].url_2) == (M0, "50", "")


def test_error_response_stops_with_one_line_and_no_table(ena, tmp_path):
    responses, base = ena
    url, path = _query(base, "PRJNA000002")
    responses[path] = (400, b'{"message": "Invalid accession"}')
    with pytest.raises(KgpexError) as err:
        _fetch_table(url, tmp_path)
    assert str(err.value) == f"{url}: HTTP 400 Bad Request"
    assert not (tmp_path / "run_table.tsv").exists()


@pytest.mark.parametrize(
    "status, body", [(200, b""), (204, b""), (200, ("\t".join(ENA_FIELDS) + "\n").encode())]
)
def test_empty_result_stops_with_one_line_instead_of_resolving_no_runs(ena, tmp_path, status, body):
    # ENA answers an accession without read runs with no content or a bare header.
    responses, base = ena
    url, path = _query(base, "PRJNA000003")
    responses[path] = (status, body)
    with pytest.raises(KgpexError) as err:
        _fetch_table(url, tmp_path)
    assert str(err.value) == (
        f"{url}: {tmp_path / 'run_table.tsv'}: no runs (an empty result: check samples.accession)"
    )
    assert not list(tmp_path.iterdir())


def test_html_error_page_is_not_taken_for_a_run_table(ena, tmp_path):
    responses, base = ena
    url, path = _query(base, "PRJNA000004")
    responses[path] = (200, b"<html>\n<body>Service unavailable</body>\n</html>\n")
    with pytest.raises(KgpexError, match="line 1: missing column"):
        _fetch_table(url, tmp_path)


# --- one's own reads: the simpler shape ------------------------------------------------------


def test_own_reads_table_gives_paths_as_file_urls_and_checks_md5s(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    header = "run_accession\tindividual\tbatch\tfastq_1\tfastq_2\tmd5_1\tmd5_2\n"
    path = table(
        tmp_path,
        f"LIB1\tHG00096\tb1\treads/LIB1_R1.fq.gz\treads/LIB1_R2.fq.gz\t{M1}\t{M2.upper()}",
        "LIB2\tHG00097\tb1\thttps://example.org/L2_1.fq.gz\thttps://example.org/L2_2.fq.gz\t\t",
        "LIB3\tHG00099\tb1\t/data/LIB3_1.fq.gz\t\t\t",
        header=header,
    )
    lib1, lib2 = check_run_table(path, ["LIB1", "LIB2"])
    assert lib1 == RunSource(
        "LIB1",
        "ena",
        (tmp_path / "reads/LIB1_R1.fq.gz").as_uri(),
        (tmp_path / "reads/LIB1_R2.fq.gz").as_uri(),
        M1,
        M2,
    )
    assert (lib2.url_1, lib2.md5_1) == ("https://example.org/L2_1.fq.gz", "")
    [lib3] = check_run_table(path, ["LIB3"])
    assert lib3 == RunSource("LIB3", "ena", "file:///data/LIB3_1.fq.gz", layout=SINGLE)
    # fastq_1 alone, without a fastq_2 column: every run single-end.
    only = table(
        tmp_path, f"LIB4\tHG00096\tb1\t/d/LIB4.fq.gz\t{M1}", "LIB5\tHG00097\tb1\t\t",
        header="run_accession\tindividual\tbatch\tfastq_1\tmd5_1\n",
    )
    [lib4] = check_run_table(only, ["LIB4"])
    assert (lib4.url_1, lib4.md5_1, lib4.layout) == ("file:///d/LIB4.fq.gz", M1, SINGLE)
    with pytest.raises(KgpexError, match=r"LIB5 \(line 3: no fastq_1 or fastq_2\)"):
        check_run_table(only, ["LIB5"])
    odd = table(tmp_path, "LIB6\tHG00096\tb1\t\t/d/LIB6_2.fq.gz\t\t", header=header)
    with pytest.raises(KgpexError, match=r"LIB6 \(line 2: fastq_2 without fastq_1"):
        check_run_table(odd, ["LIB6"])
    odd = table(tmp_path, f"LIB7\tHG00096\tb1\t/d/LIB7.fq.gz\t\t\t{M2}", header=header)
    with pytest.raises(KgpexError, match=r"line 2: md5_2 given but no fastq_2"):
        check_run_table(odd, ["LIB7"])
    bad = table(tmp_path, "LIB1\tHG00096\tb1\ta_1.fq.gz\ta_2.fq.gz\tnot-an-md5\t", header=header)
    with pytest.raises(KgpexError, match="line 2: md5 'not-an-md5' is not an md5"):
        check_run_table(bad, ["LIB1"])


def test_absolute_paths_in_fastq_ftp_become_file_urls(tmp_path):
    row = f"SRR1\tx\t/m/SRR1_1.fastq.gz;/m/SRR1_2.fastq.gz\t{M1};{M2}\t1;2"
    [run] = check_run_table(table(tmp_path, row), ["SRR1"])
    assert (run.url_1, run.url_2) == ("file:///m/SRR1_1.fastq.gz", "file:///m/SRR1_2.fastq.gz")
