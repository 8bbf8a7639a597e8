"""R packages through rpy2: loaded once per call site, or one line saying what is missing."""

from __future__ import annotations

from kgpex.common.errors import KgpexError


def import_r_packages(what: str, packages: dict[str, str]):
    """``(rpy2.robjects, [package, ...])`` for ``packages`` (R name -> where to install it from,
    e.g. "Debian r-bioc-qvalue"); a KgpexError starting with ``what`` names R/rpy2 or the package
    that could not be loaded."""
    try:
        import rpy2.robjects as ro
        from rpy2.robjects.packages import importr
    except Exception as err:  # ImportError, or R itself missing (rpy2 raises several kinds)
        raise KgpexError(f"{what} needs R and rpy2 (Python package rpy2 could not be loaded: {err})") from err
    loaded = []
    for package, source in packages.items():
        try:
            loaded.append(importr(package))
        except Exception as err:
            reason = " ".join(str(err).split())
            raise KgpexError(f"{what} needs the R package {package} ({source}): {reason}") from err
    return ro, loaded
