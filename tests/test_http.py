"""kgpex.common.http: one URL and redirect policy for every reader of a URL.

A loopback https server (a self-signed certificate made here with the openssl command, trusted
through SSL_CERT_FILE) redirects to a loopback plain-http server. Every path that reads a URL
must refuse that redirect when plain http is not allowed, and refuse the https -> http
downgrade even when it is, each with one line and without ever asking the http server:
the download function (kgpex.common.fetch.fetch), preflight's VCF header read
(kgpex.preflight.input_checks.check_vcf) and the metadata fetches (the rule scripts
fetch_run_table.py and fetch_sample_metadata.py, run here with the options the rules give them).
"""

from __future__ import annotations

import logging
import runpy
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from faultserver import FaultServer
from input_fixtures import INDIVIDUALS, write_vcf
from workdirs import ROOT

from kgpex.common.errors import KgpexError
from kgpex.common.fetch import fetch
from kgpex.common.http import UrlPolicy, download_options
from kgpex.preflight.input_checks import check_vcf

VCF_PATH = "/c.vcf.gz"

MOVED = "/moved.vcf.gz"


# -- the one redirect handler, unit-tested -----------------------------------------------------


def _redirect_handler(policy: UrlPolicy) -> urllib.request.HTTPRedirectHandler:
    """The redirect handler of the opener every reader gets from the policy."""
    (handler,) = [
        h for h in policy.opener().handlers if isinstance(h, urllib.request.HTTPRedirectHandler)
    ]
    return handler


def _redirect(handler, from_url: str, to_url: str):
    return handler.redirect_request(
        urllib.request.Request(from_url), None, 302, "Found", {}, to_url
    )


def test_the_policy_opener_refuses_plain_http_and_https_downgrades():
    strict = _redirect_handler(UrlPolicy(("h.org",), allow_http=False))
    with pytest.raises(KgpexError, match=r"^redirected to http://h.org/b: only https redirects"):
        _redirect(strict, "https://h.org/a", "http://h.org/b")
    assert _redirect(strict, "https://h.org/a", "https://h.org/b").full_url == "https://h.org/b"
    lenient = _redirect_handler(UrlPolicy(("h.org",), allow_http=True))
    with pytest.raises(KgpexError, match=r"^redirected from https down to http: http://h.org/b$"):
        _redirect(lenient, "https://h.org/a", "http://h.org/b")
    assert _redirect(lenient, "http://h.org/a", "http://h.org/b").full_url == "http://h.org/b"
    with pytest.raises(KgpexError, match=r"^redirected to ftp://h.org/b: only https or http"):
        _redirect(lenient, "https://h.org/a", "ftp://h.org/b")
    with pytest.raises(KgpexError, match=r"host evil.org is not in download.allowed_hosts"):
        _redirect(lenient, "https://h.org/a", "https://evil.org/b")


def test_preflight_and_downloads_build_one_policy_from_the_download_section():
    download = {
        "retries": 3,
        "backoff_seconds": 0.5,
        "timeout_seconds": 9,
        "allowed_hosts": ["h.org"],
        "allow_http": False,
        "allow_file": False,
    }
    policy = UrlPolicy.from_config(download)
    assert policy == UrlPolicy(("h.org",), False, False, 9, 3, 0.5)
    assert download_options(download) == {**policy.fetch_options(), "within_workdir": True}
    assert download_options(download)["allowed_hosts"] == ["h.org"]  # as the config wrote it
    assert policy.url("http://h.org/x") == "https://h.org/x"
    with pytest.raises(KgpexError, match="local files are not allowed"):
        policy.url("some/local.vcf.gz")


# -- every reader against loopback servers -----------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the loopback https server's certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def servers(certificate, tmp_path, monkeypatch):
    """(https server, plain http server), both serving a VCF of the cohort at VCF_PATH; the
    https one redirects MOVED to the http one's VCF."""
    (tmp_path / "served").mkdir()
    vcf = write_vcf(tmp_path / "served" / "c.vcf.gz", "chr22")
    data = Path(vcf).read_bytes()
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with FaultServer(stall_seconds=1.0, tls=tls_context(*certificate)) as tls, FaultServer() as plain:
        tls.add(VCF_PATH, data)
        plain.add(VCF_PATH, data)
        tls.plan(MOVED, then=f"redirect:{plain.url(VCF_PATH)}")
        yield tls, plain


def _download(allow_http: bool) -> dict:
    """A config's download section: the loopback host only, no retries."""
    return {
        "retries": 0,
        "backoff_seconds": 0,
        "timeout_seconds": 5,
        "allowed_hosts": ["127.0.0.1"],
        "allow_http": allow_http,
        "allow_file": False,
    }


@pytest.fixture
def root_logging():
    """Rule scripts set up the root logger; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def _rule_script(name: str, url: str, download: dict, tmp_path: Path, capsys) -> None:
    """Run workflow/scripts/<name>.py as Snakemake would, with the params its rule gives it
    (``options=DOWNLOAD_OPTIONS``, i.e. ``download_options(config["download"])``); its error line
    becomes a KgpexError here."""

    class Output(list):
        pass

    output = Output([str(tmp_path / "results" / f"{name}.txt")])
    output.table, output.query = output[0], str(tmp_path / "results" / "query.json")
    snakemake = SimpleNamespace(
        rule=name,
        log=[],
        input=[],
        output=output,
        wildcards=SimpleNamespace(metadata="panel"),
        params=SimpleNamespace(url=url, sha256="", options=download_options(download)),
    )
    try:
        runpy.run_path(
            str(ROOT / "workflow" / "scripts" / f"{name}.py"), init_globals={"snakemake": snakemake}
        )
    except SystemExit as exit:
        lines = [
            line for line in capsys.readouterr().err.splitlines()
            if line.startswith(f"kgpex error in rule {name}: ")
        ]
        assert exit.code == 1 and len(lines) == 1, lines
        raise KgpexError(lines[0].removeprefix(f"kgpex error in rule {name}: ")) from None


READERS = ["fetch", "preflight", "fetch_run_table", "fetch_sample_metadata"]


def _read(reader: str, url: str, download: dict, tmp_path: Path, capsys) -> None:
    """Read ``url`` the way ``reader`` does under the config's ``download`` section."""
    if reader == "fetch":
        fetch(url, tmp_path / "fetched.vcf.gz", **UrlPolicy.from_config(download).fetch_options())
    elif reader == "preflight":
        check_vcf(url, "chr22", INDIVIDUALS, url, UrlPolicy.from_config(download))
    else:
        _rule_script(reader, url, download, tmp_path, capsys)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    "allow_http, problem",
    [
        (False, "redirected to {target}: only https redirects are followed"),
        (True, "redirected from https down to http: {target}"),
    ],
    ids=["http-not-allowed", "http-allowed"],
)
def test_a_redirect_from_https_to_plain_http_is_refused_everywhere(
    servers, tmp_path, monkeypatch, capsys, root_logging, reader, allow_http, problem
):
    tls, plain = servers
    monkeypatch.syspath_prepend(str(ROOT / "workflow" / "scripts"))
    monkeypatch.chdir(tmp_path)  # rules download under the working directory only
    with pytest.raises(KgpexError) as err:
        _read(reader, tls.url(MOVED), _download(allow_http), tmp_path, capsys)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(tls.url(MOVED)), message  # the URL read, or preflight's label
    assert problem.format(target=plain.url(VCF_PATH)) in message
    assert [r.status for r in tls.requests(MOVED)] == [302]
    assert plain.requests() == []  # the plain-http target was never asked
    written = [f for f in tmp_path.rglob("*") if f.is_file() and "served" not in f.parts]
    assert written == []  # no output, no partial file


def test_the_servers_serve_the_vcf_to_every_reader_when_nothing_is_refused(servers, tmp_path):
    """The refusals above are the policy's, not a broken server: https -> https works."""
    tls, _ = servers
    tls.plan("/https-moved.vcf.gz", then=f"redirect:{tls.url(VCF_PATH)}")
    url = tls.url("/https-moved.vcf.gz")
    access = UrlPolicy.from_config(_download(False))
    assert check_vcf(url, "chr22", INDIVIDUALS, url, access).finding.endswith("contig chr22")
    dest = fetch(url, tmp_path / "c.vcf.gz", **access.fetch_options())
    assert dest.read_bytes() == tls.files[VCF_PATH]


@pytest.mark.parametrize("reader", ["fetch", "preflight"])
def test_plain_http_urls_are_read_over_https_unless_allowed(servers, tmp_path, capsys, reader):
    tls, _ = servers
    http_url = tls.url(VCF_PATH).replace("https://", "http://")
    # Not allowed: upgraded to https on the same host and port, which the TLS server answers.
    _read(reader, http_url, _download(False), tmp_path, capsys)
    assert [r.status for r in tls.requests(VCF_PATH)] == [200]
    # Allowed: read as given, over plain http, which the TLS server does not speak.
    with pytest.raises(KgpexError) as err:
        _read(reader, http_url, _download(True), tmp_path / "again", capsys)
    assert "\n" not in str(err.value) and str(err.value).startswith(http_url)
