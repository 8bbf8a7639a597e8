"""File plumbing: atomic output (nothing half-written ever carries the final name; a full disk is
one line naming the file), reading plain or gzipped text, and file hashes."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Iterator, TextIO

from kgpex.common.diskspace import naming_no_space
from kgpex.common.errors import KgpexError

CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"

ZIP_MAGIC = b"PK\x03\x04"


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it to ``dest`` only if the block succeeds.

    ``suffix`` keeps an extension on the temporary name for tools that infer formats from it.
    An ENOSPC/EDQUOT OSError in the block becomes a KgpexError naming ``dest`` ("no space left
    on device", the free space and the mount point; kgpex.common.diskspace), the OSError chained.
    """
    dest = Path(dest)
    with naming_no_space(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{dest.name}.", suffix=f".partial{suffix}", dir=dest.parent
        )
    os.close(fd)
    # mkstemp creates 0600; give the file the mode an ordinary open() would (0666 less umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp = Path(tmp)
    try:
        with naming_no_space(dest):
            yield tmp
            os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def gzip_text_writer(path: str | os.PathLike) -> Iterator[TextIO]:
    """Open ``path`` for writing gzip-compressed text that is the same bytes on every run.

    gzip.open and pandas put the file's name (under atomic_path, a random temporary name) and
    the current time in the gzip header; this header carries neither (mtime 0, no name).
    """
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with io.TextIOWrapper(gz, encoding="utf-8", newline="") as fh:
                yield fh


def write_table(df, dest: str | os.PathLike, **kwargs) -> None:
    """Write a pandas DataFrame as tab-separated text (gzip if ``dest`` ends in .gz), atomically."""
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        if dest.suffix == ".gz":
            with gzip_text_writer(tmp) as fh:
                df.to_csv(fh, sep="\t", **kwargs)
        else:
            df.to_csv(tmp, sep="\t", **kwargs)


def write_parquet(df, dest: str | os.PathLike) -> None:
    with atomic_path(dest) as tmp:
        df.to_parquet(tmp)


def write_bgzip_indexed(
    df,
    dest: str | os.PathLike,
    seq_col: int,
    start_col: int,
    end_col: int,
    zerobased: bool = False,
    header_prefix: str = "",
) -> None:
    """Write a sorted table as bgzip + tabix index, atomically (table and .tbi together).

    Column numbers are 0-based. ``header_prefix`` (for example "#") is put before the header line
    so tabix skips it; otherwise the first line is skipped with ``line_skip=1``.
    """
    import pysam

    dest = Path(dest)
    with atomic_path(dest.with_name(dest.name + ".tbi")) as tmp_tbi, atomic_path(dest) as tmp_gz:
        plain = tmp_gz.with_suffix(".tsv")
        try:
            header = list(df.columns)
            if header_prefix:
                header[0] = header_prefix + str(header[0]).lstrip(header_prefix)
            with open(plain, "w") as fh:
                fh.write("\t".join(map(str, header)) + "\n")
                df.to_csv(fh, sep="\t", header=False, index=False, na_rep="NA")
            pysam.tabix_compress(str(plain), str(tmp_gz), force=True)
        finally:
            plain.unlink(missing_ok=True)
        pysam.tabix_index(
            str(tmp_gz),
            seq_col=seq_col,
            start_col=start_col,
            end_col=end_col,
            zerobased=zerobased,
            meta_char="#",
            line_skip=0 if header_prefix else 1,
            force=True,
        )
        os.replace(str(tmp_gz) + ".tbi", tmp_tbi)


def open_text(path: str | os.PathLike, newline: str | None = None, what: str = "text file") -> TextIO:
    """``path`` opened for reading text, gunzipped when it is gzip (BGZF included).

    The content decides, not the name: a gzip file is recognised by its magic bytes whatever
    its suffix, and a plain file named .gz is read as it is. A zip archive is a KgpexError
    naming ``what`` (gzip.open and open would read it as garbage). ``newline`` as for open():
    None translates line endings to "\\n", "" leaves them as they are.
    """
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == GZIP_MAGIC:
        return gzip.open(path, "rt", newline=newline)
    if magic == ZIP_MAGIC:
        raise KgpexError(
            f"{path}: a zip archive, not a {what} (unpack it and give the file inside)"
        )
    return open(path, newline=newline)


def read_text_tsv(path: str | os.PathLike, what: str):
    """A tab-separated table (plain or gzip) with every field kept as its text ("" for empty);
    one line naming ``path`` and ``what`` when it cannot be read."""
    import pandas as pd

    try:
        with open_text(path, what=what) as fh:
            return pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise KgpexError(f"{path}: cannot read the {what} ({err})") from err


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 of a file, read in chunks; a missing file is a KgpexError."""
    if not Path(path).is_file():
        raise KgpexError(f"{path}: not found (cannot compute its sha256)")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def phenotype_bed_header(path: str | os.PathLike) -> list[str]:
    """Header of a ``#Chr start end ID <samples...>`` phenotype BED (plain or gzipped)."""
    path = Path(path)
    if not path.exists():
        raise KgpexError(f"{path}: phenotype BED not found")
    with open_text(path, what="phenotype BED") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    if header[:1] != ["#Chr"] or header[1:4] != ["start", "end", "ID"]:
        raise KgpexError(f"{path} line 1: header must start '#Chr start end ID', got {header[:4]}")
    if len(header) < 5:
        raise KgpexError(f"{path} line 1: no sample columns")
    return header
