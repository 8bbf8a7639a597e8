"""kgpex.provenance: version, config hash, tool versions, run-table hashes."""

import hashlib
import json
import subprocess

import pytest

from kgpex.common.errors import KgpexError
from kgpex.provenance import record as provenance_record


def test_config_hash_ignores_key_order_and_sees_values():
    a = {"cohort": "DEMO", "eqtl": {"seed": 1, "fdr": 0.05}}
    b = {"eqtl": {"fdr": 0.05, "seed": 1}, "cohort": "DEMO"}
    assert provenance_record.config_sha256(a) == provenance_record.config_sha256(b)
    assert provenance_record.config_sha256(a) != provenance_record.config_sha256({**a, "cohort": "MAGE"})
    expected = hashlib.sha256(b'{"cohort":"DEMO","eqtl":{"fdr":0.05,"seed":1}}').hexdigest()
    assert provenance_record.config_sha256(a) == expected


def test_config_that_is_not_json_is_one_clear_error():
    with pytest.raises(KgpexError, match="config"):
        provenance_record.config_sha256({"x": float("nan")})


def test_pipeline_version_from_git_and_fallback(tmp_path):
    assert provenance_record.pipeline_version(tmp_path, fallback="0.1.0") == "0.1.0"
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run(git + ["add", "f"], check=True)
    subprocess.run(git + ["commit", "-qm", "c"], check=True)
    subprocess.run(git + ["tag", "v9.9"], check=True)
    assert provenance_record.pipeline_version(tmp_path, fallback="0.1.0") == "v9.9"
    (tmp_path / "f").write_text("changed")
    assert provenance_record.pipeline_version(tmp_path, fallback="0.1.0") == "v9.9-dirty"


def test_tool_versions_parse_output_and_report_missing_tools(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    tool = fake / "faketool"
    tool.write_text("#!/bin/sh\necho 'faketool 3.2.1 (build x)'\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    commands = {
        "faketool": (["faketool", "--version"], provenance_record._first_match(r"^faketool (\S+)")),
        "absent": (["no-such-tool-kgpex", "--version"], provenance_record._first_match("(.*)")),
        "odd": (["faketool"], provenance_record._first_match(r"^Version (\S+)")),
    }
    assert provenance_record.tool_versions(commands) == {
        "absent": provenance_record.NOT_FOUND,
        "faketool": "3.2.1",
        "odd": "unknown (unrecognised output)",
    }


def test_known_banners_parse():
    parse = {name: p for name, (_, p) in provenance_record.TOOL_COMMANDS.items()}
    assert parse["plink2"]("PLINK v2.00a3.5 AVX2 (9 Aug 2022)\n") == "v2.00a3.5 AVX2"
    assert parse["fastQTL"]("\x1b[33mF\x1b[0mast\n  * Version : v2.184_gtex\n") == "v2.184_gtex"
    assert parse["R"]("R version 4.2.2 Patched (2022-11-10 r83330)\n") == "4.2.2"
    assert parse["salmon"]("salmon 1.10.1\n") == "1.10.1"


def test_python_package_versions():
    versions = provenance_record.python_package_versions(["pytest", "no-such-package-kgpex"])
    assert versions == {"pytest": pytest.__version__, "no-such-package-kgpex": "not found"}


def test_record_hashes_run_tables_and_writes_sorted_json(tmp_path):
    sources = tmp_path / "run_sources.tsv"
    sources.write_text("run_accession\tsource\nSRR1\tena\n")
    table = tmp_path / "run_table.tsv"
    table.write_text("run_accession\nSRR1\n")
    record = provenance_record.provenance_record(
        version="v1-3-gabc",
        config={"cohort": "DEMO"},
        run_tables={"run_table": table, "run_sources": sources},
        files=[tmp_path / "out" / "b.txt.gz", tmp_path / "out" / "a.parquet"],
        tools={"salmon": "1.10.1", "R": "4.2.2"},
    )
    dest = tmp_path / "out" / "provenance.json"
    provenance_record.write_provenance(record, dest)
    written = json.loads(dest.read_text())
    assert written["pipeline_version"] == "v1-3-gabc"
    assert written["config_sha256"] == provenance_record.config_sha256({"cohort": "DEMO"})
    assert written["run_table"]["run_sources"]["sha256"] == hashlib.sha256(
        sources.read_bytes()).hexdigest()
    assert written["files"] == ["a.parquet", "b.txt.gz"]
    assert list(written["tools"]) == ["R", "salmon"]
    sources.write_text("run_accession\tsource\nSRR2\tena\n")
    changed = provenance_record.provenance_record(
        version="v1-3-gabc", config={"cohort": "DEMO"},
        run_tables={"run_table": table, "run_sources": sources}, files=[], tools={})
    assert changed["run_table"]["run_sources"]["sha256"] != written["run_table"]["run_sources"]["sha256"]


def test_missing_run_table_is_one_clear_error(tmp_path):
    with pytest.raises(KgpexError, match="run_sources.tsv: not found"):
        provenance_record.provenance_record(version="v", config={}, files=[], tools={},
                                     run_tables={"run_sources": tmp_path / "run_sources.tsv"})
