"""The experiment registry: every module of this package that defines `EXPERIMENT` is a chapter.

Ids are namespaced by paper (`mobileone/table1`, `mnv4/table16`, `pipeline/lite0_eval`); each experiment also has
the short target users type (`make replicate-table1`). The CLI, the Makefile's pattern rule, `make help`, the book's
table of contents, the claims dashboard and the contract tests all read this registry.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache

from mobilerepro import MobileReproError
from mobilerepro.experiments.base import Experiment, Result


@cache
def registry() -> dict[str, Experiment]:
    """Every experiment by id, in book order."""
    found = []
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        experiment = getattr(module, "EXPERIMENT", None)
        if isinstance(experiment, Experiment):
            found.append(experiment)
    found.sort(key=lambda e: e.order)
    by_id = {e.id: e for e in found}
    targets = [e.target for e in found]
    if len(by_id) != len(found) or len(set(targets)) != len(targets):
        raise RuntimeError("two experiments share an id or a target")
    return by_id


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


__all__ = ["Experiment", "Result", "get", "registry", "run_notebook"]
