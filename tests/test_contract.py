"""The experiment contract, for every chapter in the registry: its notebook's parameters are its configuration's
fields, its notebook holds no logic, every profile configures, and its smoke run writes the files it declares with
a summary that follows the schema, verdicts from the engine on its own claims, and a report that shows them."""

import ast
import dataclasses
import json

import nbformat
import pandas as pd
import papermill
import pytest

from mobilerepro import MobileReproError, experiments, paper
from mobilerepro.profiles import PROFILE_NAMES
from mobilerepro.verdicts import VERDICT_WORDS

IDS = list(experiments.registry())
ENVIRONMENT_KEYS = {"cpu", "cpu_count", "threads", "os", "python", "packages", "git_commit", "profile", "timestamp"}
VERDICT_KEYS = {"claim_id", "claim", "provenance", "scope", "ours", "verdict", "n", "rule", "rows"}
# What a chapter notebook's code cells may do besides its parameters cell: fetch the result, then show parts of it.
# Plus the result's `*_markdown()` texts: prose the library holds once for the chapters that share it.
ALLOWED_CALLS = {"run_notebook", "show_summary", "show", "show_section", "show_figure", "show_markdown",
                 "show_solution", "globals"}


def strict_json(path):
    """JSON as the standard has it: NaN or Infinity anywhere is an error, not a number."""
    def refuse(constant):
        raise ValueError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("experiment_id", IDS)
def test_a_chapter_is_its_module_its_notebook_and_its_paper_data(experiment_id):
    from mobilerepro.results import project_root

    experiment = experiments.get(experiment_id)
    module = project_root() / "src" / "mobilerepro" / "experiments" / f"{experiment_id}.py"
    assert module.is_file() and experiment.notebook == project_root() / "notebooks" / f"{experiment_id}.ipynb"
    assert experiment.notebook.is_file()
    assert experiment.part == paper.family(experiment.paper)["title"]
    assert experiments.get(experiment.target) is experiment


CHAPTER = """
from dataclasses import dataclass
from mobilerepro.experiments._base import BaseConfig, Experiment


class Toy(Experiment):
    title = "a toy chapter"
    profiles = {{"smoke": {{}}, "quick": {{}}, "full": {{}}}}{extra}


EXPERIMENT = Toy()
"""


def toy_package(root, chapters: dict[str, str], name="toy_chapters"):
    """A package of chapters laid out as `experiments/` is: {"mnv4/table99": extra class body}."""
    import importlib
    import sys

    for chapter, extra in chapters.items():
        family, module = chapter.split("/")
        folder = root / name / family
        folder.mkdir(parents=True, exist_ok=True)
        (root / name / "__init__.py").touch()
        (folder / "__init__.py").touch()
        (folder / f"{module}.py").write_text(CHAPTER.format(extra=extra))
    (root / name / "_template.py").write_text("EXPERIMENT = None\n")
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(root))


def test_a_new_chapter_is_found_from_where_its_module_lies(tmp_path):
    found = experiments.discover(toy_package(tmp_path, {"mnv4/table99": "", "mobileone/table1b": ""}))
    assert [(e.id, e.target, e.part) for e in found] == [
        ("mobileone/table1b", "table1b", paper.family("mobileone")["title"]),
        ("mnv4/table99", "mnv4-table99", paper.family("mnv4")["title"])]


def test_a_template_or_a_module_outside_a_family_is_no_chapter():
    from mobilerepro.experiments._base import chapter_id

    assert chapter_id("mobilerepro.experiments.mnv4.table16") == "mnv4/table16"
    for module in ("mobilerepro.experiments._latency", "mobilerepro.experiments.mnv4._helpers", "table1"):
        with pytest.raises(MobileReproError, match="not a chapter module"):
            chapter_id(module)


def test_the_readers_of_a_dataset_are_the_chapters_that_declare_it():
    readers = experiments.dataset_readers()
    for experiment in experiments.registry().values():
        for path in experiment.datasets:
            assert experiment.id in readers[path.split("/")[0]]
        for folder in experiment.full_datasets:
            assert f"{experiment.id} (full)" in readers[folder]
    assert sum(len(chapters) for chapters in readers.values()) == sum(
        len({p.split("/")[0] for p in e.datasets}) + len(e.full_datasets) for e in experiments.registry().values())


def test_two_chapters_with_one_make_target_or_a_missing_profile_are_refused(tmp_path):
    with pytest.raises(RuntimeError, match="share a make target"):
        experiments.discover(toy_package(tmp_path, {"mobileone/coreml": "", "deploy/coreml": ""}, "clash"))
    missing = '\n    profiles = {"smoke": {}, "quick": {}}'
    with pytest.raises(TypeError, match="must define the profiles"):
        experiments.discover(toy_package(tmp_path, {"mobileone/table98": missing}, "unprofiled"))
    with pytest.raises(MobileReproError, match="no paper data file"):
        experiments.discover(toy_package(tmp_path, {"nowhere/table1": ""}, "unpapered"))


@pytest.mark.parametrize("experiment_id", IDS)
def test_notebook_parameters_are_the_configuration_fields(experiment_id):
    experiment = experiments.get(experiment_id)
    parameters = papermill.inspect_notebook(str(experiment.notebook))
    assert list(parameters) == experiment.parameter_names()


@pytest.mark.parametrize("experiment_id", IDS)
def test_notebook_holds_no_logic(experiment_id):
    notebook = nbformat.read(experiments.get(experiment_id).notebook, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    assert code
    for cell in code:
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, ast.For | ast.While | ast.If | ast.FunctionDef | ast.Lambda | ast.ListComp)
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                assert name in ALLOWED_CALLS or name.endswith("_markdown"), (experiment_id, cell.source)


def test_no_prose_stands_in_two_notebooks():
    """A family's sections are written once (`Result.sections`): a markdown cell copied into a second notebook is
    prose with two homes."""
    homes: dict[str, list[str]] = {}
    for experiment_id in IDS:
        notebook = nbformat.read(experiments.get(experiment_id).notebook, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                homes.setdefault(cell.source.strip(), []).append(experiment_id)
    copies = {text.splitlines()[0]: where for text, where in homes.items() if len(where) > 1}
    assert not copies


@pytest.mark.parametrize("experiment_id", IDS)
def test_a_standard_section_has_a_table_to_show(experiment_id):
    experiment = experiments.get(experiment_id)
    result = experiment.result_type.__new__(experiment.result_type)
    notebook = nbformat.read(experiment.notebook, as_version=4)
    shown = [node.args[0].value for cell in notebook.cells if cell.cell_type == "code"
             for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", "") == "show_section"]
    assert set(shown) <= set(result.section_texts())


@pytest.mark.parametrize("experiment_id", IDS)
def test_every_profile_configures_and_its_fields_are_the_notebooks(experiment_id):
    experiment = experiments.get(experiment_id)
    assert set(experiment.profiles) == set(PROFILE_NAMES)
    for profile in PROFILE_NAMES:
        config = experiment.configure(profile)
        assert config.profile == profile
        assert set(config.as_dict()) == {f.name for f in dataclasses.fields(experiment.config_type)}


@pytest.mark.parametrize("experiment_id", IDS)
def test_the_notebooks_defaults_are_the_quick_profiles(experiment_id):
    """A notebook run without parameters is `make replicate-X`: each default is None (the profile decides) or the
    quick profile's value."""
    experiment = experiments.get(experiment_id)
    quick = experiment.configure("quick").as_dict()
    for name, parameter in papermill.inspect_notebook(str(experiment.notebook)).items():
        default = ast.literal_eval(parameter["default"])
        if name != "output_dir" and default is not None:
            assert default == quick[name], (name, default, quick[name])


def test_evidence_may_name_only_the_chapters_own_claims():
    from mobilerepro.claims import ClaimError
    from mobilerepro.verdicts import Value, judge_chapter

    table1 = experiments.get("mobileone/table1").claims
    foreign = next(iter(experiments.get("mnv4/table16").claims))
    with pytest.raises(ClaimError, match="not one of this chapter's claims"):
        judge_chapter(table1, [(foreign, "torch", Value(1.0, "1.0", n=3))])


@pytest.mark.slow
@pytest.mark.parametrize("experiment_id", IDS)
def test_smoke_run_follows_the_contract(experiment_id, smoke_run):
    experiment = experiments.get(experiment_id)
    directory = smoke_run(experiment_id)
    for name in experiment.files.values():
        assert (directory / name).stat().st_size > 0, name
    assert (directory / experiment.files["figure"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    summary = strict_json(directory / experiment.files["summary"])
    assert summary["experiment"] == experiment.id and summary["profile"] == "smoke"
    assert summary["title"] == experiment.title
    assert ENVIRONMENT_KEYS <= set(summary["environment"])
    assert summary["environment"]["packages"]["torch"].startswith("2.12.1")
    assert set(summary["parameters"]) == {f.name for f in dataclasses.fields(experiment.config_type)}
    assert not pd.read_csv(directory / experiment.files["rows"]).empty

    judged = {c.id: c for c in experiment.claims.values() if c.test is not None}
    verdicts = summary["verdicts"]
    assert {v["claim_id"] for v in verdicts} == set(judged), "every judged claim gets a verdict, and only those"
    for verdict in verdicts:
        assert set(verdict) == VERDICT_KEYS
        assert verdict["verdict"] in VERDICT_WORDS and verdict["scope"] and verdict["ours"]
        assert verdict["claim"] == judged[verdict["claim_id"]].tested_as
        assert verdict["provenance"] == judged[verdict["claim_id"]].provenance

    result = experiment.load(directory)
    report = result.terminal_report()
    assert experiment.title in report
    for verdict in verdicts:
        assert f"[{verdict['verdict']:>17}] {verdict['scope']}: {verdict['ours']}" in report
    assert "SMOKE PROFILE" in result.summary_html()

    executed = nbformat.read(directory / experiment.files["notebook"], as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("admonition" in o.get("data", {}).get("text/html", "") for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)


@pytest.mark.parametrize("experiment_id", IDS)
def test_make_installs_the_optional_stacks_for_exactly_the_chapters_that_need_them(experiment_id):
    from mobilerepro import cli
    from mobilerepro.results import project_root

    experiment = experiments.get(experiment_id)
    rules = [line for line in (project_root() / "Makefile").read_text().splitlines()
             if line and not line.startswith(("\t", "#"))]
    assert not [line for line in rules if f"replicate-{experiment.target}" in line]  # read from the registry
    assert cli.main(["experiments", "--needs-dense-stack", experiment.target]) == (
        0 if experiment.needs_dense_stack else 1)
    assert cli.main(["experiments", "--needs-litert-stack", experiment.target]) == (
        0 if experiment.needs_litert_stack else 1)


def _write_run(chapter, profile: str, commit: str, **changed) -> None:
    from mobilerepro.results import write_json

    parameters = {**chapter.configure(profile).as_dict(), **changed}
    write_json(chapter.default_output_dir(profile) / chapter.files["summary"],
               {"parameters": parameters, "environment": {"git_commit": commit}})


def test_replicate_all_skips_a_chapter_run_with_this_chapter_code_and_its_profiles_parameters(tmp_path, monkeypatch,
                                                                                               capsys):
    from mobilerepro import chapter_code
    from mobilerepro.cli import main

    monkeypatch.setenv("MOBILEREPRO_RESULTS", str(tmp_path / "results"))
    # Commit 0123456789ab had this checkout's chapter code, fedcba987654 another.
    monkeypatch.setattr(chapter_code, "digest",
                        lambda chapter, commit=None: "old" if commit == "fedcba987654" else "now")
    chapters = list(experiments.registry().values())
    for chapter in chapters:
        _write_run(chapter, "quick", "0123456789ab")
    assert main(["replicate-all", "--profile", "quick"]) == 0  # nothing runs: every chapter is current
    assert capsys.readouterr().out.count("skipped") == len(chapters)

    table6 = experiments.get("mnv4/table6")
    assert table6.run_is_current("quick")
    _write_run(table6, "quick", "0123456789ab", models=["mnv4_conv_m", "mobileone_s4"])  # an exercise's variation
    assert not table6.run_is_current("quick")
    _write_run(table6, "quick", "fedcba987654")  # a commit with other chapter code
    assert not table6.run_is_current("quick")
    _write_run(table6, "quick", "0123456789ab+dirty")  # run from uncommitted code
    assert not table6.run_is_current("quick")
    _write_run(table6, "quick", "unknown")  # run outside git
    assert not table6.run_is_current("quick")
