"""`make publish`: the rendered book as one folder ready to serve as a static site (GitHub Pages or any web server),
its links checked and its pages opened in a real browser.

Two checks, each a list of one-line problems (nothing is published while there is one):

- **links**: every `href` and `src` of every page that points inside the site names a file that exists there, and
  a `#fragment` names an element of that page. Links that leave the site are counted, never fetched: nothing goes
  on the network at run time.
- **browser**: headless Chromium (the Debian package `chromium`) loads every page with a small script that
  reports what a reader sees — the images that did not load, the tables cut off by their
  container or by the window, and on a chapter that has run its summary box and at least one figure. The script
  goes into a scratch copy of the site, never into the published one. Without Chromium this check is skipped with
  the command that installs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mobilerepro import MobileReproError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# The window a reader's laptop gives the page; a table wider than the article must scroll, never be cut.
WINDOW = (1400, 900)
REPORT_ID = "mobilerepro-browser-report"
SUMMARY_CLASS = "summary-box"
# The script the browser runs on every page once it has loaded; it appends its findings to the page as JSON.
_PAGE_PROBE = """
<script>
window.addEventListener('load', () => {
  const article = document.querySelector('article') || document.querySelector('main') || document.body;
  const clipped = (table) => {
    const right = table.getBoundingClientRect().right;
    for (let box = table.parentElement; box && box !== document.body; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') return false;  // the reader scrolls the table
      if ((overflow === 'hidden' || overflow === 'clip') && box.getBoundingClientRect().right + 1 < right) return true;
    }
    return right > window.innerWidth + 1;
  };
  const images = [...article.querySelectorAll('img')];
  const report = {
    broken_images: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    figures: images.filter(i => i.complete && i.naturalWidth > 0 && i.naturalWidth >= 200).length,
    summary_boxes: article.querySelectorAll('.SUMMARY_CLASS').length,
    cut_tables: [...article.querySelectorAll('table')].filter(clipped).length,
    scrolling_tables: [...article.querySelectorAll('table')].filter(t => {
      const box = t.parentElement; return box && box.scrollWidth > box.clientWidth + 1; }).length,
    page_wider_than_window: document.documentElement.scrollWidth > window.innerWidth + 1,
  };
  const out = document.createElement('script');
  out.type = 'application/json'; out.id = 'REPORT_ID'; out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>
""".replace("SUMMARY_CLASS", SUMMARY_CLASS).replace("REPORT_ID", REPORT_ID)


class _PageLinks(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("href", "src"):
            if attributes.get(name) and not (tag == "link" and attributes.get("rel") in ("preconnect", "dns-prefetch")):
                self.links.append(attributes[name])
        for name in ("id", "name"):
            if attributes.get(name):
                self.ids.add(attributes[name])


@dataclass
class LinkReport:
    pages: int = 0
    internal: int = 0
    external: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def _parse(page: Path) -> _PageLinks:
    parser = _PageLinks()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return parser


def pages_of(site: Path) -> list[Path]:
    """The site's pages; the theme's template fragments under _static/ are not pages."""
    return sorted(p for p in site.rglob("*.html") if p.relative_to(site).parts[0] != "_static")


def check_links(site: Path) -> LinkReport:
    """Every link inside the site resolves to a file, and every fragment to an element of its page."""
    site = site.resolve()
    report = LinkReport()
    parsed: dict[Path, _PageLinks] = {}

    def page_of(path: Path) -> _PageLinks:
        if path not in parsed:
            parsed[path] = _parse(path)
        return parsed[path]

    for page in pages_of(site):
        report.pages += 1
        for link in page_of(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                if parts.scheme in ("http", "https"):
                    report.external.add(link)
                continue
            report.internal += 1
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)}: {link}"
            if not target.is_relative_to(site):
                report.problems.append(f"{where} points outside the site")
            elif not target.exists():
                report.problems.append(f"{where} names a file that is not there")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in page_of(target).ids:
                report.problems.append(f"{where} names an anchor its page does not have")
    return report


def browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def _probe(executable: str, page: Path, timeout: float = 60) -> dict:
    try:
        completed = subprocess.run(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"the page did not load within {timeout:g} s"}
    marker = f'id="{REPORT_ID}">'
    start = completed.stdout.find(marker)
    if start < 0:
        last = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        return {"error": f"the page did not finish loading (the browser said: {last})"}
    end = completed.stdout.find("</script>", start)
    return json.loads(completed.stdout[start + len(marker):end])


def browser_problems(page: Path, site: Path, report: dict, chapter_ran: bool) -> list[str]:
    """What a reader would see wrong on one page, one line each."""
    name = str(page.relative_to(site))
    if "error" in report:
        return [f"{name}: {report['error']}"]
    problems = [f"{name}: image {src} did not load" for src in report["broken_images"]]
    if report["cut_tables"]:
        problems.append(f"{name}: {report['cut_tables']} table(s) cut off at a {WINDOW[0]} px window")
    if report["page_wider_than_window"]:
        problems.append(f"{name}: the page is wider than a {WINDOW[0]} px window")
    if chapter_ran and not report["summary_boxes"]:
        problems.append(f"{name}: a chapter that ran shows no summary box")
    if chapter_ran and not report["figures"]:
        problems.append(f"{name}: a chapter that ran shows no figure")
    return problems


def check_in_browser(site: Path, pages: list[Path], chapters_run: set[Path], executable: str,
                     progress: bool = True) -> tuple[dict[str, dict], list[str]]:
    """Open each page (paths inside `site`) in the browser; returns each page's report and the problems."""
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix="mobilerepro-site-") as scratch:
        copy = Path(scratch) / "site"
        shutil.copytree(site, copy)
        for page in pages:
            probed = copy / page.relative_to(site)
            probed.write_text(probed.read_text(encoding="utf-8").replace("</body>", _PAGE_PROBE + "</body>", 1),
                              encoding="utf-8")
        with ThreadPoolExecutor(max_workers=2) as pool:
            reports = list(tqdm(pool.map(lambda p: _probe(executable, copy / p.relative_to(site)), pages),
                                total=len(pages), desc="pages in the browser", disable=not progress))
    by_page = {str(p.relative_to(site)): r for p, r in zip(pages, reports, strict=True)}
    problems = [line for page, report in zip(pages, reports, strict=True)
                for line in browser_problems(page, site, report, page in chapters_run)]
    return by_page, problems


def chapters_that_ran(site: Path) -> set[Path]:
    """The chapter pages this build rendered from an executed notebook, read from the sources the build kept (a
    chapter not run is rendered from its Markdown placeholder)."""
    sources = site / "_sources"
    return {(site / source.relative_to(sources)).with_suffix(".html")
            for source in (sources / "chapters").rglob("*.ipynb")}


def publish(destination: Path, build: bool = True, progress: bool = True) -> dict:
    """Build the book, check it, and write it to `destination` (replaced whole, only when every check passed).
    Returns what was checked."""
    from mobilerepro import book

    html = book.build().parent if build else book.book_dir() / "_build" / "html"
    if not (html / "index.html").exists():
        raise MobileReproError(f"no rendered book at {html}: run `make book` first")
    links = check_links(html)
    problems = list(links.problems)
    pages = [p for p in pages_of(html) if p.name not in ("search.html", "genindex.html")]
    executable, ran = browser(), chapters_that_ran(html)
    browser_reports: dict[str, dict] = {}
    if executable:
        browser_reports, found = check_in_browser(html, pages, ran, executable, progress)
        problems += found
    if problems:
        shown = "\n".join(f"  {line}" for line in problems[:40])
        more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        raise MobileReproError(f"{len(problems)} problem(s) in the rendered book; nothing published:\n{shown}{more}")

    destination = destination.resolve()
    staging = destination.with_name(destination.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(html, staging, ignore=shutil.ignore_patterns(".buildinfo", ".doctrees"))
    (staging / ".nojekyll").write_text("")  # GitHub Pages would otherwise hide the _static/ folder
    shutil.rmtree(destination, ignore_errors=True)
    staging.rename(destination)
    return {"site": str(destination), "pages": links.pages, "internal_links": links.internal,
            "external_links": len(links.external), "browser": executable,
            "pages_opened": len(browser_reports),
            "chapters_with_results": len(ran),
            "scrolling_tables": sum(r.get("scrolling_tables", 0) for r in browser_reports.values())}
