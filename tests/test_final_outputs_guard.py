"""The final-outputs guard (kgpex.provenance.completeness), which provenance.smk's onsuccess
hook runs: missing, empty and incomplete-marked targets become one line."""

from __future__ import annotations

import pytest

from kgpex.common.errors import KgpexError
from kgpex.provenance.completeness import (
    SHOWN,
    check_final_outputs,
    unfinished_message,
    unfinished_outputs,
)


def test_whole_outputs_pass(tmp_path):
    paths = []
    for name in ("a.tsv", "b.txt.gz"):
        (tmp_path / name).write_text("header\n")
        paths.append(str(tmp_path / name))
    assert unfinished_outputs(paths) == []
    check_final_outputs(paths)


def test_missing_empty_and_incomplete_are_named(tmp_path):
    whole, empty, marked = (tmp_path / n for n in ("whole.tsv", "empty.tsv", "marked.tsv"))
    whole.write_text("x\n")
    empty.write_text("")
    marked.write_text("half")
    missing = tmp_path / "missing.tsv"
    paths = [str(p) for p in (whole, empty, marked, missing)]
    found = unfinished_outputs(paths, marked_incomplete=lambda ps: {str(marked)} & set(ps))
    assert found == [(str(empty), "empty"), (str(marked), "incomplete"), (str(missing), "missing")]
    with pytest.raises(KgpexError) as err:
        check_final_outputs(paths, marked_incomplete=lambda ps: {str(marked)})
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("the run ended with 3 of the 4 final outputs of rule all not written: ")
    assert f"{missing} (missing)" in line and f"{empty} (empty)" in line
    assert line.endswith("rerun the same command")


def test_a_long_list_is_cut_with_a_count():
    unfinished = [(f"results/t{i}.tsv", "missing") for i in range(SHOWN + 5)]
    line = unfinished_message(unfinished, 40)
    assert f"results/t{SHOWN - 1}.tsv (missing)" in line
    assert f"results/t{SHOWN}.tsv" not in line
    assert " and 5 more; " in line
    assert "of the 40 final outputs" in line


def test_duplicate_targets_count_once(tmp_path):
    path = str(tmp_path / "gone.tsv")
    with pytest.raises(KgpexError, match="with 1 of the 1 final outputs"):
        check_final_outputs([path, path])
