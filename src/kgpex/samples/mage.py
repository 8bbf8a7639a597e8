"""Method ``mage``: ENA's run table joined to MAGE's library table.

Called by kgpex.samples.resolve (the checkpoint ``resolve_samples``); the join returns a
:class:`~kgpex.samples.metadata.CohortSamples` that lists every problem at once, so nothing is
written half right.

MAGE's library table (``updated_metadata.tsv`` in the MAGE repository) names each library by its
sequencing ID, Coriell ID and 1000 Genomes ID, but carries no SRA accessions; ENA's run table for
PRJNA851328 carries accessions and the submitters' sample fields. How those fields name the
libraries is *unverified*, so the mapping is resolved from the data and checked:

1. Every ID-like token (``HG00237``, ``GM12878``, ``NA12878``, ``HG00237-7-1``) in a run's
   ``sample_alias``, ``sample_title`` and ``library_name`` is looked up in the metadata. A
   sequencing ID with a replicate suffix names one library; a bare individual ID names the
   individual, and one of its libraries when it has only one. When an individual has several
   libraries (MAGE's triplicates) and no token names one, the run's ``read_count`` (read pairs
   for paired-end runs) must equal exactly one library's ``read_counts``.
2. Tokens naming two different individuals, or no known ID at all, leave the run unmapped.
3. An explicit overrides table (``run_accession library individual``; ``library`` a sequencing
   ID or ``exclude``) wins over everything.
4. The 2026 sample swap announced by the MAGE authors is applied (see ``MAGE_SAMPLE_SWAP``) to
   whichever state the run table shows: the original labels or the SRA relabelling, with or
   without the replacement runs, or a mislabelled run withdrawn. Each affected run's evidence
   ends ``swap state: <labels>, <replacement>`` (``_apply_sample_swap``).
5. Runs whose mapping is documented (``MAGE_KNOWN_RUNS``) must map as documented, each metadata
   library must be claimed by exactly one run, and every run must be mapped or excluded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.samples.metadata import (
    EXCLUDE,
    KGP_ID,
    KGP_TOKEN,
    SAMPLE_FIELDS,
    CohortSamples,
    Run,
    read_table,
)

MAGE_METADATA_URL = (
    "https://raw.githubusercontent.com/mccoy-lab/MAGE/f929fb5106055a124c0d18e6431829d428717452/"
    "analysis_pipeline/01_data_preparation/splicing_quantification/scripts/updated_metadata.tsv"
)

MAGE_METADATA_SHA256 = "e369888a0961f9f3581c8d64168d5f4f302893703a363b1627d4cc58d35bfe2d"

METADATA_COLUMNS = (
    "sequencing_id",
    "coriell_id",
    "kgp_id",
    "batch",
    "file_path",
    "superpop",
    "subpop",
    "sex",
    "hapmap",
    "read_counts",
)

OVERRIDE_COLUMNS = ("run_accession", "library")


@dataclass(frozen=True)
class SwapCorrection:
    """A run whose reads belong to another individual, and the run that replaces it."""

    mislabelled_run: str
    labelled_as: str
    true_individual: str
    replacement_run: str


# The MAGE authors' 2026 notice (../shared/reference/SOURCES.md): "run SRR19762530 is labelled
# HG00237 but is NA11919 (not used for QTL mapping); run SRR19762653 is labelled NA11919 but is
# HG00237 (used for mapping). Corrected replacement runs SRR37907958 (NA11919) and SRR37907959
# (HG00237) were added to PRJNA851328."
# Reading: the two libraries were swapped at labelling; the replacement runs carry the same
# libraries under their true identities. So each replacement run takes the physical library (and
# batch) of the run it replaces and the true individual, and the mislabelled run is left out
# (keeping both would count one library twice). Where a replacement run is not in the run table
# (an older ENA snapshot), the mislabelled run itself is kept under its true individual.
# Update of 2026-04-03: the two runs "were re-labeled on SRA before being replaced", so a run table
# fetched today shows SRR19762530 under NA11919 and SRR19762653 under HG00237. Relabelling changed
# the sample, not the physical library: in every state a mislabelled run (and its replacement)
# carries a library of the individual it was labelled as (``labelled_as``) in MAGE's library
# table, found by a library-naming token, that individual's only library, or the read count.
MAGE_SAMPLE_SWAP = (
    SwapCorrection("SRR19762530", "HG00237", "NA11919", "SRR37907958"),
    SwapCorrection("SRR19762653", "NA11919", "HG00237", "SRR37907959"),
)

# Runs whose individual is documented (SOURCES.md): each must map to it, or the mapping is wrong.
# SRR19762247: HG00237's library used for QTL mapping; SRR19762765: the example HG00100 FASTQ.
MAGE_KNOWN_RUNS = {"SRR19762247": "HG00237", "SRR19762765": "HG00100"}


@dataclass(frozen=True)
class Library:
    """One row of MAGE's library table."""

    sequencing_id: str
    coriell_id: str
    kgp_id: str
    batch: str
    superpop: str
    subpop: str
    sex: str
    read_pairs: int
    line: int


@dataclass
class Metadata:
    label: str  # the URL or path the table came from, for messages
    libraries: dict[str, Library]  # upper-case sequencing ID -> library
    individual_ids: dict[str, str] = field(default_factory=dict)  # kgp or Coriell ID -> kgp ID
    by_individual: dict[str, list[Library]] = field(default_factory=dict)


@dataclass
class Assignment:
    run: str
    library: Library | None
    individual: str | None
    evidence: str
    excluded: bool = False
    reported: bool = False  # unresolved, and its problem already listed on its own line


def read_metadata(path: str | Path, label: str | None = None) -> Metadata:
    """MAGE's library table, checked: unique sequencing IDs, one identity per individual."""
    label = label or str(path)
    meta = Metadata(label=label, libraries={})
    for n, row in read_table(Path(path), METADATA_COLUMNS, "MAGE library table", label):
        seq_id = row["sequencing_id"]
        if not seq_id:
            raise KgpexError(f"{label} line {n}: empty sequencing_id")
        if not KGP_ID.match(row["kgp_id"]):
            raise KgpexError(f"{label} line {n}: kgp_id '{row['kgp_id']}' is not a 1000 Genomes ID")
        if not row["read_counts"].isdigit():
            raise KgpexError(f"{label} line {n}: read_counts '{row['read_counts']}' is not a count")
        lib = Library(
            sequencing_id=seq_id,
            coriell_id=row["coriell_id"],
            kgp_id=row["kgp_id"],
            batch=row["batch"],
            superpop=row["superpop"],
            subpop=row["subpop"],
            sex=row["sex"],
            read_pairs=int(row["read_counts"]),
            line=n,
        )
        key = seq_id.upper()
        if key in meta.libraries:
            first = meta.libraries[key].line
            raise KgpexError(
                f"{label} line {n}: duplicate sequencing_id '{seq_id}' (first on line {first})"
            )
        meta.libraries[key] = lib
        for ident in (lib.kgp_id, lib.coriell_id):
            known = meta.individual_ids.setdefault(ident.upper(), lib.kgp_id)
            if known != lib.kgp_id:
                raise KgpexError(
                    f"{label} line {n}: ID '{ident}' belongs to both {known} and {lib.kgp_id}"
                )
        siblings = meta.by_individual.setdefault(lib.kgp_id, [])
        for col in ("superpop", "subpop", "sex"):
            if siblings and getattr(siblings[0], col) != getattr(lib, col):
                raise KgpexError(
                    f"{label} line {n}: {col} '{getattr(lib, col)}' of {lib.kgp_id} differs from "
                    f"line {siblings[0].line} ('{getattr(siblings[0], col)}')"
                )
        siblings.append(lib)
    return meta


@dataclass(frozen=True)
class Override:
    library: Library | None  # None: the run is not a MAGE library at all
    individual: str | None  # None: the library's own kgp_id
    exclude: bool


def read_overrides(path: str | Path, meta: Metadata) -> dict[str, Override]:
    """Explicit decisions per run, from a TSV with ``run_accession``, ``library`` and an
    optional ``individual`` column.

    ``library`` is a sequencing_id of the metadata, or ``exclude`` for a run that is no MAGE
    library. ``individual`` is the 1000 Genomes ID when it differs from the library's (a swap),
    or ``exclude`` to leave that library's run out; blank means the library's own individual.
    """
    path = Path(path)
    overrides: dict[str, Override] = {}
    for n, row in read_table(path, OVERRIDE_COLUMNS, "overrides table", str(path)):
        run, library = row["run_accession"], row["library"]
        individual = row.get("individual") or None
        if run in overrides:
            raise KgpexError(f"{path} line {n}: run {run} is overridden twice")
        if library.lower() == EXCLUDE:
            overrides[run] = Override(None, None, exclude=True)
            continue
        lib = meta.libraries.get(library.upper())
        if lib is None:
            raise KgpexError(
                f"{path} line {n}: library '{library}' is not a sequencing_id of {meta.label} "
                f"(nor '{EXCLUDE}')"
            )
        if individual is not None and individual.lower() == EXCLUDE:
            overrides[run] = Override(lib, None, exclude=True)
            continue
        if individual is not None and individual not in meta.by_individual:
            raise KgpexError(f"{path} line {n}: individual '{individual}' is not in {meta.label}")
        overrides[run] = Override(lib, individual, exclude=False)
    return overrides


def _field_tokens(run: Run) -> list[tuple[str, str]]:
    """``(field name, normalised ID)`` for every ID-like token in the sample fields."""
    found = []
    for name in SAMPLE_FIELDS:
        for m in KGP_TOKEN.finditer(run.fields.get(name, "")):
            suffix = re.sub(r"[_.]", "-", m.group(2) or "")
            found.append((name, (m.group(1) + suffix).upper()))
    return found


def _tokens(run: Run) -> list[tuple[str, str]]:
    """``(field=value evidence, normalised ID)`` for every ID-like token in the sample fields."""
    return [(f"{name}={run.fields[name]}", token) for name, token in _field_tokens(run)]


def map_run(run: Run, meta: Metadata) -> Assignment:
    """Resolve one run from its sample fields. ``library`` is None when it cannot be resolved
    (``evidence`` then says why); ``individual`` is set whenever the fields name exactly one."""
    tokens = _tokens(run)
    if not tokens:
        fields_read = ", ".join(SAMPLE_FIELDS)
        return Assignment(
            run.accession, None, None, f"no 1000 Genomes or Coriell ID in {fields_read}"
        )
    individuals: dict[str, str] = {}
    named_libraries: dict[str, str] = {}
    unknown = set()
    for evidence, token in tokens:
        lib = meta.libraries.get(token)
        kgp = meta.individual_ids.get(token) or (lib.kgp_id if lib else None)
        if kgp is None:
            unknown.add(token)
            continue
        individuals.setdefault(kgp, evidence)
        # A bare individual ID names a library only when the individual has just that one.
        bare = token in meta.individual_ids
        if lib is not None and (not bare or len(meta.by_individual[kgp]) == 1):
            named_libraries.setdefault(lib.sequencing_id, evidence)
    if not individuals:
        return Assignment(
            run.accession,
            None,
            None,
            f"ID(s) {', '.join(sorted(unknown))} not in the library table",
        )
    if len(individuals) > 1:
        named = ", ".join(f"{k} ({v})" for k, v in individuals.items())
        return Assignment(run.accession, None, None, f"names more than one individual: {named}")
    ((individual, evidence),) = individuals.items()
    if len(named_libraries) > 1:
        names = ", ".join(sorted(named_libraries))
        return Assignment(run.accession, None, individual, f"names libraries {names}")
    if named_libraries:
        ((seq_id, lib_evidence),) = named_libraries.items()
        return Assignment(run.accession, meta.libraries[seq_id.upper()], individual, lib_evidence)
    candidates = meta.by_individual[individual]
    by_count = [lib for lib in candidates if lib.read_pairs == run.read_count]
    if len(by_count) == 1:
        return Assignment(
            run.accession, by_count[0], individual, f"{evidence}; read_count={run.read_count}"
        )
    names = ", ".join(lib.sequencing_id for lib in candidates)
    count = "NA" if run.read_count is None else run.read_count
    return Assignment(
        run.accession,
        None,
        individual,
        f"{individual} has {len(candidates)} libraries ({names}) and read_count {count} matches "
        f"{'several' if by_count else 'none'}",
    )


# The labels a mislabelled run can show (``swap state: <labels>, <replacement>`` in its evidence).
ORIGINAL_LABELS, RELABELLED, WITHDRAWN = "original labels", "relabelled", "withdrawn"
UNRECOGNISED_LABELS, OVERRIDDEN = "unrecognised labels", "overridden"
SWAP_STATE = "swap state"


def _named_individuals(run: Run, meta: Metadata) -> dict[str, dict[str, str]]:
    """field name -> {individual (or an unknown token as it is): field=value evidence}."""
    named: dict[str, dict[str, str]] = {}
    for name, token in _field_tokens(run):
        lib = meta.libraries.get(token)
        kgp = meta.individual_ids.get(token) or (lib.kgp_id if lib else token)
        named.setdefault(name, {}).setdefault(kgp, f"{name}={run.fields[name]}")
    return named


def _swap_labels(run: Run, meta: Metadata, fix: SwapCorrection) -> tuple[str | None, str]:
    """How a mislabelled run is labelled: ``ORIGINAL_LABELS`` (every ID names ``labelled_as``),
    ``RELABELLED`` (sample_alias/sample_title name ``true_individual`` alone, as SRA shows it
    since 2026-04-03; library_name may still name the original library), or None (neither);
    with the first field=value naming an individual, or what the fields name."""
    named = _named_individuals(run, meta)
    sample, every = {}, {}  # individual -> the first field=value naming it
    for name in SAMPLE_FIELDS:
        for kgp, evidence in named.get(name, {}).items():
            every.setdefault(kgp, evidence)
            if name != "library_name":
                sample.setdefault(kgp, evidence)
    library = named.get("library_name", {})
    if every and set(every) <= {fix.labelled_as}:
        return ORIGINAL_LABELS, next(iter(every.values()))
    pair = {fix.labelled_as, fix.true_individual}
    if set(sample) == {fix.true_individual} and set(library) <= pair:
        return RELABELLED, sample[fix.true_individual]
    what = ", ".join(f"{k} ({v})" for k, v in sorted(every.items())) or "no 1000 Genomes ID"
    return None, what


def _library_of(run: Run, meta: Metadata, individual: str) -> tuple[Library | None, str]:
    """The library of ``individual`` that ``run`` carries: the one a token names, else the
    individual's only library, else the one whose read count equals the run's; with how it was
    found, or (library None) why not."""
    libs = meta.by_individual.get(individual, [])
    if not libs:
        return None, f"{individual} is not in {meta.label}"
    named: dict[str, str] = {}
    for evidence, token in _tokens(run):
        lib = meta.libraries.get(token)
        bare = token in meta.individual_ids
        if lib is not None and lib.kgp_id == individual and (not bare or len(libs) == 1):
            named.setdefault(lib.sequencing_id, evidence)
    if len(named) == 1:
        ((seq_id, evidence),) = named.items()
        return meta.libraries[seq_id.upper()], f"{individual}'s library {seq_id} ({evidence})"
    if len(named) > 1:
        return None, f"names libraries {', '.join(sorted(named))} of {individual}"
    if len(libs) == 1:
        return libs[0], f"{individual}'s only library {libs[0].sequencing_id}"
    by_count = [lib for lib in libs if lib.read_pairs == run.read_count]
    if len(by_count) == 1:
        return by_count[0], (
            f"{individual}'s library {by_count[0].sequencing_id} (read_count={run.read_count})"
        )
    names = ", ".join(lib.sequencing_id for lib in libs)
    count = "NA" if run.read_count is None else run.read_count
    return None, (
        f"{individual} has {len(libs)} libraries ({names}) and read_count {count} matches "
        f"{'several' if by_count else 'none'}"
    )


def _apply_sample_swap(
    assign: dict[str, Assignment],
    runs: dict[str, Run],
    meta: Metadata,
    overridden: set[str],
    problems: list[str],
) -> None:
    """The MAGE authors' 2026 swap (MAGE_SAMPLE_SWAP) in whichever state the run table shows.

    Per swapped pair: the mislabelled run's labels are the original ones, SRA's relabelling, or
    neither (one problem line: decide with an overrides table); it may be absent (withdrawn).
    Both it and its replacement carry a library of ``labelled_as`` (``_library_of``) and are
    ``true_individual``. With the replacement present the mislabelled run is excluded (one
    physical library is counted once); without it, the mislabelled run is kept. Every run of the
    pair gets ``swap state: <labels>, <replacement>`` in its evidence; runs the overrides table
    names are left to it.
    """
    for fix in MAGE_SAMPLE_SWAP:
        old_acc, new_acc = fix.mislabelled_run, fix.replacement_run
        # The replacement: usable unless overridden or labelled as someone else.
        replacement = "no replacement"
        if new_acc in runs:
            replacement = "replacement present"
            named = assign[new_acc].individual
            if new_acc in overridden:
                replacement = "replacement overridden"
            elif named not in (None, fix.true_individual):
                replacement = "replacement contradicts the notice"
                message = (
                    f"{new_acc} names {named}, but the 2026 swap notice says it is "
                    f"{fix.true_individual}: decide with an overrides table"
                )
                problems.append(message)
                assign[new_acc] = Assignment(new_acc, None, None, message, reported=True)
        # The mislabelled run.
        old_library = None
        if old_acc not in runs:
            labels = WITHDRAWN
        elif old_acc in overridden:
            labels = OVERRIDDEN
        else:
            labels, label_evidence = _swap_labels(runs[old_acc], meta, fix)
            if labels is None:
                labels = UNRECOGNISED_LABELS
                message = (
                    f"{old_acc} names {label_evidence}, but the 2026 swap notice says it is "
                    f"labelled {fix.labelled_as} (or, relabelled on SRA, {fix.true_individual}): "
                    "decide with an overrides table"
                )
                problems.append(message)
                evidence = f"{message}; {SWAP_STATE}: {labels}, {replacement}"
                assign[old_acc] = Assignment(old_acc, None, None, evidence, reported=True)
            else:
                state = f"{SWAP_STATE}: {labels}, {replacement}"
                old_library, how = _library_of(runs[old_acc], meta, fix.labelled_as)
                if replacement == "replacement present":
                    assign[old_acc] = Assignment(
                        old_acc,
                        old_library,
                        fix.true_individual,
                        f"superseded by {new_acc} (2026 MAGE sample swap); {state}",
                        excluded=True,
                    )
                elif old_library is None:
                    assign[old_acc] = Assignment(
                        old_acc, None, fix.true_individual, f"{label_evidence}; {how}; {state}"
                    )
                else:
                    assign[old_acc] = Assignment(
                        old_acc,
                        old_library,
                        fix.true_individual,
                        f"{label_evidence}; {how}; is {fix.true_individual} (2026 MAGE sample "
                        f"swap); {state}",
                    )
        if replacement != "replacement present":
            continue
        # Same physical library as the run it replaces; its own fields where that is unknown.
        if old_library is not None:
            library, how = old_library, f"library {old_library.sequencing_id} of {old_acc}"
        else:
            library, how = _library_of(runs[new_acc], meta, fix.labelled_as)
        assign[new_acc] = Assignment(
            new_acc,
            library,
            fix.true_individual,
            f"replaces {old_acc} (labelled {fix.labelled_as}, is {fix.true_individual}: 2026 MAGE "
            f"sample swap); {how}; {SWAP_STATE}: {labels}, {replacement}",
        )


def _account_for_withdrawn(assign: dict[str, Assignment], meta: Metadata) -> set[str]:
    """A swapped pair with neither run usable in the table (the mislabelled run withdrawn or its
    labels unrecognised, the replacement absent or unresolved) leaves the physical library without
    a run: when exactly one library of ``labelled_as`` has no run, it is that one. A withdrawn run
    gets a row (excluded) saying so; the library is returned, not to be listed as without a run."""
    claimed = {a.library.sequencing_id for a in assign.values() if a.library is not None}
    waived = set()
    for fix in MAGE_SAMPLE_SWAP:
        old, new = assign.get(fix.mislabelled_run), assign.get(fix.replacement_run)
        if (old is not None and not old.reported) or (new is not None and new.library is not None):
            continue
        free = [
            lib
            for lib in meta.by_individual.get(fix.labelled_as, [])
            if lib.sequencing_id not in claimed
        ]
        if len(free) != 1:
            continue
        (library,) = free
        waived.add(library.sequencing_id)
        if old is None:
            replacement = "no replacement" if new is None else "replacement unresolved"
            assign[fix.mislabelled_run] = Assignment(
                fix.mislabelled_run,
                library,
                fix.true_individual,
                f"not in the run table (withdrawn, 2026 MAGE sample swap): {library.sequencing_id} "
                f"is the one library of {fix.labelled_as} without a run; "
                f"{SWAP_STATE}: {WITHDRAWN}, {replacement}",
                excluded=True,
            )
    return waived


def resolve_runs(
    meta: Metadata, runs: dict[str, Run], overrides: dict[str, Override] | None = None
) -> tuple[list[Assignment], list[str]]:
    """Every run's assignment, and every problem found (empty when the sheets can be written).
    A swapped run withdrawn from the run table may have a row too (``_account_for_withdrawn``)."""
    overrides = overrides or {}
    problems: list[str] = []
    stray = sorted(set(overrides) - set(runs))
    if stray:
        problems.append(f"the overrides table names runs not in the run table: {', '.join(stray)}")
    assign = {acc: map_run(run, meta) for acc, run in runs.items()}
    _apply_sample_swap(assign, runs, meta, set(overrides), problems)
    for acc, ov in overrides.items():
        if acc in assign:
            individual = None if ov.exclude else (ov.individual or ov.library.kgp_id)
            assign[acc] = Assignment(
                acc, ov.library, individual, "overrides table", excluded=ov.exclude
            )
    waived = _account_for_withdrawn(assign, meta)

    unmapped = sorted(
        (a for a in assign.values() if a.library is None and not a.excluded and not a.reported),
        key=lambda a: a.run,
    )
    if unmapped:
        listed = ", ".join(f"{a.run} ({a.evidence})" for a in unmapped)
        problems.append(
            f"{len(unmapped)} of {len(runs)} runs could not be mapped to a MAGE library: {listed}"
        )
    for run, expected in MAGE_KNOWN_RUNS.items():
        a = assign.get(run)
        if a is not None and run not in overrides and a.individual not in (None, expected):
            problems.append(f"{run} maps to {a.individual}, but MAGE documents it as {expected}")
    claims: dict[str, list[str]] = {}
    for a in assign.values():
        if a.library is not None:
            claims.setdefault(a.library.sequencing_id, []).append(a.run)
    for seq_id, claimants in sorted(claims.items()):
        kept = sorted(r for r in claimants if not assign[r].excluded)
        if len(kept) > 1:
            problems.append(f"library {seq_id} is claimed by runs {', '.join(kept)}")
    unclaimed = sorted(
        lib.sequencing_id
        for lib in meta.libraries.values()
        if lib.sequencing_id not in claims and lib.sequencing_id not in waived
    )
    if unclaimed:
        problems.append(
            f"{len(unclaimed)} libraries of {meta.label} have no run: {', '.join(unclaimed)}"
        )
    return sorted(assign.values(), key=lambda a: a.run), problems


def _count(value) -> str:
    return "" if value is None else str(value)


def mage_samples(
    meta: Metadata, runs: dict[str, Run], overrides: dict[str, Override] | None, label: str
) -> CohortSamples:
    """MAGE's runs joined to its library table (``resolve_runs``), as resolved sheets."""
    assignments, problems = resolve_runs(meta, runs, overrides)
    result = CohortSamples(label, problems=problems)
    for a in assignments:
        status = "excluded" if a.excluded else ("mapped" if a.library else "unmapped")
        result.mapping.append(
            {
                "run_accession": a.run,
                "status": status,
                "individual": a.individual or "",
                "library": a.library.sequencing_id if a.library else "",
                "read_count": _count(runs[a.run].read_count) if a.run in runs else "",
                "evidence": a.evidence,
            }
        )
    if problems:
        return result
    for a in assignments:
        if a.excluded:
            continue
        result.runs.append(
            {"run_accession": a.run, "individual": a.individual, "batch": a.library.batch}
        )
        first = meta.by_individual[a.individual][0]
        result.individuals[a.individual] = {
            "individual": a.individual,
            "population": first.subpop,
            "continental_group": first.superpop,
            "sex": first.sex,
        }
    return result
