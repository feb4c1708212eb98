"""The reference run: saved all-or-nothing from clean runs, every committed file checked against its checksum and
the commit it names, a chapter whose code changed since caught, and the book renders a chapter from it, labelled."""

import json
import subprocess

import nbformat
import pytest
import yaml

from mobilerepro import MobileReproError, book, chapter_code, dashboard, experiments, reference
from mobilerepro.results import project_root, write_json

CHAPTER = "mobileone/table7"
HEAD = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=project_root(), capture_output=True,
                      text=True).stdout.strip()


@pytest.fixture()
def folders(tmp_path, monkeypatch):
    """Empty results and reference folders; the chapter code of HEAD is this checkout's, of any other commit not."""
    monkeypatch.setenv("MOBILEREPRO_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("MOBILEREPRO_REFERENCE", str(tmp_path / "reference"))
    monkeypatch.setattr(chapter_code, "digest", lambda chapter, commit=None: "now" if commit in (None, HEAD) else "old")
    return tmp_path


def write_run(chapter_id: str, commit: str = HEAD, **changed) -> None:
    """A quick run as the pipeline leaves it: summary, rows, figure, executed notebook."""
    chapter = experiments.get(chapter_id)
    directory = chapter.default_output_dir("quick")
    parameters = json.loads(json.dumps({**chapter.configure("quick").as_dict(), **changed}, default=str))
    write_json(directory / chapter.files["summary"], {
        "parameters": parameters, "seconds": 12.5, "verdicts": [
            {"claim_id": f"{chapter.id}/params", "claim": "c", "provenance": "secondary", "scope": "S0",
             "ours": "2.1 M", "verdict": "held", "n": 1, "rule": "r"}],
        "environment": {"git_commit": commit, "timestamp": "2026-12-07T22:00:00+00:00"}})
    (directory / chapter.files["rows"]).write_text("variant,params\ns0,2.1\n")
    (directory / chapter.files["figure"]).write_bytes(b"\x89PNG not really")
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {chapter.title}\n\nWhat it asks."),
                                               nbformat.v4.new_code_cell("result.show_summary()")])
    nbformat.write(executed, directory / chapter.files["notebook"])


def test_a_saved_reference_checks_clean_and_any_tampering_or_code_change_is_caught(folders, monkeypatch):
    write_run(CHAPTER)
    folder = reference.save([CHAPTER], machine="dev box")
    assert folder.name == "dev-box" and reference.check(folder) == []
    manifest = json.loads((folder / reference.MANIFEST).read_text())
    assert manifest["chapters"][CHAPTER]["commit"] == HEAD and manifest["machine"]["id"] == "dev-box"

    rows = folder / CHAPTER / "quick" / "table7.csv"
    rows.write_text(rows.read_text().replace("2.1", "2.0"))
    (folder / CHAPTER / "quick" / "extra.png").write_bytes(b"")
    problems = reference.check(folder)
    assert any("table7.csv is not the file its run wrote" in line for line in problems)
    assert any("extra.png: not listed in the manifest" in line for line in problems)

    monkeypatch.setattr(chapter_code, "digest", lambda chapter, commit=None: "edited" if commit is None else "now")
    assert any("its code changed since the reference run" in line for line in reference.check(folder))


def test_a_run_that_cannot_be_a_reference_saves_nothing(folders):
    write_run(CHAPTER)
    write_run("mobileone/table1", commit=f"{HEAD}+dirty")
    with pytest.raises(MobileReproError, match="names no clean commit"):
        reference.save([CHAPTER, "mobileone/table1"])
    write_run("mobileone/table1", threads=2)
    with pytest.raises(MobileReproError, match="changed the profile's parameters"):
        reference.save([CHAPTER, "mobileone/table1"])
    write_run("mobileone/table1", commit="fedcba987654")
    with pytest.raises(MobileReproError, match="its code changed since the run"):
        reference.save([CHAPTER, "mobileone/table1"])
    assert not reference.machine_folders()  # all or nothing: table7 alone could have been saved, and was not
    write_run("pipeline/lite0_eval")
    with pytest.raises(MobileReproError, match="show images of its dataset"):
        reference.save(["pipeline/lite0_eval"])


def test_the_book_renders_a_chapter_from_its_reference_run_labelled_with_the_machine(folders, book_copy):
    write_run(CHAPTER)
    reference.save([CHAPTER], machine="dev box")
    (book_copy / "chapters" / "mobileone").mkdir(parents=True)
    stale = book_copy / "chapters" / "mobileone" / "table3--reference-gone.ipynb"
    stale.write_text("{}")

    missing = book.prepare()
    assert CHAPTER not in missing and len(missing) == len(experiments.registry()) - 1 and not stale.exists()
    page = book_copy / "chapters" / "mobileone" / "table7--reference-dev-box.ipynb"
    cells = nbformat.read(page, as_version=4).cells
    cores = reference.this_machine()["device"]["cores"]
    assert cells[0].source.startswith(f"# {experiments.get(CHAPTER).title} — reference run on a {cores}-core ")
    assert "Reference run: not measured on the machine that built this book" in cells[1].source
    assert f"commit `{HEAD}`" in cells[1].source and "make replicate-table7" in cells[1].source
    assert not (book_copy / "chapters" / "mobileone" / "table7.md").exists()
    toc = (book_copy / "_toc.yml").read_text()
    assert "file: chapters/mobileone/table7--reference-dev-box\n" in toc
    table = dashboard.claims_table()
    assert f"quick · reference {reference.machine_label(reference.this_machine())}" in set(table.profile)

    own = book_copy / "chapters" / "mobileone" / "table7.ipynb"  # a run here: its page, the reference under it
    own.write_text("{}")
    book.prepare()
    toc = yaml.safe_load((book_copy / "_toc.yml").read_text())
    chapter_entry = next(entry for part in toc["parts"] for entry in part["chapters"]
                         if entry["file"] == "chapters/mobileone/table7")
    assert chapter_entry["sections"] == [{"file": "chapters/mobileone/table7--reference-dev-box"}]


@pytest.mark.parametrize("chapter_id", list(experiments.registry()))
def test_a_chapters_code_digest_follows_its_own_files_only(chapter_id, monkeypatch):
    chapter = experiments.get(chapter_id)
    now = chapter_code.digest(chapter)
    assert now is not None and len(now) == 16
    original = chapter_code.read_at
    family, name = chapter.id.split("/")
    notebook_file = next(p for p in chapter_code.source_paths(chapter) if p.endswith(".ipynb"))

    def edited(section_or_path):
        def read_at(commit, path):
            content = original(commit, path)
            if section_or_path == "notebook" and path == notebook_file:
                return content + b" "
            if section_or_path != "notebook" and path.startswith(str(chapter_code.PAPER_DATA)) and content:
                data = yaml.load(content, Loader=yaml.CSafeLoader)
                if (data.get("paper") or {}).get("id") == family:
                    data[section_or_path] = {"edited": True}
                    return yaml.dump(data, Dumper=yaml.CSafeDumper).encode()
            return content
        return read_at

    monkeypatch.setattr(chapter_code, "read_at", edited("notebook"))
    assert chapter_code.digest(chapter) != now
    monkeypatch.setattr(chapter_code, "read_at", edited(name))
    assert chapter_code.digest(chapter) != now
    siblings = [e.name for e in experiments.registry().values() if e.paper == family and e.id != chapter.id]
    if siblings:
        monkeypatch.setattr(chapter_code, "read_at", edited(siblings[0]))
        assert chapter_code.digest(chapter) == now


def test_the_chapter_code_of_head_is_this_checkouts_where_its_files_are_unchanged():
    paths = [*{p for e in experiments.registry().values() for p in chapter_code.source_paths(e)},
             str(chapter_code.PAPER_DATA)]
    if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *paths], cwd=project_root()).returncode != 0:
        pytest.skip("chapter files differ from HEAD in this work tree (a clean clone has none)")
    for chapter in experiments.registry().values():
        assert chapter_code.unchanged_since(chapter, HEAD), chapter.id


@pytest.mark.parametrize("folder", sorted(p.parent for p in (project_root() / "reference").glob("*/manifest.json")),
                         ids=lambda folder: folder.name)
def test_every_committed_reference_run_is_what_its_runs_wrote_with_this_checkouts_chapter_code(folder):
    assert reference.check(folder) == []


@pytest.mark.slow
def test_the_rendered_book_shows_the_reference_run_as_the_chapters_page(folders, book_copy):
    write_run(CHAPTER)
    reference.save([CHAPTER], machine="dev box")
    book.build()
    html = (book_copy / "_build" / "html" / "chapters" / "mobileone" / "table7--reference-dev-box.html").read_text()
    assert "— reference run on a " in html and "not measured on the machine that built this book" in html
    assert "table7--reference-dev-box.html" in (book_copy / "_build" / "html" / "intro.html").read_text()  # the sidebar


@pytest.mark.parametrize(("cpu", "label"), [("Intel(R) Xeon(R) Processor @ 2.60GHz", "2-core Intel Xeon"),
                                             ("AMD EPYC 7B13 64-Core Processor", "2-core AMD EPYC 7B13"),
                                             ("Apple M2", "2-core Apple M2")])
def test_a_reference_machine_is_named_for_a_reader(cpu, label):
    assert reference.machine_label({"device": {"cpu": cpu, "cores": 2}}) == label


def test_the_machines_page_sets_each_runs_verdicts_side_by_side(folders):
    from mobilerepro import crosshardware

    write_run(CHAPTER)
    reference.save([CHAPTER], machine="dev box")
    summary = experiments.get(CHAPTER).default_output_dir("quick") / "table7.json"
    mine = json.loads(summary.read_text())
    mine["verdicts"][0]["verdict"] = "did not hold"
    summary.write_text(json.dumps(mine))  # this machine's own quick run judged the same claim otherwise

    verdicts = crosshardware.verdicts_by_machine()
    label = reference.machine_label(reference.this_machine())
    assert verdicts.loc[(f"{CHAPTER}/params", "S0")].to_dict() == {"quick": "did not hold",
                                                                   f"quick · reference {label}": "held"}
    assert set(verdicts.index.get_level_values("claim")) == {f"{CHAPTER}/params"}


def test_the_command_line_saves_and_checks_with_one_line_per_problem(folders, capsys):
    from mobilerepro.cli import main

    write_run(CHAPTER)
    assert main(["reference", "save", "table7", "--machine", "dev box"]) == 0
    assert main(["reference", "check"]) == 0
    assert f"dev-box: {CHAPTER}\n" in capsys.readouterr().out
    (folders / "reference" / "dev-box" / CHAPTER / "quick" / "table7.csv").write_text("tampered\n")
    assert main(["reference", "check"]) == 1
    assert "dev-box: mobileone/table7: mobileone/table7/quick/table7.csv is not the file its run wrote" in \
        capsys.readouterr().err
    assert main(["reference", "save", "table1"]) == 2  # no run of it here: a one-line error
