"""kgpex.common.io: atomic writes."""

import gzip
import os

import pandas as pd
import pytest

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path, open_text, sha256_of, write_table


def test_failed_write_leaves_nothing(tmp_path):
    dest = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        dest = tmp_path / "t.tsv.gz"
        write_table(pd.DataFrame({"a": [1]}), dest, index=False)
    finally:
        os.umask(old)
    assert dest.stat().st_mode & 0o777 == 0o644
    assert pd.read_csv(dest, sep="\t")["a"].tolist() == [1]


def test_gzip_tables_are_the_same_bytes_every_run(tmp_path, monkeypatch):
    # gzip headers carry a name and a time unless told not to: two runs must not differ there.
    import time

    df = pd.DataFrame({"gene": ["g1", "g2"], "x": [0.5, 1.25]})
    first = tmp_path / "a" / "t.tsv.gz"
    second = tmp_path / "b" / "t.tsv.gz"
    write_table(df, first, index=False)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    write_table(df, second, index=False)
    assert first.read_bytes() == second.read_bytes()
    header = first.read_bytes()[:10]
    assert header[3] & 0x08 == 0, "gzip header names a file"
    assert header[4:8] == b"\0\0\0\0", "gzip header carries a time"
    assert pd.read_csv(first, sep="\t").equals(df)


def test_open_text_goes_by_content_not_name(tmp_path):
    import gzip
    import hashlib
    import zipfile

    text = "a\tb\r\nc\td\n"
    gz_named_txt = tmp_path / "gz.txt"
    gz_named_txt.write_bytes(gzip.compress(text.encode()))
    plain_named_gz = tmp_path / "plain.tsv.gz"
    plain_named_gz.write_text(text, newline="")
    for path in (gz_named_txt, plain_named_gz):
        with open_text(path) as fh:
            assert fh.read() == "a\tb\nc\td\n"  # line endings translated
        with open_text(path, newline="") as fh:
            assert fh.read() == text  # kept, as the matrix reader asks
    zipped = tmp_path / "matrix.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("matrix.tsv", text)
    with pytest.raises(KgpexError, match=r"matrix.zip: a zip archive, not a TSV matrix \("):
        open_text(zipped, what="TSV matrix")
    assert sha256_of(zipped) == hashlib.sha256(zipped.read_bytes()).hexdigest()
    with pytest.raises(KgpexError, match=r"gone.tsv: not found"):
        sha256_of(tmp_path / "gone.tsv")


def test_read_text_tsv_keeps_text_and_names_an_unreadable_file(tmp_path):
    from kgpex.common.io import read_text_tsv

    table = tmp_path / "t.tsv.gz"
    with gzip.open(table, "wt") as fh:
        fh.write("id\tvalue\nA\t007\nB\t\n")
    df = read_text_tsv(table, "test table")
    assert df.to_dict("records") == [{"id": "A", "value": "007"}, {"id": "B", "value": ""}]
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(KgpexError, match=r"empty\.tsv: cannot read the test table"):
        read_text_tsv(empty, "test table")
