"""The phenotype-BED entry point (``expression.input: bed``): bring your own phenotypes.

A GTEx or eQTL Catalogue user comes with a normalised phenotype BED (FastQTL/tensorQTL layout:
``#chr start end phenotype_id <sample>...``, one row per phenotype at its TSS, bgzipped or not;
any names for the first four columns), their own covariates (``covariates.input``) and their own
genotypes (``genotypes.vcf_url`` or ``genotypes.pgen``). The BED is taken as it is: no gene
filter, no re-normalisation, values copied as written (not re-printed), so a mapper reads the
same numbers as on the user's file.

- Contigs: a bare name (``22``, ``X``, ``MT``) is read as its ``chr``-prefixed one (``chr22``,
  ``chrX``, ``chrM``), kgpex's one naming; any other name stops with one line.
- Rows on chromosomes outside ``expression.chromosomes`` are left out (counted in the log).
- The genes table (kgpex.reference.genes columns) comes from the BED itself: ``tss`` = ``end``
  (the 1-based position of a 1-bp interval ``start = tss - 1``, as FastQTL writes), ``gene_name``
  = the phenotype ID, ``strand`` ``+`` (a BED has none; MAGE's tables only copy it).
- The cohort is the BED's sample columns: ``individuals.tsv`` lists them (population,
  continental group and sex ``NA``: the covariates are the user's), and the run tables are
  headers only. Sample IDs need not be 1000 Genomes IDs.
- Before any genotype work, rule check_inputs finds every BED sample among the covariates' and
  the genotypes' samples (kgpex.preflight.input_checks): one line naming the file and the first
  missing IDs.

Every bad input raises a one-line KgpexError naming the file, line and field.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

from kgpex.common.errors import KgpexError
from kgpex.common.genome import chrom_sort_key
from kgpex.common.io import atomic_path, open_text, write_bgzip_indexed

log = logging.getLogger(__name__)

BED_HEADER = ["#Chr", "start", "end", "ID"]
_BARE = re.compile(r"(?:[1-9]|1[0-9]|2[0-9]|X|Y|M|MT)")
# Sample IDs become file columns and command-line words: no whitespace, no leading '#'.
_SAMPLE_ID = re.compile(r"[^\s#][^\s]*")


def normalise_contig(name: str, where: str) -> str:
    """``chr22`` for ``22`` or ``chr22`` (``chrM`` for ``MT``); other names stop the run."""
    if name.startswith("chr") and _BARE.fullmatch(name[3:]):
        return "chrM" if name == "chrMT" else name
    if _BARE.fullmatch(name):
        return "chrM" if name in ("M", "MT") else f"chr{name}"
    raise KgpexError(
        f"{where}: chromosome '{name}' is neither chr-prefixed (chr22) nor a bare name (22)"
    )


class PhenotypeBed:
    """A phenotype BED as read: header, samples, rows (contig normalised, values as text)."""

    def __init__(self, path: str | Path, label: str | None = None):
        self.path = Path(path)
        self.label = label or str(path)
        self.samples: list[str] = []
        # (chrom, start, end, phenotype_id, value tokens)
        self.rows: list[tuple[str, int, int, str, list[str]]] = []
        self._read()

    def _read(self) -> None:
        label = self.label
        if not self.path.is_file():
            raise KgpexError(f"{label}: phenotype BED not found")
        with open_text(self.path, what="phenotype BED") as fh:
            header = fh.readline().rstrip("\r\n").split("\t")
            if not header[0].startswith("#") or len(header) < 4:
                raise KgpexError(
                    f"{label} line 1: header must be '#chr start end phenotype_id <samples...>' "
                    f"(tab-separated, first field starting with '#'), got {header[:4]}"
                )
            samples = header[4:]
            if not samples:
                raise KgpexError(f"{label} line 1: no sample columns after the first four")
            for i, sample in enumerate(samples, start=5):
                if not _SAMPLE_ID.fullmatch(sample):
                    raise KgpexError(f"{label} line 1: field {i}: bad sample ID {sample!r}")
            seen: set[str] = set()
            for sample in samples:
                if sample in seen:
                    raise KgpexError(f"{label} line 1: sample {sample} appears twice")
                seen.add(sample)
            self.samples = samples
            ids: dict[str, int] = {}
            for n, line in enumerate(fh, start=2):
                line = line.rstrip("\r\n")
                if not line:
                    continue
                fields = line.split("\t")
                if len(fields) != len(header):
                    raise KgpexError(
                        f"{label} line {n}: {len(fields)} fields, the header has {len(header)}"
                    )
                where = f"{label} line {n}"
                chrom = normalise_contig(fields[0], f"{where}: field 1")
                try:
                    start, end = int(fields[1]), int(fields[2])
                except ValueError:
                    raise KgpexError(f"{where}: field start/end: not integers: {fields[1:3]}") from None
                if not 0 <= start < end:
                    raise KgpexError(f"{where}: field start/end: need 0 <= start < end, got {start} {end}")
                pid = fields[3]
                if not pid:
                    raise KgpexError(f"{where}: field 4: empty phenotype ID")
                if pid in ids:
                    raise KgpexError(f"{where}: field 4: phenotype {pid} already on line {ids[pid]}")
                ids[pid] = n
                values = fields[4:]
                for sample, value in zip(samples, values):
                    try:
                        number = float(value)
                    except ValueError:
                        number = float("nan")
                    if not math.isfinite(number):
                        raise KgpexError(
                            f"{where}: field {sample}: {value!r} is not a finite number "
                            "(the BED must hold normalised values for every sample)"
                        )
                self.rows.append((chrom, start, end, pid, values))
        if not self.rows:
            raise KgpexError(f"{label}: no phenotype rows")


def import_phenotype_bed(
    bed: str | Path,
    chromosomes: list[str],
    dest_bed: str | Path,
    dest_genes: str | Path,
    label: str | None = None,
) -> PhenotypeBed:
    """Write the BED (kgpex's header, chr-prefixed, sorted, bgzip + tabix, sample columns
    sorted) and its genes table; returns the BED as read (rows on ``chromosomes`` only)."""
    import pandas as pd

    from kgpex.reference.genes import GENES_COLUMNS

    data = PhenotypeBed(bed, label)
    wanted = set(chromosomes)
    kept = [r for r in data.rows if r[0] in wanted]
    left_out = len(data.rows) - len(kept)
    if left_out:
        others = sorted({r[0] for r in data.rows if r[0] not in wanted}, key=chrom_sort_key)
        log.info("%s: %d phenotypes on %s left out (not in expression.chromosomes)",
                 data.label, left_out, ", ".join(others[:8]))
    if not kept:
        on = sorted({r[0] for r in data.rows}, key=chrom_sort_key)
        raise KgpexError(
            f"{data.label}: no phenotype on expression.chromosomes; the BED has {', '.join(on[:8])}"
        )
    kept.sort(key=lambda r: (chrom_sort_key(r[0]), r[1], r[2], r[3]))
    data.rows = kept
    order = sorted(range(len(data.samples)), key=lambda i: data.samples[i])
    samples = [data.samples[i] for i in order]
    table = pd.DataFrame(
        [[c, s, e, p, *[v[i] for i in order]] for c, s, e, p, v in kept],
        columns=BED_HEADER + samples,
    )
    write_bgzip_indexed(table, dest_bed, seq_col=0, start_col=1, end_col=2, zerobased=True,
                        header_prefix="#")
    genes = pd.DataFrame({
        "gene_id": [r[3] for r in kept],
        "gene_name": [r[3] for r in kept],
        "gene_type": "phenotype",
        "chrom": [r[0] for r in kept],
        "start": [r[2] for r in kept],
        "end": [r[2] for r in kept],
        "strand": "+",
        "tss": [r[2] for r in kept],
    })[GENES_COLUMNS]
    with atomic_path(dest_genes) as tmp:
        genes.to_csv(tmp, sep="\t", index=False)
    log.info("%s: %d phenotypes x %d samples on %d chromosomes", data.label, len(kept),
             len(samples), genes["chrom"].nunique())
    return data


def write_cohort_tables(samples: list[str], individuals: str | Path, runs: str | Path,
                        sources: str | Path, mapping: str | Path) -> None:
    """The samples stage's tables for a cohort that is the BED's columns: individuals with
    population, continental group and sex ``NA``; runs, run sources and run mapping headers."""
    from kgpex.samples.metadata import MAPPING_COLUMNS
    from kgpex.samples.resolve import INDIVIDUAL_COLUMNS, RUN_COLUMNS
    from kgpex.samples.runtable import CHECKED_COLUMNS

    with atomic_path(individuals) as tmp, open(tmp, "w") as fh:
        fh.write("\t".join(INDIVIDUAL_COLUMNS) + "\n")
        fh.writelines(
            "\t".join([sample] + ["NA"] * (len(INDIVIDUAL_COLUMNS) - 1)) + "\n"
            for sample in sorted(samples)
        )
    for dest, columns in ((runs, RUN_COLUMNS), (sources, CHECKED_COLUMNS),
                          (mapping, MAPPING_COLUMNS)):
        with atomic_path(dest) as tmp:
            Path(tmp).write_text("\t".join(columns) + "\n")
