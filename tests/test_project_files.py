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


def test_ci_runs_the_readme_test_command_and_accepts_no_tests_loudly():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and '"$rc" -eq 5' in ci
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("make test") + len("make test")]
    assert "make replicate-table1" in head


def test_makefile_has_one_pattern_rule_for_every_chapter_and_keeps_the_fixed_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("help", "setup", "replicate-all", "book", "test", "test-fast", "lint"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    assert re.search(r"^replicate-%:", makefile, re.MULTILINE)
    assert not re.search(r"^replicate-table1:", makefile, re.MULTILINE), "chapters need no rule of their own"


def test_every_target_a_user_types_reaches_its_chapter():
    from mobilerepro import experiments

    for experiment in experiments.registry().values():
        # `make replicate-<target>` runs `python -m mobilerepro replicate <target>`
        assert experiments.get(experiment.target) is experiment
    for kept in ("table1", "table2", "table3", "table5", "table6", "table7", "table8", "table9", "training-recipe",
                 "lite0-eval", "mnv4-table2", "mnv4-table6", "mnv4-table16"):
        experiments.get(kept)


def test_the_readmes_chapter_table_is_the_registry_in_book_order():
    from mobilerepro import experiments

    section = (ROOT / "README.md").read_text().split("## Targets", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `replicate-([a-z0-9-]+)` \|", section, re.MULTILINE)
    assert listed == [e.target for e in experiments.registry().values()] + ["all"]


def test_every_chapter_is_in_the_generated_table_of_contents():
    from mobilerepro import book, experiments

    toc = book.table_of_contents()
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    assert files[-4:] == ["course", "claims", "machines", "conventions"]
    assert files[:-4] == [f"chapters/{experiment_id}" for experiment_id in experiments.registry()]
    for experiment in experiments.registry().values():
        assert experiment.notebook.exists()


def test_book_config_does_not_execute():
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"


def test_the_readme_types_no_measured_time_or_throughput():
    """Measured numbers are result files (`python -m mobilerepro times` reads the chapters' own); a time, speed or
    size typed into the README goes stale and is no measurement."""
    readme = (ROOT / "README.md").read_text()
    typed = re.findall(r"\b\d+(?:\.\d+)? ?(?:s|min|ms|h|img/s|GiB|MiB|kB)\b", readme)
    assert not typed, typed


def test_litert_environment_is_pinned_apart_with_the_decided_torch():
    """LiteRT cannot share .venv (litert-torch's xdsl needs typing-extensions < 4.13): its own pins, the same torch."""
    direct = _pins((ROOT / "requirements-litert.txt").read_text().splitlines())
    resolved = _pins((ROOT / "constraints-litert.txt").read_text().splitlines())
    for name, version in direct.items():
        assert resolved.get(name) == version, name
    assert direct["torch"] == requirements()["torch"] and direct["numpy"] == requirements()["numpy"]
