"""The Jupyter Book: its table of contents generated from the experiment registry, a page for every reference run
of a chapter (`reference`: the executed notebook a development machine committed, labelled with that machine), a
page for every chapter with neither a run here nor a reference run (saying what it is and the command that fills
it), the course, the claims dashboard, the machines side by side, and the build. A chapter run here is the chapter's
page; its reference runs are pages under it.

The book never executes anything: chapters are notebooks papermill executed (`make replicate-*`), and `make book`
renders whatever exists. `make replicate-all` is the way to run everything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from mobilerepro import MobileReproError, course, crosshardware, dashboard, experiments, notebook, reference
from mobilerepro.notebook import chapter_path
from mobilerepro.results import project_root, read_json

REFERENCE_PART = {"caption": "Reference", "chapters": [{"file": "claims"}, {"file": "machines"},
                                                        {"file": "conventions"}]}
TEACHING_PART = {"caption": "Teaching", "chapters": [{"file": "course"}]}


def book_dir() -> Path:
    return project_root() / "book"


def table_of_contents(reference_pages: dict[str, list[str]] | None = None) -> dict:
    """Every chapter in registry order; `reference_pages`: chapter id -> its reference-run pages (book-relative,
    without suffix). A chapter's entry is its own page, or its first reference page where it has no page of its own
    (`has_own_page`), the other reference pages as its sections."""
    reference_pages = reference_pages or {}
    parts: dict[str, list] = {}
    for experiment in experiments.registry().values():
        pages = reference_pages.get(experiment.id, [])
        own = [f"chapters/{experiment.id}"] if has_own_page(experiment) or not pages else []
        first, *sections = [*own, *pages]
        entry = {"file": first, **({"sections": [{"file": page} for page in sections]} if sections else {})}
        parts.setdefault(experiment.part, []).append(entry)
    return {"format": "jb-book", "root": "intro",
            "parts": [*({"caption": caption, "chapters": chapters} for caption, chapters in parts.items()),
                      TEACHING_PART, REFERENCE_PART]}


def has_own_page(experiment) -> bool:
    """Whether the chapter ran on this machine (its executed notebook is in the book)."""
    return chapter_path(experiment).exists()


def reference_page(experiment, machine: dict, run_folder: Path) -> Path:
    """The page of one reference run: its executed notebook, the title saying whose run it is and a note under it
    naming the machine, the commit and when, and how to run it here instead."""
    page = notebook.chapters_dir() / f"{experiment.id}--reference-{machine['id']}.ipynb"
    executed = nbformat.read(run_folder / experiment.files["notebook"], as_version=4)
    summary = read_json(run_folder / experiment.files["summary"])
    title_cell = next(cell for cell in executed.cells if cell.cell_type == "markdown")
    title, _, rest = title_cell.source.partition("\n")
    title_cell.source = f"{title} — reference run on a {reference.machine_label(machine)}\n{rest}"
    device, stamp = machine["device"], summary["environment"]
    note = nbformat.v4.new_markdown_cell("\n".join([
        "```{admonition} Reference run: not measured on the machine that built this book", ":class: note", "",
        f"These are the results this project's reference machine `{machine['id']}` wrote: {device['cpu']}, "
        f"{device['cores']} cores, {device['os']}; commit `{stamp['git_commit']}`, {stamp['timestamp']}, profile "
        f"`{summary['parameters']['profile']}`. Its times are that machine's. Run the chapter on yours with", "",
        f"    make replicate-{experiment.target}", "",
        "and `make book` again: your run becomes this chapter's page, this one stays beside it.", "```"]))
    executed.cells.insert(executed.cells.index(title_cell) + 1, note)
    page.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, page)
    return page

def placeholder(experiment) -> str:
    """The page of a chapter that has not run here yet."""
    chapter_claims = [c for c in experiment.claims.values() if c.test is not None]
    lines = [f"# {experiment.title}", "", f"*{experiment.description}.*", "",
             "```{note}", "This chapter has not been run on the machine that built this book. Run it with", "",
             f"    make replicate-{experiment.target}", "",
             "(quick profile; `PROFILE=full` for the paper's protocol), then `make book` again.", "```", ""]
    if chapter_claims:
        lines += ["The claims it judges:", ""]
        lines += [f"- {c.tested_as} ({c.where}, *{c.provenance}*)" for c in chapter_claims]
    return "\n".join(lines) + "\n"


def prepare() -> list[str]:
    """Write the table of contents, the reference-run pages, the placeholders, the dashboard, the course and the
    machines pages; returns the chapters with neither a run here nor a reference run."""
    for stale in notebook.chapters_dir().glob("**/*--reference-*.ipynb"):
        stale.unlink()
    missing, reference_pages = [], {}
    for experiment in experiments.registry().values():
        pages = [reference_page(experiment, machine, folder) for machine, folder in reference.runs(experiment)]
        reference_pages[experiment.id] = [str(page.relative_to(book_dir()).with_suffix("")) for page in pages]
        placeholder_page = chapter_path(experiment).with_suffix(".md")
        if has_own_page(experiment) or pages:
            placeholder_page.unlink(missing_ok=True)
            continue
        missing.append(experiment.id)
        placeholder_page.parent.mkdir(parents=True, exist_ok=True)
        placeholder_page.write_text(placeholder(experiment))
    (book_dir() / "_toc.yml").write_text(
        "# Generated by `python -m mobilerepro book` from the experiment registry; do not edit.\n"
        + yaml.safe_dump(table_of_contents(reference_pages), sort_keys=False))
    (book_dir() / "claims.md").write_text(dashboard.markdown(dashboard.claims_table()))
    (book_dir() / "course.md").write_text(course.markdown())
    (book_dir() / "machines.md").write_text(crosshardware.markdown(book_dir() / "machines.png"))
    return missing


def build() -> Path:
    missing = prepare()
    if missing:
        print(f">> {len(missing)} chapter(s) not run yet get a page saying how to run them: {', '.join(missing)}")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    completed = subprocess.run([str(jupyter_book), "build", str(book_dir()), "--builder", "html"], check=False)
    if completed.returncode != 0:
        raise MobileReproError("jupyter-book build failed (see its output above)")
    return book_dir() / "_build" / "html" / "index.html"
