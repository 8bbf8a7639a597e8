"""Methods sdrf and ena: runs labelled with 1000 Genomes IDs (ArrayExpress SDRF, ENA sample fields)
joined to the 1000 Genomes panel for population and sex.

Each run names one 1000 Genomes ID (in an SDRF column, or in ENA's sample fields), settled where
it does not by an overrides table (``run_accession individual``); population and sex come from
the SDRF where it has them, else from the 1000 Genomes sample panel, which every individual must
be in.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.samples.metadata import (
    EXCLUDE,
    KGP_ID,
    SAMPLE_FIELDS,
    CohortSamples,
    kgp_ids,
    read_table,
)

# Header names (lower case, punctuation dropped) of IGSR's panel files: the 3,202-sample PED
# (FamilyID SampleID FatherID MotherID Sex Population Superpopulation) and the phase 3 .panel
# (sample pop super_pop gender).
_PANEL_COLUMNS = {
    "individual": ("sampleid", "sample"),
    "population": ("population", "pop"),
    "continental_group": ("superpopulation", "superpop"),
    "sex": ("sex", "gender"),
}

_SEX = {"1": "male", "2": "female", "male": "male", "female": "female", "m": "male", "f": "female"}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_panel(path: str | Path, label: str | None = None) -> dict[str, dict]:
    """The 1000 Genomes panel (whitespace-separated, with a header): ID -> individuals-sheet row."""
    label = label or str(path)
    with open(path) as fh:
        lines = [(n, line.split()) for n, line in enumerate(fh, start=1) if line.strip()]
    if not lines:
        raise KgpexError(f"{label}: sample panel is empty")
    header = [_norm(h) for h in lines[0][1]]
    where = {}
    for key, names in _PANEL_COLUMNS.items():
        found = [header.index(n) for n in names if n in header]
        if not found:
            raise KgpexError(
                f"{label} line 1: sample panel lacks a column for {key} (one of {', '.join(names)})"
            )
        where[key] = found[0]
    panel: dict[str, dict] = {}
    for n, values in lines[1:]:
        if len(values) <= max(where.values()):
            raise KgpexError(f"{label} line {n}: too few columns")
        row = {key: values[i] for key, i in where.items()}
        sex = _SEX.get(row["sex"].lower())
        if sex is None:
            raise KgpexError(f"{label} line {n}: sex '{row['sex']}' is not 1/2/male/female")
        row["sex"] = sex
        panel[row["individual"]] = row
    return panel


def read_individual_overrides(path: str | Path) -> dict[str, str | None]:
    """``run_accession individual`` (a 1000 Genomes ID, or ``exclude``): run -> ID or None."""
    path = Path(path)
    overrides: dict[str, str | None] = {}
    for n, row in read_table(path, ("run_accession", "individual"), "overrides table", str(path)):
        run, individual = row["run_accession"], row["individual"]
        if run in overrides:
            raise KgpexError(f"{path} line {n}: run {run} is overridden twice")
        if individual.lower() == EXCLUDE:
            overrides[run] = None
        elif KGP_ID.match(individual):
            overrides[run] = individual
        else:
            raise KgpexError(
                f"{path} line {n}: individual '{individual}' is not a 1000 Genomes ID (nor '{EXCLUDE}')"
            )
    return overrides


@dataclass(frozen=True)
class LabelledRun:
    """A run, the individual its metadata names (None: none or several), and what it says."""

    run: str
    individual: str | None
    evidence: str
    batch: str
    population: str = ""  # from the metadata, when it has them
    sex: str = ""
    read_count: str = ""


def join_individuals(
    labelled: list[LabelledRun],
    panel: dict[str, dict],
    overrides: dict[str, str | None],
    label: str,
    panel_label: str,
) -> CohortSamples:
    """Runs to individuals (overrides win), with population and sex from the metadata where it
    has them, else from the panel; every individual must be in the panel (the genotypes)."""
    result = CohortSamples(label)
    known = {lab.run for lab in labelled}
    stray = sorted(set(overrides) - known)
    if stray:
        result.problems.append(f"the overrides table names runs not in {label}: {', '.join(stray)}")
    unmapped, outside, conflicts = [], [], []
    for lab in sorted(labelled, key=lambda x: x.run):
        individual, evidence, status = lab.individual, lab.evidence, "mapped"
        if lab.run in overrides:
            individual, evidence = overrides[lab.run], "overrides table"
            status = "mapped" if individual else "excluded"
        elif individual is None:
            status = "unmapped"
            unmapped.append(f"{lab.run} ({evidence})")
        if status == "mapped":
            ref = panel.get(individual)
            if ref is None:
                outside.append(f"{lab.run} ({individual})")
            else:
                row = dict(ref)
                for key in ("population", "sex"):
                    given = getattr(lab, key) if lab.run not in overrides else ""
                    if given and given != ref[key]:
                        conflicts.append(f"{lab.run}: {individual} {key} '{given}' vs '{ref[key]}'")
                row["individual"] = individual
                result.individuals[individual] = row
                result.runs.append(
                    {"run_accession": lab.run, "individual": individual, "batch": lab.batch}
                )
        result.mapping.append(
            {
                "run_accession": lab.run,
                "status": status,
                "individual": individual or "",
                "library": "",
                "read_count": lab.read_count,
                "evidence": evidence,
            }
        )
    if unmapped:
        result.problems.append(
            f"{len(unmapped)} of {len(labelled)} runs name no single 1000 Genomes individual: "
            + ", ".join(unmapped)
        )
    if outside:
        result.problems.append(
            f"{len(outside)} runs belong to individuals not in {panel_label}: " + ", ".join(outside)
        )
    if conflicts:
        result.problems.append(
            f"the metadata contradicts {panel_label}: " + "; ".join(conflicts)
        )
    return result


SDRF_RUN = "commentenarun"

SDRF_POPULATION = ("characteristicspopulation", "factorvaluepopulation")

SDRF_SEX = ("characteristicssex", "factorvaluesex")


def read_sdrf(
    path: str | Path,
    individual_column: str,
    batch_column: str,
    default_batch: str,
    label: str | None = None,
) -> list[LabelledRun]:
    """ArrayExpress/BioStudies SDRF rows (one per file: mates of a run share a row's run) as
    labelled runs. Headers match with or without brackets and spaces (``Comment[ENA_RUN]`` or
    R's ``Comment.ENA_RUN.``)."""
    label = label or str(path)
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if any(v.strip() for v in r)]
    if len(rows) < 2:
        raise KgpexError(f"{label}: SDRF has no rows")
    header = [_norm(h) for h in rows[0]]

    def column(names, what, required):
        for name in names:
            if _norm(name) in header:
                return header.index(_norm(name))
        if required:
            raise KgpexError(f"{label} line 1: SDRF lacks column {what}")
        return None

    run_col = column([SDRF_RUN], "Comment[ENA_RUN]", True)
    ind_col = column([individual_column], individual_column, True)
    batch_col = column([batch_column], batch_column, True) if batch_column else None
    pop_col = column(SDRF_POPULATION, "", False)
    sex_col = column(SDRF_SEX, "", False)
    by_run: dict[str, tuple[int, LabelledRun]] = {}
    for n, values in enumerate(rows[1:], start=2):
        if len(values) != len(header):
            raise KgpexError(f"{label} line {n}: {len(values)} columns, header has {len(header)}")
        run = values[run_col].strip()
        if not run:
            raise KgpexError(f"{label} line {n}: empty Comment[ENA_RUN]")
        cell = values[ind_col].strip()
        ids = kgp_ids(cell)
        individual = next(iter(ids)) if len(ids) == 1 else None
        evidence = (
            f"{individual_column}={cell}"
            if individual
            else f"{individual_column} '{cell}' names {len(ids) or 'no'} 1000 Genomes IDs"
        )
        population = values[pop_col].strip() if pop_col is not None else ""
        sex = _SEX.get(values[sex_col].strip().lower(), "") if sex_col is not None else ""
        batch = values[batch_col].strip() if batch_col is not None else default_batch
        if not batch:
            raise KgpexError(f"{label} line {n}: empty {batch_column}")
        lab = LabelledRun(run, individual, evidence, batch, population, sex)
        if run in by_run and by_run[run][1] != lab:
            raise KgpexError(
                f"{label} line {n}: run {run} is described differently on line {by_run[run][0]}"
            )
        by_run.setdefault(run, (n, lab))
    return [lab for _, lab in by_run.values()]


def label_ena_runs(
    table: dict, batch_column: str, default_batch: str, label: str
) -> list[LabelledRun]:
    """ENA filereport rows (kgpex.samples.runtable.read_run_table) labelled by the 1000 Genomes IDs in
    their sample fields."""
    labelled = []
    for run, entry in table.items():
        row = entry.row
        if batch_column and batch_column not in row:
            raise KgpexError(f"{label} line 1: run table lacks column {batch_column}")
        named: dict[str, str] = {}
        for name in SAMPLE_FIELDS:
            for ident in sorted(kgp_ids(row.get(name, ""))):
                named.setdefault(ident, f"{name}={row[name]}")
        if len(named) == 1:
            ((individual, evidence),) = named.items()
        else:
            individual = None
            evidence = (
                f"names {', '.join(sorted(named))}"
                if named
                else f"no 1000 Genomes ID in {', '.join(SAMPLE_FIELDS)}"
            )
        batch = row[batch_column].strip() if batch_column else default_batch
        if not batch:
            raise KgpexError(f"{label} line {entry.line}: empty {batch_column}")
        labelled.append(
            LabelledRun(
                run, individual, evidence, batch, read_count=(row.get("read_count") or "").strip()
            )
        )
    return labelled
