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

from mobilerepro import experiments
from mobilerepro.profiles import PROFILE_NAMES
from mobilerepro.verdicts import VERDICT_WORDS

IDS = list(experiments.registry())
ENVIRONMENT_KEYS = {"cpu", "cpu_count", "threads", "os", "python", "packages", "git_commit", "profile", "timestamp"}
VERDICT_KEYS = {"claim_id", "claim", "provenance", "scope", "ours", "verdict", "n", "rule", "rows"}
# What a chapter notebook's code cells may do besides its parameters cell: fetch the result, then show parts of it.
# Plus the result's `*_markdown()` texts: prose the library holds once for the chapters that share it.
ALLOWED_CALLS = {"run_notebook", "show_summary", "show", "show_figure", "show_markdown", "globals"}


def strict_json(path):
    """JSON as the standard has it: NaN or Infinity anywhere is an error, not a number."""
    def refuse(constant):
        raise ValueError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_the_registry_holds_every_chapter_once():
    assert len(IDS) == len(set(IDS)) >= 13
    targets = [experiments.get(i).target for i in IDS]
    assert len(targets) == len(set(targets))
    assert all(experiments.get(t).id == i for t, i in zip(targets, IDS, strict=True))


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


@pytest.mark.parametrize("experiment_id", IDS)
def test_every_profile_configures_and_its_fields_are_the_notebooks(experiment_id):
    experiment = experiments.get(experiment_id)
    assert set(experiment.profiles) == set(PROFILE_NAMES)
    for profile in PROFILE_NAMES:
        config = experiment.configure(profile)
        assert config.profile == profile
        assert set(config.as_dict()) == {f.name for f in dataclasses.fields(experiment.config_type)}


@pytest.mark.parametrize("experiment_id", IDS)
def test_every_judged_claim_of_the_chapter_exists(experiment_id):
    experiment = experiments.get(experiment_id)
    assert all(claim.experiment == experiment.id for claim in experiment.claims.values())


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


def test_the_makefile_installs_the_dense_stack_for_exactly_the_chapters_that_need_it():
    from mobilerepro.results import project_root

    makefile = (project_root() / "Makefile").read_text().replace("\\\n", " ")
    listed = next(line for line in makefile.splitlines() if line.startswith("DENSE_TARGETS :="))
    targets = set(listed.split(":=")[1].split())
    assert targets == {f"replicate-{experiments.get(i).target}" for i in IDS if experiments.get(i).needs_dense_stack}
