"""The workflow as Snakemake parses it for a run (its API, this checkout, the demo config unless
given another), for tests that read the rules themselves: their directives, output flags, report
entries and the Snakefile's globals."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def parsed_workflow(config: dict | None = None, root: Path = ROOT) -> Iterator:
    """Snakemake's Workflow of ``root``'s Snakefile, parsed with ``config`` over the configfile."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import (
        ConfigSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(config=config or {}),
            storage_settings=StorageSettings(),
            snakefile=root / "Snakefile",
            workdir=root,
        )
        yield workflow._workflow


@contextlib.contextmanager
def parsed_rules(config: dict | None = None, root: Path = ROOT) -> Iterator[dict]:
    """Rule name -> Snakemake Rule, as ``parsed_workflow`` parses them."""
    with parsed_workflow(config, root) as workflow:
        yield {rule.name: rule for rule in workflow.rules}
