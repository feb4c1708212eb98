"""`make publish`: the link check finds every broken link inside the site, the browser check finds what a reader
would see wrong, and nothing is published while either has a problem."""

import pytest

from mobilerepro import MobileReproError, publish

PAGE = "<html><head><title>{title}</title></head><body><article>{body}</article></body></html>"


def write_site(root, pages: dict[str, str]):
    for name, body in pages.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PAGE.format(title=name, body=body))
    return root


def test_links_that_resolve_give_no_problem(tmp_path):
    site = write_site(tmp_path, {
        "index.html": "<a href='chapters/one.html#result'>one</a><a href='#top'>top</a><span id='top'></span>"
                      "<a href='https://example.org/paper'>paper</a><img src='_images/figure.png'>",
        "chapters/one.html": "<h2 id='result'>Result</h2><a href='../index.html'>back</a><a href='../'>home</a>",
    })
    (site / "_images").mkdir()
    (site / "_images" / "figure.png").write_bytes(b"png")
    report = publish.check_links(site)
    assert report.problems == []
    assert report.pages == 2 and report.internal == 5 and report.external == {"https://example.org/paper"}


@pytest.mark.parametrize("link, problem", [
    ("chapters/two.html", "names a file that is not there"),
    ("chapters/one.html#missing", "names an anchor its page does not have"),
    ("../outside.html", "points outside the site"),
])
def test_every_kind_of_broken_link_is_one_line_naming_page_and_link(tmp_path, link, problem):
    site = write_site(tmp_path / "site", {"index.html": f"<a href='{link}'>x</a>",
                                          "chapters/one.html": "<h2 id='result'>Result</h2>"})
    (tmp_path / "outside.html").write_text("")
    assert publish.check_links(site).problems == [f"index.html: {link} {problem}"]


def test_the_themes_template_fragments_are_not_pages(tmp_path):
    site = write_site(tmp_path, {"index.html": "", "_static/macros.html": "<a href=\"{{ pathto('x') }}\">x</a>"})
    assert publish.check_links(site).problems == []


@pytest.mark.parametrize("report, chapter_ran, expected", [
    ({"broken_images": ["a.png"], "cut_tables": 0, "page_wider_than_window": False, "summary_boxes": 1,
      "figures": 1}, True, ["chapters/x.html: image a.png did not load"]),
    ({"broken_images": [], "cut_tables": 2, "page_wider_than_window": True, "summary_boxes": 1, "figures": 1},
     False, [f"chapters/x.html: 2 table(s) cut off at a {publish.WINDOW[0]} px window",
             f"chapters/x.html: the page is wider than a {publish.WINDOW[0]} px window"]),
    ({"broken_images": [], "cut_tables": 0, "page_wider_than_window": False, "summary_boxes": 0, "figures": 0},
     True, ["chapters/x.html: a chapter that ran shows no summary box",
            "chapters/x.html: a chapter that ran shows no figure"]),
    ({"broken_images": [], "cut_tables": 0, "page_wider_than_window": False, "summary_boxes": 0, "figures": 0},
     False, []),
])
def test_what_a_reader_would_see_wrong_is_one_line_each(tmp_path, report, chapter_ran, expected):
    assert publish.browser_problems(tmp_path / "chapters" / "x.html", tmp_path, report, chapter_ran) == expected


def test_a_chapter_ran_when_the_build_rendered_it_from_a_notebook(tmp_path):
    for source in ("chapters/mnv4/table2.ipynb", "chapters/mnv4/table3.md"):
        (tmp_path / "_sources" / source).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "_sources" / source).write_text("")
    assert publish.chapters_that_ran(tmp_path) == {tmp_path / "chapters" / "mnv4" / "table2.html"}


def test_nothing_is_published_while_a_link_is_broken(tmp_path, monkeypatch):
    from mobilerepro import book

    html = write_site(tmp_path / "book" / "_build" / "html", {"index.html": "<a href='gone.html'>x</a>"})
    monkeypatch.setattr(book, "book_dir", lambda: tmp_path / "book")
    monkeypatch.setattr(publish, "browser", lambda: None)
    with pytest.raises(MobileReproError, match=r"1 problem(?s:.)*index.html: gone.html names a file"):
        publish.publish(tmp_path / "site", build=False)
    assert not (tmp_path / "site").exists()
    (html / "gone.html").write_text(PAGE.format(title="gone", body=""))
    checked = publish.publish(tmp_path / "site", build=False)
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / ".nojekyll").exists()
    assert checked["pages"] == 2 and checked["browser"] is None


@pytest.mark.slow
def test_the_browser_sees_a_cut_table_a_missing_image_and_a_chapters_summary_and_figure(tmp_path):
    executable = publish.browser()
    if executable is None:
        pytest.skip("no Chromium here (apt-get install chromium)")
    from PIL import Image

    site = tmp_path / "site"
    wide_row = "<tr>" + "".join(f"<td>column {i} of a wide table</td>" for i in range(60)) + "</tr>"
    write_site(site, {
        "chapters/ran.html": f"<div class='admonition {publish.SUMMARY_CLASS}'>verdicts</div>"
                             "<img src='figure.png'><div style='overflow-x: auto'><table>"
                             + wide_row + "</table></div>",
        "chapters/cut.html": "<img src='missing.png'><div style='width: 600px; overflow: hidden'><table>"
                             + wide_row + "</table></div>",
    })
    Image.new("RGB", (640, 480), "white").save(site / "chapters" / "figure.png")
    pages = sorted(site.rglob("*.html"))
    reports, problems = publish.check_in_browser(site, pages, set(pages), executable, progress=False)
    assert reports["chapters/ran.html"]["summary_boxes"] == 1 and reports["chapters/ran.html"]["figures"] == 1
    assert reports["chapters/ran.html"]["scrolling_tables"] == 1 and reports["chapters/ran.html"]["cut_tables"] == 0
    assert problems == ["chapters/cut.html: image missing.png did not load",
                        f"chapters/cut.html: 1 table(s) cut off at a {publish.WINDOW[0]} px window",
                        "chapters/cut.html: a chapter that ran shows no summary box",
                        "chapters/cut.html: a chapter that ran shows no figure"]
    assert "mobilerepro-browser-report" not in (site / "chapters" / "ran.html").read_text()
