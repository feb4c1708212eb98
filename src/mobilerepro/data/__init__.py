"""Datasets and transforms for classification: where the data lives, the two layouts we read, and the train / eval
transforms as parameters.

Data root: `MOBILEREPRO_DATA` (the Makefile points it at the team's small real sets when they are beside the
checkout), else `./data`. Nothing here downloads anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from mobilerepro.results import project_root


def data_root() -> Path:
    """The folder datasets are looked up in: `$MOBILEREPRO_DATA`, else `<project>/data`."""
    return Path(os.environ.get("MOBILEREPRO_DATA", project_root() / "data")).expanduser()


def resolve(path: str | os.PathLike) -> Path:
    """`path` as given when it is absolute or exists from here; else relative to the data root."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return data_root() / path
