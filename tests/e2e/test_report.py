"""The Snakemake report and MultiQC on the demo cohort, checked in a real browser.

`snakemake --report` renders results/DEMO/report.html; headless Chromium opens it and walks the
report's own interface (every category, every result's information panel), and the page's DOM
must hold every output the workflow marks with report() that the run made, each with the first
sentence of its caption. Screenshots of the start page and of one plot are saved under
results/DEMO/qc/report_screenshots/ for a person to open. MultiQC's HTML must list every library
salmon quantified.
"""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import CLEAN_ENV, ROOT, snakemake

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium")
# Virtual time the page may use: the walk below sleeps a few hundred ms per result.
VIRTUAL_TIME_MS = 60000
CHECK_ID = "kgpex-report-check"

# Appended to a copy of the report: walks the report's own interface (the functions its buttons
# call) and leaves, in a <pre>, the text the page showed at each step.
WALK_SCRIPT = """
<script>
(function () {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const text = (node) => (node ? node.textContent : "").replace(/\\s+/g, " ").trim();
  const nav = () => text(document.querySelector("nav"));
  async function walk() {
    await sleep(500);
    const out = { start: text(document.querySelector("#app")), listings: {}, results: {} };
    for (const category of Object.keys(categories)) {
      for (const subcategory of Object.keys(categories[category])) {
        app.setView({ navbarMode: "subcategory", category: category, subcategory: subcategory });
        await sleep(200);
        out.listings[category + " / " + subcategory] = nav();
        for (const path of categories[category][subcategory]) {
          app.showResultInfo(path);
          await sleep(200);
          out.results[path] = { category: category, nav: nav() };
        }
      }
    }
    return out;
  }
  window.addEventListener("load", () => {
    walk()
      .catch((err) => ({ error: String(err) }))
      .then((out) => {
        const pre = document.createElement("pre");
        pre.id = "%(id)s";
        pre.textContent = JSON.stringify(out);
        document.body.appendChild(pre);
      });
  });
})();
</script>
"""

# Appended to a copy of the report: opens one result as its eye button does.
SHOW_SCRIPT = """
<script>
window.addEventListener("load", () => {
  setTimeout(() => {
    const path = %(path)s;
    app.showCategory(%(category)s);
    app.setView({ navbarMode: "resultinfo", resultPath: path, content: "img",
                  contentPath: results[path].data_uri });
  }, 500);
});
</script>
"""


@dataclass(frozen=True)
class Entry:
    """An output the workflow marks for the report."""

    rule: str
    path: str  # relative to the repository, as the report names it
    caption: Path
    category: str


def report_entries() -> list[Entry]:
    """Every output marked with report() in the workflow (Snakemake's API: the rules' output
    flags) that exists after the demo run, wildcards expanded over the files on disk."""
    from snakemake.io import glob_wildcards
    from workflow_api import parsed_rules

    entries = []
    with parsed_rules() as rules:
        for rule in rules.values():
            for output in rule.output:
                flag = output.flags.get("report")
                if flag is None:
                    continue
                pattern = str(output)
                if output.get_wildcard_names():
                    found = glob_wildcards(str(ROOT / pattern))
                    names = found._fields
                    paths = [
                        pattern.format(**dict(zip(names, values))) for values in zip(*found)
                    ]
                else:
                    paths = [pattern]
                caption = Path(flag.caption.get_path_or_uri(secret_free=True)) if flag.caption else None
                entries += [
                    Entry(rule.name, path, caption, flag.category or "Other")
                    for path in paths
                    if (ROOT / path).exists()
                ]
    return sorted(entries, key=lambda e: e.path)


def caption_fragments(caption: Path) -> list[str]:
    """The caption's first sentence as the page shows it: the literal text between its Jinja
    expressions, reStructuredText markup removed, in pieces of two words or more."""
    source = caption.read_text()
    first = re.split(r"(?<=[.!?])\s", source.strip(), maxsplit=1)[0]
    pieces = re.split(r"\{\{.*?\}\}|\{%.*?%\}", first, flags=re.DOTALL)
    fragments = []
    for piece in pieces:
        piece = re.sub(r"`([^`<]*?)\s*<[^>]*>`__?", r"\1", piece)  # `text <url>`_ shows text
        piece = re.sub(r":[\w-]+:`([^`]*)`", r"\1", piece)  # :role:`text`
        piece = re.sub(r"`([^`]*)`__?", r"\1", piece)  # `target`_
        piece = re.sub(r"[`*|]", "", piece)
        piece = " ".join(piece.split()).strip(" ,;:()")
        if len(piece.split()) >= 2:
            fragments.append(piece)
    return fragments


def _chromium(args: list[str], profile: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={VIRTUAL_TIME_MS}",
        *args,
    ]
    proc = subprocess.run(
        cmd, check=False, env=CLEAN_ENV, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}"
    return proc


def _with_script(report: Path, script: str, dest: Path) -> Path:
    """A copy of the report with ``script`` before its closing </body>."""
    page = report.read_text(encoding="utf-8")
    # The last one: the report's inlined libraries hold the string too.
    end = page.rfind("</body>")
    assert end > 0, f"{report}: no </body>"
    dest.write_text(page[:end] + script + page[end:], encoding="utf-8")
    return dest


def _assert_png(path: Path, min_size: tuple[int, int] = (800, 600)) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    with Image.open(path) as image:
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1], f"{path}: {image.size}"
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    # A blank or one-colour page has a handful; a rendered page, text and plots, hundreds.
    assert colours is None or len(colours) > 100, f"{path}: only {len(colours)} colours"


@pytest.fixture(scope="module")
def rendered(demo_run, tmp_path_factory):
    """The demo's report.html (rendered now from the run's outputs) and what Chromium saw."""
    if CHROMIUM is None:
        pytest.fail("chromium not found: `make setup` installs the Debian package chromium")
    report = demo_run / "report.html"
    report.unlink(missing_ok=True)
    snakemake("--report", str(report.relative_to(ROOT)), timeout=600)
    assert report.is_file()
    work = tmp_path_factory.mktemp("report")
    walk = _with_script(report, WALK_SCRIPT % {"id": CHECK_ID}, work / "walk.html")
    dom = _chromium(["--dump-dom", walk.as_uri()], work / "profile").stdout
    match = re.search(rf'<pre id="{CHECK_ID}">(.*?)</pre>', dom, flags=re.DOTALL)
    assert match, "the report's page never finished the walk (no result panel rendered)"
    seen = json.loads(html.unescape(match.group(1)))
    assert "error" not in seen, f"walking the report failed: {seen.get('error')}"
    return report, seen, work


def test_every_report_entry_and_caption_is_in_the_page(rendered):
    _, seen, _ = rendered
    entries = report_entries()
    # The demo's report holds at least the library, genotype, covariate, eQTL and QC entries.
    assert len(entries) >= 4
    assert sorted(seen["results"]) == [e.path for e in entries]
    for entry in entries:
        shown = seen["results"][entry.path]
        assert shown["category"] == entry.category, entry.path
        listing = " ".join(t for k, t in seen["listings"].items() if k.startswith(f"{entry.category} / "))
        assert Path(entry.path).name in listing, f"{entry.path} not listed under {entry.category}"
        assert entry.path in shown["nav"], entry.path
        assert entry.caption is not None, f"rule {entry.rule}: report() without a caption"
        fragments = caption_fragments(entry.caption)
        assert fragments, f"{entry.caption}: no text in its first sentence"
        for fragment in fragments:
            assert fragment in shown["nav"], (
                f"{entry.path}: caption text '{fragment}' ({entry.caption.name}) not in the page"
            )
    for category in {e.category for e in entries}:
        assert category in seen["start"], f"category {category} not on the start page"


def test_screenshots_of_the_start_page_and_of_a_plot(rendered, demo_run):
    report, seen, work = rendered
    shots = demo_run / "qc" / "report_screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    size = "--window-size=1400,1000"
    start = shots / "start_page.png"
    _chromium([size, f"--screenshot={start}", report.as_uri()], work / "profile")
    _assert_png(start)
    plots = sorted(path for path in seen["results"] if path.endswith(".png"))
    assert plots, "the report holds no plot"
    plot = plots[0]
    show = SHOW_SCRIPT % {
        "path": json.dumps(plot),
        "category": json.dumps(seen["results"][plot]["category"]),
    }
    page = _with_script(report, show, work / "plot.html")
    shot = shots / f"plot_{Path(plot).stem}.png"
    _chromium([size, f"--screenshot={shot}", page.as_uri()], work / "profile")
    _assert_png(shot)
    assert shot.read_bytes() != start.read_bytes()


class _GeneralStats(html.parser.HTMLParser):
    """The sample names of the rows of MultiQC's general statistics table."""

    def __init__(self):
        super().__init__()
        self.samples: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and attrs.get("data-table-id") == "general_stats_table":
            self.samples.append(attrs.get("data-sample-group", ""))


def test_multiqc_lists_every_library_salmon_quantified(demo_run):
    from kgpex.samples.sheets import read_tsv

    page = (demo_run / "qc" / "multiqc_report.html").read_text(encoding="utf-8")
    parser = _GeneralStats()
    parser.feed(page)
    quantified = sorted(p.name for p in (demo_run / "salmon").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert quantified
    individual = {row["library"]: row["individual"] for row in read_tsv(demo_run / "samples" / "runs.tsv")}
    assert sorted(parser.samples) == sorted(f"{lib} ({individual[lib]})" for lib in quantified)
    # Renders offline: MultiQC inlines its scripts.
    assert not re.search(r"<script[^>]+src=[\"']https?:", page)
    assert (demo_run / "qc" / "multiqc_data" / "multiqc_salmon.txt").is_file()
