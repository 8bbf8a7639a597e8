"""The one URL policy: which schemes and hosts may be read, and how redirects are followed (no
https -> http downgrade, no plain http unless allowed). Downloads, preflight and metadata fetches use it."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from urllib.parse import urlparse, urlunparse

from kgpex.common.errors import KgpexError

log = logging.getLogger(__name__)


USER_AGENT = "kgpex/0.1 (Python urllib)"

SCHEMES = ("http", "https", "ftp", "file")


def allowed_url(
    url: str,
    allowed_hosts: Iterable[str] | None = None,
    allow_http: bool = True,
    allow_file: bool = True,
) -> str:
    """The URL ``fetch`` uses for ``url``, or a KgpexError naming it.

    ``allowed_hosts``: host names https/http/ftp URLs (and redirects) may reach, compared
    case-insensitively, any port; None allows every host (library use; the workflow always
    passes the config's list). ``allow_http``: False fetches http:// URLs over https:// from the
    same host (plain http can be tampered with on the way; the hosts real cohorts use serve
    both). ``allow_file``: file:// URLs (local paths) may be read.
    """
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme not in SCHEMES:
        raise KgpexError(f"{url}: unsupported URL scheme '{scheme}' (use https, ftp or file)")
    if scheme == "file":
        if not allow_file:
            raise KgpexError(f"{url}: local files are not allowed (download.allow_file: false)")
        if parsed.netloc not in ("", "localhost"):
            raise KgpexError(
                f"{url}: a file:// URL names a host ({parsed.netloc}); use file:///path"
            )
        return url
    host = (parsed.hostname or "").lower()
    if not host:
        raise KgpexError(f"{url}: no host in the URL")
    if allowed_hosts is not None and host not in {h.lower() for h in allowed_hosts}:
        raise KgpexError(
            f"{url}: host {host} is not in download.allowed_hosts "
            f"({', '.join(sorted(allowed_hosts)) or 'none'})"
        )
    if scheme == "http" and not allow_http:
        upgraded = urlunparse(parsed._replace(scheme="https"))
        log.info("%s: fetching over https (download.allow_http: false): %s", url, upgraded)
        return upgraded
    return url


def _redirect_handler(allowed_hosts, allow_http):
    class CheckedRedirects(urllib.request.HTTPRedirectHandler):
        """Follows a redirect only to an allowed host, and never from https down to http."""

        def redirect_request(self, req, fp, code, msg, headers, newurl):
            scheme = urlparse(newurl).scheme
            if scheme not in ("http", "https") or (scheme == "http" and not allow_http):
                raise KgpexError(
                    f"redirected to {newurl}: only https"
                    f"{' or http' if allow_http else ''} redirects are followed"
                )
            if urlparse(req.full_url).scheme == "https" and scheme == "http":
                raise KgpexError(f"redirected from https down to http: {newurl}")
            try:
                allowed_url(newurl, allowed_hosts, allow_http=True, allow_file=False)
            except KgpexError as err:
                raise KgpexError(f"redirected to {err}") from None
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return CheckedRedirects


def download_options(download: dict) -> dict:
    """The keyword arguments of every ``kgpex.common.fetch.fetch`` call, from the config's
    ``download`` section: retries, backoff, timeout and the URL policy above. Rules write under
    the working directory only (results/, resources/)."""
    return {
        "retries": download["retries"],
        "backoff": download["backoff_seconds"],
        "timeout": download["timeout_seconds"],
        "allowed_hosts": download["allowed_hosts"],
        "allow_http": download["allow_http"],
        "allow_file": download["allow_file"],
        "within_workdir": True,
    }
