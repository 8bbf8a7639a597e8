"""A full disk (or an exceeded quota), told in one line: which path could not be written, how much
is free on which mount point, and what to do.

Python writes: ``naming_no_space(path)`` turns an ENOSPC/EDQUOT OSError raised in its block into
a KgpexError naming ``path`` (atomic_path and fetch use it; rulescript.run catches the rest).
Tools run from Python (bcftools, plink2, pigz, fasterq-dump) seldom pass errno on:
``tool_ran_out_of_space`` reads their output and the free space. Tools run by shell rules
(salmon) cannot import kgpex: ``SHELL_DISK_CHECK`` is the same check in POSIX shell.
Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from kgpex.common.errors import KgpexError

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

# Less than this many bytes available (to an ordinary user) counts as a full filesystem, for
# tools that fail without saying why.
FULL_BELOW = 1 << 20

# How tools and the C library say it (strerror of ENOSPC and EDQUOT).
NO_SPACE_TEXTS = ("no space left on device", "disk quota exceeded")


def is_no_space(err: BaseException) -> bool:
    """Whether ``err`` is an OSError for a full filesystem or an exceeded quota (also when a
    library kept only the message, without errno)."""
    if not isinstance(err, OSError):
        return False
    if err.errno in NO_SPACE_ERRNOS:
        return True
    return err.errno is None and any(text in str(err).lower() for text in NO_SPACE_TEXTS)


def existing_ancestor(path: str | os.PathLike) -> Path:
    """``path`` itself if it exists, else its nearest existing parent folder (absolute)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def mount_point(path: str | os.PathLike) -> Path:
    """The mount point of the filesystem that holds (or would hold) ``path``."""
    path = existing_ancestor(path)
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: str | os.PathLike) -> int | None:
    """Bytes an ordinary user may still write on the filesystem of ``path`` (None if unknown)."""
    try:
        return shutil.disk_usage(existing_ancestor(path)).free
    except OSError:
        return None


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown space"
    if n < 1000:
        return f"{n} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def no_space_message(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    err: BaseException | None = None,
    doing: str = "",
) -> str:
    """One line: ``<paths>: no space left on device[ doing] (<free> free on <mount>); free space
    on <mount>, then rerun the same command``; an exceeded quota (``err``) is said too."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(dict.fromkeys(str(p) for p in paths)) or ["."]
    mounts = list(dict.fromkeys(mount_point(p) for p in paths))
    free = ", ".join(f"{human_bytes(free_bytes(m))} free on {m}" for m in mounts)
    where = " and ".join(str(m) for m in mounts)
    quota = ""
    if isinstance(err, OSError) and (
        err.errno == errno.EDQUOT or "quota" in str(err).lower()
    ):
        quota = "disk quota exceeded; "
        where += " (or raise the quota)"
    doing = f" {doing}" if doing else ""
    return (
        f"{', '.join(paths)}: no space left on device{doing} ({quota}{free}); "
        f"free space on {where}, then rerun the same command"
    )


class NoSpaceError(KgpexError):
    """A full disk, already told in one line (callers that prefix their context pass it on)."""


def no_space_error(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    err: BaseException | None = None,
    doing: str = "",
) -> NoSpaceError:
    return NoSpaceError(no_space_message(paths, err, doing))


@contextlib.contextmanager
def naming_no_space(path: str | os.PathLike, doing: str = "") -> Iterator[None]:
    """Turn an ENOSPC/EDQUOT OSError raised in the block into a one-line KgpexError naming
    ``path`` (the file being written, by its final name), chained to the OSError."""
    try:
        yield
    except OSError as err:
        if is_no_space(err):
            raise no_space_error(path, err, doing) from err
        raise


def tool_ran_out_of_space(output: str, path: str | os.PathLike) -> bool:
    """Whether a tool that failed, printing ``output``, ran out of space writing under ``path``:
    it says so (plink2: "Error: File write failure: No space left on device."), or it does not
    (bcftools: "[E::bgzf_flush] File write failed") and the filesystem of ``path`` has less than
    FULL_BELOW left."""
    text = output.lower()
    if any(what in text for what in NO_SPACE_TEXTS):
        return True
    free = free_bytes(path)
    return free is not None and free < FULL_BELOW


# POSIX-shell twin of the checks above, for shell rules whose tools may run in a conda env or
# container without kgpex. salmon 1.10 exits 0 after failed writes, its files left empty or cut
# short (tests/test_disk_full.py), so its exit status alone cannot be trusted.
#
# kgpex_disk_check RULE TOOL RC DIR FINAL LOG [FILE...], after TOOL wrote the folder DIR (renamed
# FINAL afterwards, or FINAL itself) with exit status RC and its output in LOG. Each FILE (under
# DIR) must be non-empty and end in a newline or '}'; FILE:bin need only be non-empty;
# FILE:bin>=KEY must also hold at least the "KEY = <n> MB" that LOG reports (salmon index logs
# "mphf size = 0.46 MB"). RC 0 and whole files: returns 0. A full disk (under 1024 kB available on
# DIR's filesystem, or LOG tells of it or of a failed write), or RC 0 with a file not whole (a
# write failed; the space may have been freed since): removes DIR, prints one line "kgpex error
# in rule RULE: FINAL: no space left on device (...)" to stderr and returns 1. Any other failure
# returns RC (the tool's error is in LOG).
#
# Rules insert it through a param ({params.disk_check}: params are not formatted again). Joined
# into one line (every source line ends in ';' or a word that may end one), so that Snakemake's
# printout of each job's command (printshellcmds) grows by one line. printf assembles the
# message's words, so that the printout of a failed job's command does not repeat them.
_SHELL_DISK_CHECK_SOURCE = r"""
kgpex_disk_check() {
  _rule=$1 _tool=$2 _rc=$3 _dir=$4 _final=$5 _log=$6;
  shift 6;
  _bad=;
  for _spec in "$@"; do
    _f=${_spec%%:*} _key=;
    if [ "${_spec#*>=}" != "$_spec" ]; then _key=${_spec#*>=}; fi;
    if [ ! -s "$_dir/$_f" ]; then
      _bad="$_f (missing or empty)";
    elif [ "$_f" = "$_spec" ] && [ -n "$(tail -c 1 "$_dir/$_f" | tr -d '}')" ]; then
      _bad="$_f (cut short)";
    elif [ -n "$_key" ]; then
      _want=$(awk -v k="$_key = " 'index($0, k) { for (i = 1; i < NF; i++) if ($(i + 1) == "MB") w = $i * 1000000 } END { printf "%d", w }' "$_log" 2>/dev/null || echo 0);
      _have=$(wc -c < "$_dir/$_f" | tr -d ' ');
      if [ "$_have" -lt "$_want" ]; then _bad="$_f ($_have bytes, $_key $_want)"; fi;
    fi;
    if [ -n "$_bad" ]; then break; fi;
  done;
  if [ "$_rc" -eq 0 ] && [ -z "$_bad" ]; then return 0; fi;
  _p=$_dir;
  while [ ! -e "$_p" ] && [ "$_p" != "$(dirname "$_p")" ]; do _p=$(dirname "$_p"); done;
  _kb=$(df -Pk "$_p" 2>/dev/null | awk 'NR == 2 { print $4 }' || true);
  _mnt=$(df -Pk "$_p" 2>/dev/null | awk 'NR == 2 { m = $6; for (i = 7; i <= NF; i++) m = m " " $i; print m }' || true);
  if [ -z "$_kb" ]; then _left="free space unknown"; _mnt="the disk of $_dir"; else _left="$_kb kB free on $_mnt"; fi;
  _full=0;
  if [ -n "$_kb" ] && [ "$_kb" -lt 1024 ]; then _full=1; fi;
  if grep -qi -e 'space left on' -e 'quota exceeded' -e 'failed to write' "$_log" 2>/dev/null; then _full=1; fi;
  if [ "$_full" -eq 1 ]; then
    rm -rf "$_dir";
    printf 'kgpex error in rule %s: %s: no %s left on device (%s); free %s on %s, then rerun the same command\n' "$_rule" "$_final" space "$_left" space "$_mnt" >&2;
    return 1;
  fi;
  if [ "$_rc" -ne 0 ]; then return "$_rc"; fi;
  rm -rf "$_dir";
  printf 'kgpex error in rule %s: %s: %s exited 0 but left %s, as it does when a write fails: most likely no %s left on device (%s now); free %s on %s, then rerun the same command\n' "$_rule" "$_final" "$_tool" "$_bad" space "$_left" space "$_mnt" >&2;
  return 1;
};
"""

SHELL_DISK_CHECK = (
    " ".join(line.strip() for line in _SHELL_DISK_CHECK_SOURCE.strip().splitlines()) + "\n"
)
