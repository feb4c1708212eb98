"""Where results go and how they are written: one folder per experiment and profile, data files + figures."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

from mobilerepro import MobileReproError


def project_root() -> Path:
    """The checkout this package runs from (src layout), else the current directory."""
    candidate = Path(__file__).resolve().parents[2]
    return candidate if (candidate / "pyproject.toml").exists() else Path.cwd()


def results_root() -> Path:
    return Path(os.environ.get("MOBILEREPRO_RESULTS", project_root() / "results"))


def ensure_writable(directory: str | os.PathLike) -> Path:
    """Create `directory` if needed and prove it can be written, or raise one clear line saying why not."""
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        raise MobileReproError(f"cannot write to output dir {str(path)!r}: {error.strerror or error}") from None
    return path.resolve()


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_atomically(path: Path, data: bytes) -> None:
    """Write bytes under a temporary name beside `path`, then rename: a reader never sees half a file. The temporary
    name is this process's, so processes writing the same file at once (a store's ranks) each rename a whole one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def write_json(path: Path, payload: dict) -> Path:
    """Write JSON atomically (temp file + rename): an interrupted run never leaves a half-written result."""
    path = Path(path)
    write_atomically(path, (json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n").encode())
    return path


def write_csv(path: Path, frame) -> Path:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def read_user_json(path: Path, what: str):
    """A JSON file a user hands in (`what` names it in the error): its content, or one line saying why not."""
    path = Path(path)
    if not path.exists():
        raise MobileReproError(f"no {what} at {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise MobileReproError(f"{path} is not JSON ({error.msg} at line {error.lineno})") from None


def read_line_cache(path: Path, key: str) -> dict[str, dict]:
    """The records of a cache written one JSON line per record (made if missing), by their field `key`. A line cut
    by an interruption is skipped, so its record is measured again."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[record[key]] = record
    return done


def content_digest(value) -> str:
    """16 hex digits of SHA-256 over `value` as canonical JSON: the name of a cached run, store or timing set
    whose contents depend on `value` alone (change anything in it and the cache is another folder)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex): the identity of a weights file or a shard."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
