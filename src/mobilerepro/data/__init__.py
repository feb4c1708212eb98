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
    """An absolute `path` as given; a relative one under the data root when it exists there, else from here."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    under_root = data_root() / path
    return under_root if under_root.exists() or not path.exists() else path
