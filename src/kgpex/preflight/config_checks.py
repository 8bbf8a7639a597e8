"""Checks of the config made while Snakemake reads the workflow: every source's scheme and host,
local files present (unless a rule makes them), run and individual IDs, shell-bound option strings."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from urllib.parse import urlparse

from kgpex.common.errors import KgpexError
from kgpex.common.http import UrlPolicy
from kgpex.common.sources import local_path
from kgpex.samples.sheets import individuals_only

# Sources may be URLs of these schemes, or plain paths (read through file:// URLs).
ALLOWED_SCHEMES = ("http", "https", "ftp", "file")

# IDs that become file names and command arguments: no leading '-' (an option) or '.' ('..').
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

INDIVIDUAL_ID = re.compile(r"(HG|NA)[0-9]{5}")

MD5 = re.compile(r"[0-9a-fA-F]{32}")

# salmon.extra_args is split into words by the shell: options and values only.
SHELL_WORDS = re.compile(r"[A-Za-z0-9_.,:=+/ -]*")

# A URL reaches logs and tool arguments: no whitespace, quotes, shell redirections or control
# characters (a query string's ? & ; = stay allowed).
URL_UNSAFE = re.compile(r"[\s\"'`\\<>|$\x00-\x1f\x7f]")


def check_run_id(run: str, where: str) -> str:
    """A run accession safe as a file name and a command argument; ``where`` names file/row."""
    if not RUN_ID.fullmatch(run or ""):
        raise KgpexError(
            f"{where}: run_accession '{run}' is not a run ID (letters, digits, _ . -; "
            "starting with a letter or digit)"
        )
    return run


def check_individual_id(individual: str, where: str) -> str:
    if not INDIVIDUAL_ID.fullmatch(individual or ""):
        raise KgpexError(
            f"{where}: individual '{individual}' is not a 1000 Genomes ID (HG or NA and 5 digits)"
        )
    return individual


def check_source(source: str, where: str, access: UrlPolicy | None = None) -> str:
    """A URL of an allowed scheme (and, with ``access``, host), or a plain path; ``where``
    names the field or file/row."""
    if URL_UNSAFE.search(source):
        bad = URL_UNSAFE.search(source).group(0)
        raise KgpexError(f"{where}: character {bad!r} is not allowed in a URL or path: {source!r}")
    scheme = urlparse(source).scheme
    if scheme and scheme not in ALLOWED_SCHEMES:
        raise KgpexError(
            f"{where}: unsupported URL scheme '{scheme}' in {source} "
            f"(use {', '.join(ALLOWED_SCHEMES)} or a local path)"
        )
    if access is not None:
        try:
            access.url(source)
        except KgpexError as err:
            raise KgpexError(f"{where}: {err}") from None
    return source


@dataclass(frozen=True)
class ConfigSource:
    field: str  # config key, e.g. "genotypes.vcf_url (chr22)"
    source: str
    used: bool  # read by this configuration (e.g. the genome only with decoys)
    index: bool = False  # a VCF: its .tbi is read too


def config_sources(config: dict) -> list[ConfigSource]:
    """Every URL or path the (schema-validated) config names, and whether this run reads it."""
    from kgpex.common.sources import vcf_source

    samples, reference, genotypes = config["samples"], config["reference"], config["genotypes"]
    decoys = reference["decoys"] and config["salmon"]["settings"] != "mage"  # as reference.smk
    # A matrix with its own annotation table reads no reference (paths.smk MATRIX_ANNOTATED).
    expression = config.get("expression", {})
    reads_reference = not (
        expression.get("input") == "matrix"
        and expression.get("matrix", {}).get("annotation_url")
    )
    method = samples["method"]
    found = [
        # A cohort of individuals alone (method sheets, runs "") reads no run table.
        ConfigSource("samples.run_table", samples.get("run_table", ""), not individuals_only(config)),
        ConfigSource("samples.overrides", samples.get("overrides", ""), True),
        ConfigSource("samples.mage_metadata", samples.get("mage_metadata", ""), method == "mage"),
        ConfigSource("samples.sdrf", samples.get("sdrf", ""), method == "sdrf"),
        ConfigSource("samples.panel", samples.get("panel", ""), method in ("sdrf", "ena")),
        ConfigSource("reference.transcripts_url", reference["transcripts_url"], reads_reference),
        ConfigSource("reference.annotation_url", reference["annotation_url"], reads_reference),
        ConfigSource("reference.genome_url", reference["genome_url"], decoys and reads_reference),
        ConfigSource("reference.md5sums_url", reference["md5sums_url"], reads_reference),
        ConfigSource("genotypes.md5sums_url", genotypes["md5sums_url"], True),
        ConfigSource("eqtl.dbsnp", config["eqtl"]["dbsnp"], True),
    ]
    for chrom in genotypes["chromosomes"]:
        key = "vcf_url_chrX" if chrom == "chrX" and genotypes.get("vcf_url_chrX") else "vcf_url"
        found.append(
            ConfigSource(f"genotypes.{key} ({chrom})", vcf_source(genotypes, chrom), True, True)
        )
    return [s for s in found if s.source]


def _produced(path: Path, produced_under: Iterable[str | os.PathLike]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(d).resolve()) for d in produced_under)


def check_config(config: dict, produced_under: Iterable[str | os.PathLike] = ()) -> None:
    """Parse-time checks beyond the schema; raise one line naming the config field.

    ``produced_under``: folders whose files a rule of the workflow writes (the demo cohort), so
    that a missing file there is not yet an error.
    """
    produced_under = list(produced_under)
    access = UrlPolicy.from_config(config["download"])
    for item in config_sources(config):
        # Hosts matter only where this run reads (defaults name sources of other methods).
        check_source(item.source, f"config: field '{item.field}'", access if item.used else None)
        path = local_path(item.source)
        if path is None or not item.used or _produced(path, produced_under):
            continue
        if not path.is_file():
            raise KgpexError(f"config: field '{item.field}': file not found: {path}")
        if item.index and not Path(f"{path}.tbi").is_file():
            raise KgpexError(
                f"config: field '{item.field}': index not found: {path}.tbi "
                f"(index it with 'tabix -p vcf {path}')"
            )
    extra = config["salmon"]["extra_args"]
    if not SHELL_WORDS.fullmatch(extra):
        bad = next(c for c in extra if not SHELL_WORDS.fullmatch(c))
        raise KgpexError(
            f"config: field 'salmon.extra_args': character {bad!r} is not allowed (salmon options "
            "and values only: letters, digits, spaces and _ . , : = + / -)"
        )
    kmer = config["reference"]["kmer"]
    if kmer % 2 == 0:
        raise KgpexError(f"config: field 'reference.kmer': {kmer} is even; salmon needs an odd k")
