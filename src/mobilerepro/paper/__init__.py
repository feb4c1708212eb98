"""Published numbers, as data, each with its provenance tag (see shared PAPERS.md).

Provenance tags (shared PAPERS.md; a value carries the weakest that applies):
- `verified`: read from the paper's own text/table or its official code/README (the source is named);
- `secondary`: the paper's number as quoted by another source (named); a verdict target only where the chapter says
  the target is second-hand;
- `derived`: computed by us from an official definition or by written-down arithmetic; never "the paper's number";
- `claim`: a qualitative statement of the paper, quoted or closely paraphrased;
- `recalled`: remembered, no stored source found; display only, footnoted "unverified", never a verdict target;
- `choice`: a value the project chose where the source is silent.

Every value in these files is a mapping with at least `value` (or `text`) and `provenance`. The claims the chapters
judge live in the same files (see `mobilerepro.claims`).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from mobilerepro import MobileReproError

PROVENANCE_TAGS = ("verified", "secondary", "derived", "claim", "recalled", "choice")
# What a published value needs before it may be a verdict's target (shared PAPERS.md).
TARGET_PROVENANCE = ("verified", "secondary")
# What a number of a rule (a bound, a margin) may carry: anything but a recalled value.
BOUND_PROVENANCE = ("verified", "secondary", "claim", "derived", "choice")
# Shown with a footnote wherever they appear (PAPERS.md).
FOOTNOTED = {"secondary": "second-hand", "derived": "derived by us, not the paper's number",
             "recalled": "unverified (recalled, no stored source)", "choice": "the project's choice"}


def data_files() -> list[str]:
    """The names of the data files, e.g. `mobileone` for `paper/mobileone.yaml`."""
    return sorted(p.name.removesuffix(".yaml") for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".yaml"))


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed data file `paper/<name>.yaml`."""
    path = resources.files(__package__) / f"{name}.yaml"
    if not path.is_file():
        raise MobileReproError(f"no published-data file named {name!r} in mobilerepro/paper/")
    return yaml.safe_load(path.read_text())


def iter_values(node: Any, path: tuple[str, ...] = ()):
    """Yield (path, entry) for every published value (a mapping with a `provenance` key), claims excluded."""
    if isinstance(node, dict):
        if "provenance" in node and "where" not in node:
            yield path, node
            return
        for key, child in node.items():
            yield from iter_values(child, (*path, str(key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from iter_values(child, (*path, str(index)))


def family(paper_id: str) -> dict[str, Any]:
    """The `paper:` header of the data file whose id is `paper_id` (a chapter folder's name): the title of its book
    part, its place (`order`), its make-target prefix (`target_prefix`, none when absent)."""
    for name in data_files():
        header = load(name).get("paper")
        if header and header["id"] == paper_id:
            return header
    raise MobileReproError(f"no paper data file has the id {paper_id!r}: a chapter folder needs one "
                           "(its `paper:` header names the book part)")


def chapter_section(chapter: str) -> dict[str, Any]:
    """The section of the paper data a chapter (`<paper id>/<name>`) owns: its claims, exercises and values."""
    paper_id, name = chapter.split("/", 1)
    for file in data_files():
        data = load(file)
        if (data.get("paper") or {}).get("id") == paper_id:
            return data.get(name) or {}
    raise MobileReproError(f"no paper data file has the id {paper_id!r}")


def devices() -> dict[str, dict[str, str]]:
    """The devices of the published latencies by key (`iphone12`, `pixel6_cpu`): `text` (the device), `runtime`."""
    return load("deploy")["devices"]


def device_label(key: str) -> str:
    """`iPhone 12 (Core ML)`: how a table or a figure names a published device."""
    device = devices()[key]
    return f"{device['text']} ({device['runtime']})"


def published_model(key: str) -> dict[str, Any]:
    """Published top-1 / params / MACs / latency of a zoo model, or {} when PAPERS.md gives none."""
    return load("models").get(key, {})


def published_latencies(models: list[str], devices) -> dict[str, dict[str, dict]]:
    """Every published latency of `models` on `devices` (keys such as iphone12, pixel6_cpu), by device: the models'
    own rows (`models.yaml`) and MNv4 Tab. 6's baselines; a model keeps its first entry for a device."""
    sources = [(name, published_model(name)) for name in models]
    sources += list(load("mobilenetv4")["table6"]["baselines"].items())
    found: dict[str, dict] = {key: {} for key in devices}
    for name, row in sources:
        for key, entry in row.get("latency_ms", {}).items():
            if key in found and name in models:
                found[key].setdefault(name, entry)
    return found


def value(entry: dict | None) -> float | None:
    return None if entry is None else entry.get("value")


def cell(entry: dict | None) -> str:
    """A published value as a table cell: the number (or its text, e.g. "failed"), marked when footnoted."""
    if entry is None:
        return ""
    shown = f"{entry['value']:g}" if "value" in entry else str(entry["text"])
    return f"{shown} ({FOOTNOTED[entry['provenance']]})" if entry["provenance"] in FOOTNOTED else shown
