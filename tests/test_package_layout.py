"""The package mirrors the rule files: each workflow/rules/<stage>.smk has src/kgpex/<stage>/, and
imports run only down the stage order (docs/architecture.md, "Layout"): a stage imports
kgpex.common and earlier stages, never a later one, so the import graph has no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src/kgpex"
# The include order of the Snakefile, with the plumbing first; paths.smk holds names, no logic.
ORDER = ["common", "samples", "preflight", "download", "reference", "quantify", "alignment", "identity", "splicing", "expression",
         "matrix_input", "genotypes", "covariates", "eqtl", "fastqtl", "sqtl", "effect_sizes", "qc", "report",
         "provenance", "demo"]


def stage_imports(path: Path) -> set[str]:
    """The kgpex stages a module imports, at module level or inside functions."""
    stages = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "kgpex" and len(parts) > 1 and parts[1] in ORDER:
                stages.add(parts[1])
    return stages


def backward_imports(package: Path, order: list[str]) -> list[str]:
    found = []
    for path in sorted(package.glob("*/*.py")):
        stage = path.parent.name
        for imported in stage_imports(path):
            if order.index(imported) > order.index(stage):
                found.append(f"{path.relative_to(package.parent)} imports the later stage {imported}")
    return found


def test_every_rule_file_has_its_stage_package():
    rule_files = {p.stem for p in (ROOT / "workflow/rules").glob("*.smk")} - {"paths"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert rule_files == packages
    assert sorted(packages) == sorted(ORDER)
    for name in packages:
        assert (PACKAGE / name / "__init__.py").read_text().startswith('"""'), name


def test_imports_run_down_the_stage_order():
    assert backward_imports(PACKAGE, ORDER) == []


def test_a_backward_import_is_found(tmp_path):
    for stage, body in (("common", "from kgpex.eqtl.tables import CIS_COLUMNS\n"),
                        ("eqtl", "from kgpex.common import io\n")):
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "mod.py").write_text(body)
    assert backward_imports(tmp_path, ["common", "eqtl"]) == [
        f"{tmp_path.name}/common/mod.py imports the later stage eqtl"
    ]
