"""Each rule file reads only names defined by itself or by a file the Snakefile includes before it.

Snakemake runs every included file in one namespace, so a name used inside a lambda or an input
function resolves even when a later file defines it; such a forward reference works until the
include order changes, and hides where a name comes from. Each rule file is translated to Python
with Snakemake's own parser (the code a run executes), and `symtable` gives the module-level names
it defines and the global names it reads, at module level and inside lambdas, functions and
comprehensions.
"""

from __future__ import annotations

import builtins
import re
import symtable
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"""^include:\s*["']([^"']+)["']""", re.MULTILINE)
# Names that Snakemake puts in the namespace of every rule file (snakemake.workflow.Workflow and
# its WorkflowModifier), besides the module globals of snakemake.workflow.
SNAKEMAKE_NAMES = {
    "workflow", "rules", "checkpoints", "config", "scatter", "gather", "storage", "shell",
    "github", "gitlab", "gitfile", "from_queue", "access", "onstart", "onsuccess", "onerror",
    "pep", "snakemake", "expand", "temp", "directory", "ancient", "multiext", "report",
    "unpack", "glob_wildcards", "protected", "touch", "pipe", "service", "ensure", "local",
    "update", "before_update", "flag", "lookup", "evaluate", "branch", "collect", "exists",
}  # fmt: skip


def _provided_names() -> set[str]:
    import snakemake.api  # noqa: F401  (snakemake.workflow must be imported after the api)
    import snakemake.ioflags
    import snakemake.ioutils
    import snakemake.workflow

    names = set(dir(builtins)) | SNAKEMAKE_NAMES | set(vars(snakemake.workflow))
    registered: dict = {}
    snakemake.ioutils.register_in_globals(registered)
    snakemake.ioflags.register_in_globals(registered)
    return names | set(registered)


def _python(path: Path) -> str:
    """The rule file as the Python code Snakemake runs."""
    from snakemake.parser import parse
    from snakemake.sourcecache import LocalSourceFile

    opener = SimpleNamespace(
        open=lambda source: open(source.get_path_or_uri(secret_free=True), encoding="utf-8")
    )
    code, _ = parse(LocalSourceFile(str(path)), SimpleNamespace(sourcecache=opener), {})
    return code


def _defined_and_used(path: Path) -> tuple[set[str], set[str]]:
    """Module-level names the file binds, and global names it reads anywhere."""
    table = symtable.symtable(_python(path), str(path), "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    used = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    nested = list(table.get_children())
    while nested:
        scope = nested.pop()
        nested.extend(scope.get_children())
        used |= {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
    return defined, used - defined


def included_files(snakefile: Path) -> list[Path]:
    """The Snakefile's `include:` files, in order (paths relative to the Snakefile)."""
    return [snakefile.parent / name for name in INCLUDE.findall(snakefile.read_text())]


def forward_references(snakefile: Path) -> list[tuple[str, str, str]]:
    """(file, name, later file) for each name a file reads that only a later file defines."""
    scanned = [(path, *_defined_and_used(path)) for path in included_files(snakefile)]
    every_defined = set().union(*(defined for _, defined, _ in scanned))
    # A name a rule file defines is checked by position even where Snakemake provides one too.
    provided = _provided_names() - every_defined
    findings = []
    for i, (path, _, used) in enumerate(scanned):
        earlier = set().union(*(defined for _, defined, _ in scanned[:i]))
        for name in sorted(used - earlier - provided):
            later = next((p for p, defined, _ in scanned[i + 1 :] if name in defined), None)
            if later is not None:
                findings.append((_relative(path, snakefile), name, _relative(later, snakefile)))
    return findings


def _relative(path: Path, snakefile: Path) -> str:
    return str(path.relative_to(snakefile.parent))


def test_no_rule_file_reads_a_name_defined_by_a_later_file():
    files = included_files(ROOT / "Snakefile")
    assert len(files) > 5 and all(path.is_file() for path in files), files
    findings = forward_references(ROOT / "Snakefile")
    assert not findings, "forward references (file: name, defined later in):\n" + "\n".join(
        f"{path}: {name} (defined in {later})" for path, name, later in findings
    )


def _write_workflow(tmp_path: Path, first: str, second: str) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules/first.smk").write_text(first)
    (tmp_path / "rules/second.smk").write_text(second)
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text('include: "rules/first.smk"\ninclude: "rules/second.smk"\n')
    return snakefile


USES_LATER = """\
EARLY = "results"


rule early:
    input:
        lambda wildcards: LATER_PATH,
    output:
        f"{EARLY}/early.txt",
    params:
        later=lambda wildcards: [name for name in LATER_NAMES],
    shell:
        "touch {output}"
"""
DEFINES_LATER = """\
LATER_PATH = f"{EARLY}/later.txt"
LATER_NAMES = [expand("{x}", x=1)]


rule later:
    output:
        LATER_PATH,
    shell:
        "touch {output}"
"""


def test_a_name_defined_by_a_later_file_is_flagged(tmp_path):
    snakefile = _write_workflow(tmp_path, USES_LATER, DEFINES_LATER)
    assert forward_references(snakefile) == [
        ("rules/first.smk", "LATER_NAMES", "rules/second.smk"),
        ("rules/first.smk", "LATER_PATH", "rules/second.smk"),
    ]


def test_names_defined_earlier_or_by_snakemake_are_not_flagged(tmp_path):
    first = 'EARLY = "results"\nLATER_PATH = f"{EARLY}/later.txt"\nLATER_NAMES = ["a"]\n'
    snakefile = _write_workflow(tmp_path, first, USES_LATER.replace('EARLY = "results"\n', ""))
    assert forward_references(snakefile) == []
