"""Variant IDs ``chrom:pos:ref:alt``; alleles longer than a limit become ``<len>bp_<sha256 prefix>``."""

from __future__ import annotations

import hashlib
import os

from kgpex.common.errors import KgpexError


def id_allele(allele: str, max_len: int) -> str:
    """An allele as written in a variant ID: itself up to ``max_len`` characters, else a token.

    The token ``<length>bp_<16 hex of sha256(allele)>`` starts with a digit, so it can never be
    read as a sequence, keeps the length visible, and differs for different alleles.
    """
    if len(allele) <= max_len:
        return allele
    return f"{len(allele)}bp_{hashlib.sha256(allele.encode()).hexdigest()[:16]}"


def variant_id(chrom: str, pos: int | str, ref: str, alt: str, max_allele_len: int) -> str:
    """``chrom:pos:ref:alt`` with alleles longer than ``max_allele_len`` replaced by a token."""
    return f"{chrom}:{pos}:{id_allele(ref, max_allele_len)}:{id_allele(alt, max_allele_len)}"


def write_variant_ids(
    pvar_in: str | os.PathLike, pvar_out: str | os.PathLike, max_allele_len: int
) -> tuple[int, list[str]]:
    """Copy a .pvar line by line with IDs set by ``variant_id``.

    Returns (number of variants, IDs given to exact duplicate records, to be excluded). An ID is
    unique unless the record is an exact duplicate; two different records with one ID (a hash
    collision) raise. Only the IDs at the current position are held in memory.
    """
    n = 0
    duplicates: list[str] = []
    with open(pvar_in) as src, open(pvar_out, "w") as out:
        columns = None
        here: tuple[str, str] | None = None
        seen: dict[str, tuple[str, str]] = {}
        for line in src:
            if line.startswith("##"):
                out.write(line)
                continue
            if columns is None:
                if not line.startswith("#CHROM"):
                    raise KgpexError(f"{pvar_in}: no '#CHROM' header line")
                columns = line.rstrip("\n").split("\t")
                c_chrom, c_pos, c_id, c_ref, c_alt = (
                    columns.index(c) for c in ("#CHROM", "POS", "ID", "REF", "ALT")
                )
                out.write(line)
                continue
            fields = line.rstrip("\n").split("\t")
            chrom, pos, ref, alt = fields[c_chrom], fields[c_pos], fields[c_ref], fields[c_alt]
            if (chrom, pos) != here:
                here, seen = (chrom, pos), {}
            vid = variant_id(chrom, pos, ref, alt, max_allele_len)
            if vid in seen:
                if seen[vid] != (ref, alt):
                    raise KgpexError(
                        f"{pvar_in}: variant ID {vid} names two different records at {chrom}:{pos}"
                    )
                vid = f"{vid}#duplicate{len(duplicates) + 1}"
                duplicates.append(vid)
            else:
                seen[vid] = (ref, alt)
            fields[c_id] = vid
            out.write("\t".join(fields) + "\n")
            n += 1
    return n, duplicates
