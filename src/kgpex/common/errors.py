"""The one exception type a user is meant to read."""

from __future__ import annotations


class KgpexError(Exception):
    """Bad input or a failed check, explained in one line that names the file, row or field."""
