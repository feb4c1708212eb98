"""The experiment registry: every module `<family>/<name>.py` of this package that defines `EXPERIMENT` is the
chapter `<family>/<name>`.

A family folder (`mobileone/`, `mnv4/`, `pipeline/`, `deploy/`) mirrors `notebooks/` and has a paper data file whose
`paper:` header names the book part, its place and the make-target prefix; modules and folders whose name starts
with an underscore are the shared templates. The CLI, the Makefile's pattern rule, `make help`, the book's table of
contents, the claims dashboard, the data preparation and the contract tests all read this registry.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from functools import cache

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._base import Experiment, Result
from mobilerepro.profiles import PROFILE_NAMES


def _book_position(experiment: Experiment) -> tuple:
    """The family's place, then the chapter's name in natural order (table2 before table10)."""
    name = [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", experiment.name)]
    return paper.family(experiment.paper)["order"], name


def discover(package=None) -> list[Experiment]:
    """Every chapter below `package` (this one by default), in book order; a chapter without every profile, or two
    with one target, is refused."""
    package = package or importlib.import_module(__name__)
    found = []
    for family in pkgutil.iter_modules(package.__path__):
        if not family.ispkg or family.name.startswith("_"):
            continue
        folder = importlib.import_module(f"{package.__name__}.{family.name}")
        for chapter in pkgutil.iter_modules(folder.__path__):
            if chapter.name.startswith("_"):
                continue
            experiment = getattr(importlib.import_module(f"{folder.__name__}.{chapter.name}"), "EXPERIMENT", None)
            if isinstance(experiment, Experiment):
                if set(experiment.profiles) != set(PROFILE_NAMES):
                    raise TypeError(f"{experiment.id} must define the profiles {', '.join(PROFILE_NAMES)}")
                found.append(experiment)
    found.sort(key=_book_position)
    targets = [e.target for e in found]
    if len(set(targets)) != len(targets):
        raise RuntimeError(f"two chapters share a make target: {sorted(t for t in targets if targets.count(t) > 1)}")
    return found


@cache
def registry() -> dict[str, Experiment]:
    """Every experiment by id, in book order."""
    return {e.id: e for e in discover()}


def dataset_readers() -> dict[str, list[str]]:
    """The chapters that read each dataset folder under the data root (the first component of what a chapter's
    `datasets` name), a full-profile reader marked `(full)`: what `make data` lists and prepares by default."""
    readers: dict[str, list[str]] = {}
    for experiment in registry().values():
        for folder in dict.fromkeys(path.split("/")[0] for path in experiment.datasets):
            readers.setdefault(folder, []).append(experiment.id)
        for folder in experiment.full_datasets:
            readers.setdefault(folder, []).append(f"{experiment.id} (full)")
    return readers


def _normalised(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def get(name: str) -> Experiment:
    """An experiment by id (`mobileone/table1`) or by target (`table1`, `mnv4-table16`)."""
    experiments = registry()
    if name in experiments:
        return experiments[name]
    by_target = {_normalised(e.target): e for e in experiments.values()}
    if _normalised(name) in by_target:
        return by_target[_normalised(name)]
    names = [*experiments, *(e.target for e in experiments.values())]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise MobileReproError(f"unknown experiment {name!r}{hint} (`python -m mobilerepro experiments` lists them)")


def run_notebook(experiment_id: str, namespace: dict) -> Result:
    """What a chapter notebook's one code cell does: configure from its parameters (papermill has injected them into
    `namespace`), run, and read the result back."""
    experiment = get(experiment_id)
    parameters = {name: namespace[name] for name in experiment.parameter_names()}
    output_dir = parameters.pop("output_dir")
    config = experiment.configure(**parameters)
    return experiment.load(experiment.run(config, output_dir))


__all__ = ["Experiment", "Result", "dataset_readers", "discover", "get", "registry", "run_notebook"]
