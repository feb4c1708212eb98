"""Published numbers, as data, each with its provenance tag (see shared PAPERS.md).

Provenance tags:
- `verified`: read from the paper's text or its official code/README;
- `transcribed`: copied from a table whose original is only available as an image here; unverified, shown with a
  footnote, never used as a hard target;
- `claim`: a qualitative statement of the paper;
- `derived`: computed from the official code definition.

Every value in these files is a mapping with at least `value` (or `text` for a claim) and `provenance`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from mobilerepro import MobileReproError

PROVENANCE_TAGS = ("verified", "transcribed", "claim", "derived")


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed data file `paper/<name>.yaml`."""
    path = resources.files(__package__) / f"{name}.yaml"
    if not path.is_file():
        raise MobileReproError(f"no published-data file named {name!r} in mobilerepro/paper/")
    return yaml.safe_load(path.read_text())


def iter_values(node: Any, path: tuple[str, ...] = ()):
    """Yield (path, entry) for every published value or claim (a mapping with a `provenance` key)."""
    if isinstance(node, dict):
        if "provenance" in node:
            yield path, node
            return
        for key, child in node.items():
            yield from iter_values(child, (*path, str(key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from iter_values(child, (*path, str(index)))


def published_model(key: str) -> dict[str, Any]:
    """Published top-1 / params / MACs / latency of a zoo model, or {} when PAPERS.md gives none."""
    return load("models").get(key, {})


def value(entry: dict | None) -> float | None:
    return None if entry is None else entry.get("value")
