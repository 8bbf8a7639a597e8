"""Run a rule script: log to the rule's log file, and turn a KgpexError into one clear line."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from kgpex.common.errors import KgpexError

log = logging.getLogger(__name__)


def run(main: Callable[[object], None], snakemake) -> None:
    """Call ``main(snakemake)`` with logging set up; exit 1 with one line on bad input."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    log.info("rule %s starts", snakemake.rule)
    try:
        main(snakemake)
    except KgpexError as err:
        log.error("%s", err)
        print(f"kgpex error in rule {snakemake.rule}: {err}", file=sys.stderr)
        sys.exit(1)
    log.info("rule %s done", snakemake.rule)
