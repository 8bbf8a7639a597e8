"""The one URL policy: which schemes and hosts may be read, and how redirects are followed (no
https -> http downgrade, no plain http unless allowed).

``UrlPolicy`` is the config's ``download`` section as one object (``UrlPolicy.from_config``, the
only place that reads those settings); ``open_url`` is the only way a URL is opened over the
network: downloads and metadata fetches (``kgpex.common.fetch.fetch``, with ``download_options``)
and preflight's VCF header reads (``kgpex.preflight.input_checks``) all go through it.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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


def build_opener(
    allowed_hosts: Iterable[str] | None = None, allow_http: bool = True
) -> urllib.request.OpenerDirector:
    """A urllib opener whose redirects follow ``_redirect_handler``'s rule."""
    return urllib.request.build_opener(_redirect_handler(allowed_hosts, allow_http))


@dataclass(frozen=True)
class UrlPolicy:
    """The config's ``download`` section as one object: which URLs may be read
    (``allowed_url``), how redirects are followed (``_redirect_handler``), and how hard to try.
    Defaults are the config schema's; ``allowed_hosts`` None allows any host (library use)."""

    allowed_hosts: tuple[str, ...] | None = None
    allow_http: bool = True
    allow_file: bool = True
    timeout: float = 120
    retries: int = 5
    backoff: float = 2.0

    @classmethod
    def from_config(cls, download: Mapping) -> "UrlPolicy":
        """From the config's ``download`` section; an absent key keeps its default."""
        default = cls()
        hosts = download.get("allowed_hosts", default.allowed_hosts)
        return cls(
            allowed_hosts=None if hosts is None else tuple(hosts),
            allow_http=download.get("allow_http", default.allow_http),
            allow_file=download.get("allow_file", default.allow_file),
            timeout=download.get("timeout_seconds", default.timeout),
            retries=download.get("retries", default.retries),
            backoff=download.get("backoff_seconds", default.backoff),
        )

    def check(self, url: str) -> str:
        """``allowed_url`` under this policy: the URL to read (http upgraded unless allowed)."""
        return allowed_url(url, self.allowed_hosts, self.allow_http, self.allow_file)

    def url(self, source: str) -> str:
        """``check`` of a URL or a local path (as a file:// URL)."""
        from kgpex.common.sources import to_url

        return self.check(to_url(source))

    def opener(self) -> urllib.request.OpenerDirector:
        return build_opener(self.allowed_hosts, self.allow_http)

    def fetch_options(self) -> dict:
        """The keyword arguments of ``kgpex.common.fetch.fetch`` that carry this policy."""
        return {
            "retries": self.retries,
            "backoff": self.backoff,
            "timeout": self.timeout,
            "allowed_hosts": None if self.allowed_hosts is None else list(self.allowed_hosts),
            "allow_http": self.allow_http,
            "allow_file": self.allow_file,
        }


def open_url(url: str, policy: UrlPolicy, headers: Mapping[str, str] | None = None):
    """One attempt at ``url`` (https; http where allowed; ftp) under ``policy``: the URL checked
    (and upgraded) by ``policy.check``, redirects followed only as ``_redirect_handler`` allows,
    ``policy.timeout`` seconds. A URL or redirect the policy refuses is a KgpexError; urllib's
    HTTPError, URLError and OSError reach the caller, which decides about retries."""
    request = urllib.request.Request(
        policy.check(url), headers={"User-Agent": USER_AGENT, **(headers or {})}
    )
    return policy.opener().open(request, timeout=policy.timeout)


def download_options(download: Mapping) -> dict:
    """The keyword arguments of every ``kgpex.common.fetch.fetch`` call a rule makes, from the
    config's ``download`` section (``UrlPolicy.from_config``): retries, backoff, timeout and the
    URL policy. Rules write under the working directory only (results/, resources/)."""
    return {**UrlPolicy.from_config(download).fetch_options(), "within_workdir": True}
