"""Who is in the demo cohort: individuals, populations, sexes, runs and batches.

The individuals and runs sheets are committed (resources/demo/) and are exactly what
`make_sheets` writes from the seed. Individual IDs look like 1000 Genomes IDs (each population
draws from the ID range it has in 1KGP) but are synthetic; run accessions (SRR9xxxxxxx) are
clearly not MAGE's (SRR197xxxxx).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgpex.common.errors import KgpexError
from kgpex.common.io import atomic_path
from kgpex.demo.spec import DemoSpec, rng_for

GROUPS = ("AFR", "AMR", "EAS", "EUR", "SAS")

# 1000 Genomes population -> (continental group, ID prefix, low, high of its ID range in 1KGP,
# libraries of that population in MAGE, used as sampling weights).
POPULATIONS: dict[str, tuple[str, str, int, int, int]] = {
    "ACB": ("AFR", "HG", 1879, 2583, 28),
    "ASW": ("AFR", "NA", 19625, 20414, 28),
    "ESN": ("AFR", "HG", 2922, 3521, 28),
    "GWD": ("AFR", "HG", 2461, 3055, 28),
    "LWK": ("AFR", "NA", 19017, 19474, 28),
    "MSL": ("AFR", "HG", 3052, 3583, 28),
    "YRI": ("AFR", "NA", 18486, 19257, 40),
    "CLM": ("AMR", "HG", 1112, 1565, 28),
    "MXL": ("AMR", "NA", 19648, 19794, 29),
    "PEL": ("AMR", "HG", 1565, 2348, 28),
    "PUR": ("AMR", "HG", 551, 1414, 28),
    "CDX": ("EAS", "HG", 864, 2410, 29),
    "CHB": ("EAS", "NA", 18525, 18749, 28),
    "CHS": ("EAS", "HG", 403, 759, 28),
    "JPT": ("EAS", "NA", 18939, 19095, 28),
    "KHV": ("EAS", "HG", 1595, 2141, 28),
    "CEU": ("EUR", "NA", 6984, 12890, 30),
    "FIN": ("EUR", "HG", 171, 383, 40),
    "GBR": ("EUR", "HG", 96, 265, 40),
    "IBS": ("EUR", "HG", 1500, 2239, 28),
    "TSI": ("EUR", "NA", 20502, 20832, 40),
    "BEB": ("SAS", "HG", 3006, 4237, 28),
    "GIH": ("SAS", "NA", 20845, 21144, 27),
    "ITU": ("SAS", "HG", 3713, 4238, 28),
    "PJL": ("SAS", "HG", 2490, 3238, 28),
    "STU": ("SAS", "HG", 3672, 4239, 28),
}

INDIVIDUAL_COLUMNS = ("individual", "population", "continental_group", "sex")
RUN_COLUMNS = ("run_accession", "individual", "batch")
FIRST_RUN_NUMBER = 90_000_001


@dataclass(frozen=True)
class Person:
    individual: str
    population: str
    continental_group: str
    sex: str


def draw_people(rng: np.random.Generator, n: int, taken: set[str]) -> list[Person]:
    """``n`` new people with IDs from their population's range, none of them in ``taken``."""
    codes = sorted(POPULATIONS)
    weights = np.array([POPULATIONS[c][4] for c in codes], dtype=float)
    people = []
    taken = set(taken)
    while len(people) < n:
        pop = codes[rng.choice(len(codes), p=weights / weights.sum())]
        group, prefix, low, high, _ = POPULATIONS[pop]
        individual = f"{prefix}{int(rng.integers(low, high + 1)):05d}"
        if individual in taken:
            continue
        taken.add(individual)
        sex = "female" if rng.random() < 0.5 else "male"
        people.append(Person(individual, pop, group, sex))
    return people


def make_sheets(seed: int, spec: DemoSpec = DemoSpec()) -> tuple[list[dict], list[dict]]:
    """The individuals and runs sheets (lists of row dicts, sorted by ID) for ``seed``.

    Every individual has one run; ``spec.n_triplicates`` of them have two more, both in one other
    batch, as MAGE sequenced its triplicates. Batches are "1".."n", as in MAGE's metadata.
    """
    if spec.n_triplicates > spec.n_individuals or spec.n_batches < 2:
        raise KgpexError("demo spec: need n_triplicates <= n_individuals and n_batches >= 2")
    rng = rng_for(seed, "sheets")
    people = draw_people(rng, spec.n_individuals, set())
    # Runs are numbered in submission order: first runs batch by batch, replicates after.
    order = rng.permutation(len(people))
    batches = np.sort(np.arange(len(people)) % spec.n_batches)  # balanced batches
    first_batch = {people[i].individual: str(b + 1) for i, b in zip(order, batches)}
    runs = []
    number = FIRST_RUN_NUMBER
    for i in order:
        ind = people[i].individual
        runs.append({"run_accession": f"SRR{number}", "individual": ind, "batch": first_batch[ind]})
        number += 1
    triplicated = [
        people[i].individual for i in rng.choice(len(people), spec.n_triplicates, replace=False)
    ]
    for ind in sorted(triplicated):
        others = [str(b) for b in range(1, spec.n_batches + 1) if str(b) != first_batch[ind]]
        batch = others[int(rng.integers(len(others)))]
        for _ in range(2):
            runs.append({"run_accession": f"SRR{number}", "individual": ind, "batch": batch})
            number += 1
    individuals = sorted(
        (
            {
                "individual": p.individual,
                "population": p.population,
                "continental_group": p.continental_group,
                "sex": p.sex,
            }
            for p in people
        ),
        key=lambda r: r["individual"],
    )
    runs.sort(key=lambda r: r["run_accession"])
    return individuals, runs


def _write_rows(rows: list[dict], columns: tuple[str, ...], dest: Path) -> None:
    with atomic_path(dest) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


def write_sheets(seed: int, out_dir: str | Path, spec: DemoSpec = DemoSpec()) -> tuple[Path, Path]:
    """Write individuals.tsv and runs.tsv for ``seed`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    individuals, runs = make_sheets(seed, spec)
    ind_path, run_path = out_dir / "individuals.tsv", out_dir / "runs.tsv"
    _write_rows(individuals, INDIVIDUAL_COLUMNS, ind_path)
    _write_rows(runs, RUN_COLUMNS, run_path)
    return ind_path, run_path


@dataclass(frozen=True)
class Cohort:
    """The sheets as the generator uses them."""

    people: list[Person]  # sorted by ID
    runs: list[dict]  # run_accession, individual, batch; sorted by accession

    @property
    def individuals(self) -> list[str]:
        return [p.individual for p in self.people]


def load_cohort(individuals_path: str | Path, runs_path: str | Path) -> Cohort:
    """Read (and schema-check) the sheets the generator makes data for."""
    from kgpex.samples.sheets import load_sheets

    sheets = load_sheets(individuals_path, runs_path)
    people = [
        Person(r["individual"], r["population"], r["continental_group"], r["sex"])
        for _, r in sorted(sheets.individuals.items())
    ]
    runs = [
        {"run_accession": acc, "individual": r["individual"], "batch": r["batch"]}
        for acc, r in sorted(sheets.runs.items())
    ]
    return Cohort(people=people, runs=runs)


def plan_swaps(spec: DemoSpec, seed: int, cohort: Cohort) -> dict[str, str]:
    """Planted sample swaps: run -> the run whose reads it really carries (both directions).

    Only runs of individuals with a single run are swapped, so a swap is never hidden by a
    replicate of the same person. The sheets keep the labels; the labels are what is wrong.
    """
    per_individual: dict[str, list[str]] = {}
    for r in cohort.runs:
        per_individual.setdefault(r["individual"], []).append(r["run_accession"])
    singles = sorted(runs[0] for runs in per_individual.values() if len(runs) == 1)
    if 2 * spec.n_swapped_pairs > len(singles):
        raise KgpexError(
            f"demo spec: {spec.n_swapped_pairs} swapped pairs need {2 * spec.n_swapped_pairs} "
            f"single-run individuals; the sheets have {len(singles)}"
        )
    rng = rng_for(seed, "swaps")
    chosen = [singles[k] for k in rng.choice(len(singles), 2 * spec.n_swapped_pairs, replace=False)]
    swaps = {}
    for a, b in zip(chosen[0::2], chosen[1::2]):
        swaps[a], swaps[b] = b, a
    return swaps
