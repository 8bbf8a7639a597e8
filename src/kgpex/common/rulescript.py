"""Run a rule script: log to the rule's log file, and turn a KgpexError, or a full disk anywhere,
into one clear line."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from kgpex.common.diskspace import is_no_space, no_space_message
from kgpex.common.errors import KgpexError

log = logging.getLogger(__name__)


def run(main: Callable[[object], None], snakemake) -> None:
    """Call ``main(snakemake)`` with logging set up; exit 1 with one line on bad input.

    An ENOSPC/EDQUOT OSError that no atomic write turned into a KgpexError is one line too,
    naming the OSError's file, or else the folders of the rule's outputs."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        try:
            handlers.append(_RuleLog(snakemake.log[0], mode="w"))
        except OSError as err:
            if not is_no_space(err):
                raise  # a full disk: the rule runs without its log file, and will say why
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
        _fail(snakemake, str(err))
    except OSError as err:
        if not is_no_space(err):
            raise
        _fail(snakemake, no_space_message(err.filename or _output_folders(snakemake), err))
    log.info("rule %s done", snakemake.rule)


class _RuleLog(logging.FileHandler):
    """The rule's log file. It usually lies on the disk that filled: once a write fails for lack
    of space it stops quietly, instead of a traceback on stderr for every later message."""

    full = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.full:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if is_no_space(sys.exc_info()[1]):
            self.full = True
        else:
            super().handleError(record)


def _fail(snakemake, message: str) -> None:
    log.error("%s", message)
    print(f"kgpex error in rule {snakemake.rule}: {message}", file=sys.stderr)
    sys.exit(1)


def _output_folders(snakemake) -> list[str]:
    """The folders the rule writes into (a directory() output is itself one)."""
    folders = []
    for path in snakemake.output:
        path = str(path)
        folders.append(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    return sorted(set(folders))
