"""The claims dashboard reads verdicts from result files; the book gets a generated table of contents, a page for
every chapter not run yet, and builds without running anything."""

import json

import pytest

from mobilerepro import book, claims, dashboard, experiments


@pytest.fixture()
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBILEREPRO_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def write_summary(results, experiment_id, profile, verdicts):
    experiment = experiments.get(experiment_id)
    path = results / experiment.id / profile / experiment.files["summary"]
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"verdicts": verdicts, "environment": {"git_commit": "abc123"}}))


def verdict(claim_id, scope, word, ours):
    return {"claim_id": claim_id, "claim": "tested", "provenance": "secondary", "scope": scope, "ours": ours,
            "verdict": word, "n": 1, "rule": "r"}


def test_the_dashboard_lists_every_claim_and_reads_the_verdicts_of_quick_and_full_runs(results):
    write_summary(results, "mobileone/table7", "quick", [verdict("mobileone/table7/params", "S0", "held", "2.08 M")])
    write_summary(results, "mobileone/table7", "full",
                  [verdict("mobileone/table7/params", "S1", "did not hold", "9 M")])
    write_summary(results, "mobileone/table1", "smoke", [verdict("mobileone/table1/desktop_macs_lower", "torch",
                                                                   "held", "ρ = 0.1")])
    table = dashboard.claims_table()
    assert set(table.claim) == set(claims.all_claims())
    params = table[table.claim == "mobileone/table7/params"].set_index("profile")
    assert (params.loc["quick", "scope"], params.loc["quick", "status"], params.loc["quick", "ours"]) == \
        ("S0", "held", "2.08 M")
    assert params.loc["full", "status"] == "did not hold" and params.loc["full", "commit"] == "abc123"
    table1 = table[table.claim == "mobileone/table1/desktop_macs_lower"]
    assert list(table1.status) == ["not run yet: make replicate-table1"]  # a smoke run is never shown
    assert set(table[table.claim.str.startswith("mobileone/table11_detection/")].status) == {
        "not run yet: make replicate-table11-detection"}
    assert set(table[table.claim == "mnv4/table8/offline_faster"].status) == {
        "context: the chapter shows it, no test is defined"}
    mu1, = table[table.claim == "mobileone/table13/mu1_vs_tinynet_e"].status
    assert mu1.startswith("not testable here: MobileOne-µ's architecture is not among this project's sources")


def test_chapter_times_are_read_from_the_result_files_and_summed(results):
    for chapter, seconds in (("mobileone/table7", 90.4), ("mobileone/table2", 1200.0)):
        write_summary(results, chapter, "quick", [])
        path = results / chapter / "quick" / experiments.get(chapter).files["summary"]
        path.write_text(json.dumps({**json.loads(path.read_text()), "seconds": seconds}))
    write_summary(results, "mobileone/table3", "quick", [])  # a run from before the time was recorded
    table = dashboard.times_table("quick").set_index("chapter")
    assert table.loc["make replicate-table7", "seconds"] == 90.4
    assert table.loc["make replicate-table3", "status"] == "no time recorded"
    assert table.loc["make replicate-table1", "status"] == "not run yet"
    report = dashboard.times_terminal(table.reset_index())
    assert "1 min 30 s" in report and "20 min 00 s" in report
    assert report.splitlines()[-1].split()[:5] == ["total", "(2", "of", str(len(experiments.registry())), "chapters"]
    assert report.splitlines()[-1].endswith("21 min 30 s")


def test_a_claim_whose_chapter_does_not_exist_yet_says_so(results, monkeypatch):
    unjudged = claims.parse_claim("mnv4", "table99", "faster", {"where": "Tab. 99", "text": "a constructed claim",
                                                                 "provenance": "claim"})
    every = {**claims.all_claims(), unjudged.id: unjudged}
    monkeypatch.setattr(claims, "all_claims", lambda: every)
    table = dashboard.claims_table()
    assert list(table[table.claim == "mnv4/table99/faster"].status) == ["no chapter yet"]
    assert set(table.claim) == set(every)


def test_the_dashboard_page_and_the_terminal_show_the_same_verdicts(results):
    write_summary(results, "mobileone/table7", "quick", [verdict("mobileone/table7/params", "S0", "held", "2.08 M")])
    table = dashboard.claims_table()
    page, text = dashboard.markdown(table), dashboard.terminal(table)
    assert "## MobileOne (Vasu et al., CVPR 2023)" in page and "## MobileNetV4 (Qin et al., ECCV 2024)" in page
    assert "| quick | S0 | held | 2.08 M |" in page
    assert "[held] quick / S0: 2.08 M" in text
    assert text.count("\n") + 1 >= len(set(table.claim))


def test_chapters_not_run_get_a_page_with_their_command(book_copy, results):
    missing = book.prepare()
    assert missing == list(experiments.registry())
    page = (book_copy / "chapters" / "mobileone" / "table1.md").read_text()
    assert "make replicate-table1" in page and "not been run" in page
    assert experiments.get("table1").claims["desktop_macs_lower"].tested_as in page
    assert "chapters/mnv4/table16" in (book_copy / "_toc.yml").read_text()
    assert (book_copy / "claims.md").read_text().startswith("# Claims dashboard")


def test_a_chapter_that_ran_replaces_its_page(book_copy, results):
    executed = book_copy / "chapters" / "mobileone" / "table7.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text("{}")
    book.prepare()
    assert not executed.with_suffix(".md").exists()
    assert (book_copy / "chapters" / "mobileone" / "table1.md").exists()


@pytest.mark.slow
def test_the_book_builds_with_no_chapter_run(book_copy, results):
    index = book.build()
    assert index.exists()
    html = (book_copy / "_build" / "html" / "chapters" / "mobileone" / "table1.html").read_text()
    assert "make replicate-table1" in html
    assert (book_copy / "_build" / "html" / "claims.html").exists()
