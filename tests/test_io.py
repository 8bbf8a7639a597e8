"""kgpex.io: atomic writes."""

import os

import pandas as pd
import pytest

from kgpex.io import atomic_path, write_table


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
