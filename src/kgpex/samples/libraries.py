"""Runs, libraries and individuals: which runs salmon quantifies together, and every run's status.

A *run* is one sequencing run; a *library* is one physical library, which may have been sequenced
in several runs (lanes); an *individual* may have several libraries (replicates). After a join
has given each run its individual (kgpex.samples.resolve), :func:`assign_libraries`

1. excludes the individuals outside ``samples.populations`` (a cohort's published populations:
   Montgomery 2010's 60 CEU, not the YRI individual E-MTAB-197 also holds), with the reason;
2. groups an individual's runs into libraries: runs that share a library identity (MAGE's
   sequencing ID, or the run table's ``experiment_accession`` or ``library_name``) are lanes of
   one library and are quantified together, never one lane chosen over another;
3. under ``samples.replicates: pool`` (Pickrell 2010) pools every library of an individual into
   one, named by the individual; under ``most_reads`` (MAGE's rule, the default) every library
   is quantified and select_libraries keeps the one with most reads.

Every run gets a status in run_mapping.tsv (:data:`STATUSES`); select_libraries' run_status.tsv
settles the ``replicate`` ones as ``used``/``pooled`` or ``replicate not chosen``.
"""

from __future__ import annotations

import re
from collections import defaultdict

from kgpex.common.errors import KgpexError
from kgpex.samples.metadata import CohortSamples

MOST_READS = "most_reads"
POOL = "pool"
REPLICATE_RULES = (MOST_READS, POOL)

USED = "used"  # the individual's only library, sequenced in this one run
POOLED = "pooled"  # quantified with other runs as one library (lanes, or replicates pooled)
REPLICATE = "replicate"  # one of the individual's libraries; select_libraries keeps one
NOT_CHOSEN = "replicate not chosen"  # run_status.tsv: a replicate the most-reads rule left out
EXCLUDED = "excluded"
UNMAPPED = "unmapped"  # only in unmapped_runs.tsv: a join that failed
STATUSES = (USED, POOLED, REPLICATE, EXCLUDED)
FINAL_STATUSES = (USED, POOLED, NOT_CHOSEN, EXCLUDED)

# The runs schema's pattern: a library ID names salmon's output folder.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# The run table's columns that name a run's library: lanes of one library share them.
LIBRARY_KEYS = ("experiment_accession", "library_name")


def _components(runs: list[str], keys: dict[str, list[tuple[str, str]]]) -> list[list[str]]:
    """Runs joined when they share any (key, value): union-find, in run order."""
    parent = {r: r for r in runs}

    def find(r):
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    first: dict[tuple[str, str], str] = {}
    for run in runs:
        for kv in keys.get(run, ()):
            if kv in first:
                a, b = find(first[kv]), find(run)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[kv] = run
    groups: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        groups[find(run)].append(run)
    return sorted(groups.values(), key=lambda g: g[0])


def _library_id(group: list[str], keys: dict[str, list[tuple[str, str]]]) -> tuple[str, str]:
    """A lane group's ID and why: the run for one run, else the identity all its runs share."""
    named = {v for r in group for k, v in keys.get(r, ()) if k == "named library"}
    if len(named) == 1 and _ID.match(next(iter(named))) and all(
        ("named library", next(iter(named))) in keys.get(r, ()) for r in group
    ):
        # MAGE's sequencing ID, a runs sheet's library: the name the metadata gives it.
        return next(iter(named)), f"named library {next(iter(named))}"
    if len(group) == 1:
        return group[0], ""
    shared = set(keys.get(group[0], ()))
    for run in group[1:]:
        shared &= set(keys.get(run, ()))
    for key, value in sorted(shared, key=lambda kv: (kv[0] != "named library", kv[0] != "experiment_accession", kv)):
        if _ID.match(value):
            return value, f"{key} {value}"
    label = ", ".join(sorted({f"{k} {v}" for r in group for k, v in keys.get(r, ())}))
    return f"{group[0]}_lanes", f"linked by {label}"


def assign_libraries(
    result: CohortSamples,
    run_keys: dict[str, dict[str, str]],
    replicates: str = MOST_READS,
    populations: tuple[str, ...] | list[str] = (),
) -> CohortSamples:
    """Exclude individuals outside ``populations``, group runs into libraries and give every run
    of ``result.mapping`` its status; ``result.runs`` rows gain ``library``.

    ``library_evidence`` (a column of run_mapping.tsv) says how each kept run's library was
    formed; ``evidence`` keeps how the run got its individual.
    ``run_keys``: run -> the run table's library identity fields (:data:`LIBRARY_KEYS`); a
    mapping row's own ``library`` (MAGE's sequencing ID, a runs sheet's library column) counts
    too.
    """
    if replicates not in REPLICATE_RULES:
        raise KgpexError(
            f"samples.replicates: '{replicates}' is not one of {', '.join(REPLICATE_RULES)}"
        )
    mapping = {row["run_accession"]: row for row in result.mapping}
    for row in result.mapping:
        row.setdefault("library_evidence", "")
    wanted = set(populations)
    if wanted:
        outside = sorted(
            ident for ident, row in result.individuals.items() if row["population"] not in wanted
        )
        for ident in outside:
            population = result.individuals.pop(ident)["population"]
            for row in result.runs:
                if row["individual"] == ident:
                    mapping[row["run_accession"]].update(
                        status=EXCLUDED,
                        evidence=f"population {population} is not in samples.populations "
                        f"({', '.join(sorted(wanted))}); {mapping[row['run_accession']]['evidence']}",
                    )
        result.runs = [row for row in result.runs if row["individual"] not in outside]

    keys: dict[str, list[tuple[str, str]]] = {}
    for row in result.runs:
        run = row["run_accession"]
        if mapping[run].get("library"):
            # The metadata's own library (MAGE's sequencing ID, a runs sheet's column) decides:
            # MAGE's triplicates can share a bare-ID library_name and are not lanes.
            keys[run] = [("named library", mapping[run]["library"])]
            continue
        keys[run] = [
            (key, value)
            for key in LIBRARY_KEYS
            if (value := (run_keys.get(run, {}).get(key) or "").strip())
        ]

    by_individual: dict[str, list[str]] = defaultdict(list)
    for row in result.runs:
        by_individual[row["individual"]].append(row["run_accession"])
    library_of: dict[str, str] = {}
    for individual, runs in sorted(by_individual.items()):
        groups = _components(sorted(runs), keys)
        libraries = [(_library_id(g, keys), g) for g in groups]
        if replicates == POOL and (len(groups) > 1 or len(runs) > 1):
            pooled = sorted(runs)
            names = ", ".join(lib for (lib, _), _ in libraries)
            for run in pooled:
                library_of[run] = individual
                mapping[run].update(
                    status=POOLED,
                    library=individual,
                    library_evidence=f"pooled into library {individual} with {len(pooled) - 1} "
                    f"other run(s) (samples.replicates: pool; {len(groups)} libraries: {names})",
                )
            continue
        for (library, why), group in libraries:
            for run in group:
                library_of[run] = library
                notes = []
                if len(group) > 1:
                    notes.append(
                        f"pooled into library {library} with {', '.join(r for r in group if r != run)} "
                        f"(lanes: {why})"
                    )
                if len(libraries) > 1:
                    notes.append(
                        f"one of {individual}'s {len(libraries)} libraries "
                        f"({', '.join(lib for (lib, _), _ in libraries)}): select_libraries keeps "
                        "the one with most reads"
                    )
                status = REPLICATE if len(libraries) > 1 else (POOLED if len(group) > 1 else USED)
                mapping[run].update(
                    status=status,
                    library=library,
                    library_evidence="; ".join(notes) or "its individual's only library, one run",
                )
    clash = sorted(set(library_of.values()) & (set(mapping) - set(library_of)))
    if clash:
        raise KgpexError(f"library ID {clash[0]} is also the accession of another run")
    for row in result.runs:
        row["library"] = library_of[row["run_accession"]]
    return result


def check_layouts(runs: list[dict], layouts: dict[str, str]) -> None:
    """Runs quantified together must share a layout (salmon takes mates or single reads)."""
    seen: dict[str, tuple[str, str]] = {}
    for row in sorted(runs, key=lambda r: r["run_accession"]):
        run, library = row["run_accession"], row["library"]
        layout = layouts[run]
        if library in seen and seen[library][1] != layout:
            other = seen[library][0]
            raise KgpexError(
                f"library {library}: run {other} is {seen[library][1]} but run {run} is {layout}: "
                "salmon cannot quantify them together (set the runs' library in an overrides "
                "table, or samples.replicates: most_reads)"
            )
        seen.setdefault(library, (run, layout))


def final_statuses(
    mapping: list[dict],
    chosen_libraries: set[str],
    identity: dict[str, str] | None = None,
    identity_excluded: frozenset[str] | set[str] = frozenset(),
) -> list[dict]:
    """run_status.tsv: run_mapping.tsv's rows with each ``replicate`` settled by the library
    select_libraries kept (``used``/``pooled`` when its library was kept, else ``replicate not
    chosen``), and each run's identity verdict (``identity``: run -> verdict in words; ``not
    checked`` without alignment). Runs in ``identity_excluded`` (identity.on_mismatch: exclude)
    are ``excluded`` with their verdict as the reason."""
    lanes: dict[str, int] = defaultdict(int)
    for row in mapping:
        if row["status"] in (USED, POOLED, REPLICATE):
            lanes[row["library"]] += 1
    out = []
    for row in mapping:
        status, detail = row["status"], ""
        if status not in STATUSES:
            raise KgpexError(f"run {row['run_accession']}: status '{status}' is not one of {', '.join(STATUSES)}")
        verdict = "not checked" if identity is None else identity.get(row["run_accession"], "")
        if status == EXCLUDED:
            detail = row["evidence"]
        elif row["run_accession"] in identity_excluded:
            status, detail = EXCLUDED, f"identity check: {verdict}"
        elif row["library"] not in chosen_libraries:
            if status != REPLICATE:
                raise KgpexError(
                    f"run {row['run_accession']}: its library {row['library']} is its individual's "
                    "only one but was not kept"
                )
            status, detail = NOT_CHOSEN, f"library {row['library']} has fewer reads than the one kept"
        else:
            status = POOLED if lanes[row["library"]] > 1 else USED
            detail = f"library {row['library']}"
        out.append(
            {
                "run_accession": row["run_accession"],
                "status": status,
                "individual": row["individual"],
                "library": row["library"],
                "detail": detail,
                # Runs excluded before alignment (by resolve_samples) were never checked.
                "identity": verdict or "not checked",
            }
        )
    return out


RUN_STATUS_COLUMNS = ("run_accession", "status", "individual", "library", "detail", "identity")
