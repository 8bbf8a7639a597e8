"""Checks of the config made while Snakemake reads the workflow: every source's scheme and host,
local files present (unless a rule makes them: every missing one named in one line, with its config
key and the preset whose header says how to make it), run and individual IDs, shell-bound option
strings."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
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
    downloaded: bool = True  # fetched through the URL policy (a sheet is read in place)


def config_sources(config: dict) -> list[ConfigSource]:
    """Every URL or path the (schema-validated) config names, and whether this run reads it."""
    from kgpex.common.sources import vcf_source

    samples, reference, genotypes = config["samples"], config["reference"], config["genotypes"]
    decoys = reference["decoys"] and config["salmon"]["settings"] != "mage"  # as reference.smk
    # A matrix with its own annotation table reads no reference (paths.smk MATRIX_ANNOTATED).
    expression = config.get("expression", {})
    # A phenotype BED (expression.input bed) reads none either.
    bed_input = expression.get("input") == "bed"
    reads_reference = not bed_input and not (
        expression.get("input") == "matrix"
        and expression.get("matrix", {}).get("annotation_url")
    )
    method = samples["method"]
    matrix = expression.get("matrix", {}) if expression.get("input") == "matrix" else {}
    found = [
        # The sheets of method sheets (read at parse time by common.smk).
        ConfigSource("samples.individuals", samples.get("individuals", ""), method == "sheets", downloaded=False),
        ConfigSource("samples.runs", samples.get("runs", ""), method == "sheets", downloaded=False),
        # The matrix entry point's inputs (expression.input matrix; matrix_input.smk).
        *(
            ConfigSource(f"expression.matrix.{key}", matrix.get(key, ""), True)
            for key in ("url", "tpm_url", "annotation_url", "arrays_url")
        ),
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
        ConfigSource("expression.bed.url", expression.get("bed", {}).get("url", ""), bed_input),
        ConfigSource("covariates.input", config.get("covariates", {}).get("input", ""), True),
    ]
    for chrom in genotypes["chromosomes"] if genotypes.get("pgen") else []:
        prefix = genotypes["pgen"].replace("{chrom}", chrom)
        if "://" in prefix:
            raise KgpexError(f"config: field 'genotypes.pgen': a local fileset prefix, not {prefix}")
        for ext in (".pgen", ".pvar", ".psam"):
            found.append(ConfigSource(f"genotypes.pgen ({chrom})", prefix + ext, True))
    for chrom in [] if genotypes.get("pgen") else genotypes["chromosomes"]:
        key = "vcf_url_chrX" if chrom == "chrX" and genotypes.get("vcf_url_chrX") else "vcf_url"
        found.append(
            ConfigSource(f"genotypes.{key} ({chrom})", vcf_source(genotypes, chrom), True, True)
        )
    return [s for s in found if s.source]


def _produced(path: Path, produced_under: Iterable[str | os.PathLike]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(d).resolve()) for d in produced_under)


def _local_file(item: ConfigSource) -> Path | None:
    """The local file an item names: a plain path or a file:// URL (None for a URL of another
    scheme, supported or not: check_source judges those)."""
    if urlparse(item.source).scheme not in ("", "file"):
        return None
    return local_path(item.source)


def missing_files(config: dict, produced_under: Iterable[str | os.PathLike] = ()) -> list[tuple[ConfigSource, Path]]:
    """The local files this run reads that are not there and that no rule makes (under
    ``produced_under``), with the config items naming them, in config order."""
    produced_under = list(produced_under)
    missing = []
    for item in config_sources(config):
        path = _local_file(item)
        if path is None or not item.used or _produced(path, produced_under):
            continue
        if not path.is_file():
            missing.append((item, path))
    return missing


# This checkout's root: a preset given as /path/to/kgpex/config/presets/x.yaml is shown as
# config/presets/x.yaml when Snakemake runs in another working directory (-d).
REPOSITORY = Path(__file__).resolve().parents[3]


def _shown(path: str | os.PathLike) -> str:
    path = Path(path)
    for root in (Path.cwd(), REPOSITORY):
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def _setting_file(field: str, config: dict, configfiles: list) -> str | None:
    """The last of ``configfiles`` (Snakemake's --configfile files, in order) that sets the config
    key of ``field`` to its value in ``config`` (not overridden by --config): the preset whose
    header says how to make the file."""
    import yaml

    keys = field.split(" ")[0].split(".")
    value = config
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    found = None
    for configfile in configfiles:
        try:
            node = yaml.safe_load(Path(configfile).read_text())
        except (OSError, yaml.YAMLError):
            continue
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            found = str(configfile) if node == value else None
    return found


def missing_files_line(
    missing: list[tuple[ConfigSource, Path]], config: dict, configfiles: Iterable = ()
) -> str:
    """One line naming every missing file (where to put it: its path, relative to the working
    directory), its config key, and the config files whose header says how to make them."""
    configfiles = list(configfiles)
    setters = []
    for item, _ in missing:
        setter = _setting_file(item.field, config, configfiles)
        if setter is not None and _shown(setter) not in setters:
            setters.append(_shown(setter))
    them = "it" if len(missing) == 1 else "them"
    hint = f" (how to make {them}: see the header of {', '.join(setters)})" if setters else ""
    if len(missing) == 1:
        item, path = missing[0]
        return f"config: field '{item.field}': file not found: {path}{hint}"
    listed = ", ".join(f"{path} (field '{item.field}')" for item, path in missing)
    return f"config: {len(missing)} files not found; provide {listed}{hint}"


def check_local_files(
    config: dict, produced_under: Iterable[str | os.PathLike] = (), configfiles: Iterable = ()
) -> None:
    """Every local file this run reads is there, or a rule makes it; else one line naming them
    all (``missing_files_line``). ``configfiles``: Snakemake's --configfile files."""
    missing = missing_files(config, produced_under)
    if missing:
        raise KgpexError(missing_files_line(missing, config, configfiles))


def check_config(
    config: dict, produced_under: Iterable[str | os.PathLike] = (), configfiles: Iterable = ()
) -> None:
    """Parse-time checks beyond the schema; raise one line naming the config field.

    ``produced_under``: folders whose files a rule of the workflow writes (the demo cohort), so
    that a missing file there is not yet an error. ``configfiles``: Snakemake's --configfile
    files, named in the line about missing files when one of them names a missing file.
    """
    produced_under = list(produced_under)
    access = UrlPolicy.from_config(config["download"])
    sources = config_sources(config)
    for item in sources:
        # Hosts matter only where this run reads (defaults name sources of other methods).
        check_source(
            item.source, f"config: field '{item.field}'", access if item.used and item.downloaded else None
        )
    check_local_files(config, produced_under, configfiles)
    for item in sources:
        path = _local_file(item)
        if path is None or not item.used or _produced(path, produced_under):
            continue
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
