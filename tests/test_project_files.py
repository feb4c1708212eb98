"""The environment files agree, the pins hold the decided stack, and the documented commands exist."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        name, _, version = line.partition("==")
        assert version, f"not pinned exactly: {line!r}"
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def requirements():
    return _pins((ROOT / "requirements.txt").read_text().splitlines())


def test_environment_yml_lists_exactly_the_pinned_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == requirements()


def test_constraints_contain_every_direct_pin_at_the_same_version():
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for name, version in requirements().items():
        assert constraints.get(name) == version, name


def test_decided_stack():
    pins = requirements()
    assert pins["torch"] == "2.12.1" and pins["torchvision"] == "0.27.1"
    assert pins["numpy"].startswith("2.3.")
    assert pins["jupyter-book"] == "1.0.4.post1"
    assert pins["coremltools"] == "9.0"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("make test") + len("make test")]
    assert "make replicate-table1" in head


def test_makefile_has_the_documented_targets():
    makefile = (ROOT / "Makefile").read_text()
    from mobilerepro.experiments import EXPERIMENTS

    replicate = [f"replicate-{experiment.replace('_', '-')}" for experiment in EXPERIMENTS]
    targets = ["help", "setup", "replicate-all", "book", "test", "lint", *replicate]
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target


def test_every_experiment_has_a_notebook_and_a_chapter():
    from mobilerepro.experiments import EXPERIMENTS

    toc = (ROOT / "book" / "_toc.yml").read_text()
    for experiment in EXPERIMENTS:
        assert (ROOT / "notebooks" / f"{experiment}.ipynb").exists()
        assert f"chapters/{experiment}" in toc


def test_book_config_does_not_execute():
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
