"""What a chapter's code is, and its digest now or at any commit: whether a run made at another commit is still
this checkout's run (`make replicate-all` skips it; the reference run is checked by it).

A chapter's code is what decides its results beyond the library they all share: its experiment module and the
templates it derives from, its notebook, and the paper data it reads: its family's data file without the other
chapters' sections (their claims and exercises do not shape this one) and the data files no family owns (models,
recipes, schedules). The shared library is not in it, and neither is the contract every chapter derives from
(`experiments._base`, as shared as the verdict engine it calls); a release reruns every chapter anyway.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import yaml

from mobilerepro.results import project_root

PAPER_DATA = Path("src") / "mobilerepro" / "paper"
CHAPTER_MODULES = Path("src") / "mobilerepro" / "experiments"
SHARED_CONTRACT = "mobilerepro.experiments._base"


def _relative(path: str | Path) -> str:
    return str(Path(path).resolve().relative_to(project_root()))


def source_paths(experiment) -> list[str]:
    """The checkout-relative files of a chapter's code besides the paper data: its module, templates, notebook."""
    modules = [sys.modules[cls.__module__].__file__ for cls in type(experiment).__mro__
               if cls.__module__.startswith("mobilerepro.experiments.") and cls.__module__ != SHARED_CONTRACT]
    return [_relative(path) for path in [*modules, experiment.notebook]]


def read_at(commit: str | None, path: str) -> bytes | None:
    """A checkout file as it is now (`commit` None) or as `commit` had it; None where it did not exist."""
    if commit is None:
        file = project_root() / path
        return file.read_bytes() if file.is_file() else None
    return _committed(commit, path)


@lru_cache(maxsize=1024)
def _committed(commit: str, path: str) -> bytes | None:
    shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=project_root(), capture_output=True)
    return shown.stdout if shown.returncode == 0 else None


@lru_cache(maxsize=256)
def _parsed(content: bytes) -> dict:
    """A paper data file's content parsed (callers never change what it returns)."""
    return yaml.load(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def _paper_data(experiment, commit: str | None) -> dict:
    """The paper data the chapter reads, as `commit` had it: file name -> the parsed sections that count."""
    family, own = experiment.id.split("/", 1)
    siblings = {path.stem for path in (project_root() / CHAPTER_MODULES / family).glob("*.py")} - {own}
    counted = {}
    for path in sorted((project_root() / PAPER_DATA).glob("*.yaml")):
        content = read_at(commit, _relative(path))
        data = _parsed(content) if content is not None else {}
        header = data.get("paper") or {}
        if not header:
            counted[path.name] = data
        elif header.get("id") == family:
            counted[path.name] = {key: value for key, value in data.items() if key not in siblings}
    return counted


def digest(experiment, commit: str | None = None) -> str | None:
    """The digest of a chapter's code now (`commit` None) or at `commit`; None where a file of it did not exist."""
    hashed = hashlib.sha256()
    for path in source_paths(experiment):
        content = read_at(commit, path)
        if content is None:
            return None
        hashed.update(path.encode() + b"\0" + content + b"\0")
    hashed.update(json.dumps(_paper_data(experiment, commit), sort_keys=True, default=str).encode())
    return hashed.hexdigest()[:16]


def unchanged_since(experiment, commit: str) -> bool:
    """Whether the chapter's code at `commit` (a clean one) is what this checkout has."""
    return not commit.endswith("+dirty") and commit != "unknown" and digest(experiment, commit) == digest(experiment)
