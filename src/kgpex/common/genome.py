"""Chromosome order, the one definition every table uses: chr1 .. chr22, chrX, chrY, chrM, then
any other contig by name. GENCODE's GTF and the NYGC VCFs use this order; tabix needs rows
sorted by it within a file, and every MAGE-style table lists chromosomes in it."""

from __future__ import annotations

import pandas as pd

_NAMED = {"X": 23, "Y": 24, "M": 25, "MT": 25}
_OTHER = 26


def chrom_sort_key(chrom: str) -> tuple[int, str]:
    """Sort key of a chromosome name, with or without the ``chr`` prefix."""
    name = chrom[3:] if chrom.startswith("chr") else chrom
    if name.isdigit():
        return (int(name), "")
    return (_NAMED.get(name, _OTHER), name)


def chrom_rank(chroms: pd.Series) -> pd.Series:
    """Each row's rank of its chromosome in the natural order (0 for the first)."""
    order = {c: i for i, c in enumerate(sorted(chroms.unique(), key=chrom_sort_key))}
    return chroms.map(order).astype(int)


def sort_by_position(df: pd.DataFrame, chrom_col: str, pos_col: str,
                     then: list[str] | None = None) -> pd.DataFrame:
    """Rows sorted by chromosome (natural order), position, then ``then``; stable."""
    keys = df.assign(_rank=chrom_rank(df[chrom_col]).to_numpy())
    return (keys.sort_values(["_rank", pos_col, *(then or [])], kind="mergesort")
            .drop(columns="_rank").reset_index(drop=True))


# Chromosome lengths of the two human assemblies a VCF or annotation may be on, by bare name
# (GRCh38: UCSC hg38 / NCBI GCA_000001405.15; GRCh37: UCSC hg19 / NCBI GCA_000001405.1, the
# lengths of hs37d5 and b37 too). The mitochondrion is the same rCRS (16569 bp) in both (hg19's
# chrM, 16571 bp, is the older NC_001807), so it tells no build apart.
GENOME_BUILDS = ("GRCh38", "GRCh37")
CHROM_LENGTHS = {
    "GRCh38": {
        "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259,
        "6": 170805979, "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422,
        "11": 135086622, "12": 133275309, "13": 114364328, "14": 107043718, "15": 101991189,
        "16": 90338345, "17": 83257441, "18": 80373285, "19": 58617616, "20": 64444167,
        "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415, "M": 16569,
    },
    "GRCh37": {
        "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260,
        "6": 171115067, "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747,
        "11": 135006516, "12": 133851895, "13": 115169878, "14": 107349540, "15": 102531392,
        "16": 90354753, "17": 81195210, "18": 78077248, "19": 59128983, "20": 63025520,
        "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566, "M": 16569,
    },
}
# Names in headers (GTF ##description / #!genome-build, VCF ##reference) and their build.
_BUILD_NAMES = {"grch38": "GRCh38", "hg38": "GRCh38", "grch37": "GRCh37", "hg19": "GRCh37",
                "b37": "GRCh37", "hs37d5": "GRCh37"}


def bare_chrom(chrom: str) -> str:
    """``chr22`` -> ``22``; ``chrM``/``MT`` -> ``M``."""
    name = chrom[3:] if chrom.startswith("chr") else chrom
    return "M" if name == "MT" else name


def chrom_length(build: str, chrom: str) -> int | None:
    """The length of ``chrom`` (with or without ``chr``) in ``build``; None if not a primary one."""
    return CHROM_LENGTHS[build].get(bare_chrom(chrom))


def build_of_length(chrom: str, length: int) -> str | None:
    """The known build whose ``chrom`` has exactly ``length`` (None: none, or the mitochondrion)."""
    if bare_chrom(chrom) == "M":
        return None
    return next((b for b in GENOME_BUILDS if chrom_length(b, chrom) == length), None)


def build_named_in(text: str) -> str | None:
    """The build a header line names (GRCh38, hg38, GRCh37, hg19, b37, hs37d5), if exactly one."""
    import re

    names = re.findall(r"(?i)(?<![a-z0-9])(grch3[78]|hg38|hg19|b37|hs37d5)(?![0-9])", text)
    found = {_BUILD_NAMES[name.lower()] for name in names}
    return found.pop() if len(found) == 1 else None
