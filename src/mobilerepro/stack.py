"""The dense-prediction stack (mmengine, mmcv with its compiled ops, mmdet, mmsegmentation): installed into the
project's venv on demand, never by `make replicate-table1`.

mmcv 2.1.0 publishes no wheels on PyPI, so its source distribution is built once per machine, with its C++ ops, into
a wheel cache keyed by the Python and torch versions it was compiled against (pip's own cache does not key on torch,
and an extension built against another torch fails at import). `python -m mobilerepro.stack` builds the wheel when
the cache lacks it (saying how long that takes), installs it and the pinned `requirements-dense.txt`, and checks the
result with `pip check` and by running one compiled op.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mobilerepro import MobileReproError
from mobilerepro.results import project_root

MMCV_VERSION = "2.1.0"
# How long the build took on a machine is measured: it is written beside the wheel (build.json), not here.
BUILD_ESTIMATE = "it compiles mmcv's C++ ops: tens of minutes on two cores, once"


def wheel_cache() -> Path:
    return Path(os.environ.get("MOBILEREPRO_WHEEL_CACHE", Path.home() / ".cache" / "mobilerepro" / "wheels"))


def cache_key() -> str:
    """mmcv's version, and the Python and torch it is compiled against ('+' and '.' kept: they are the versions)."""
    import torch

    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return f"mmcv-{MMCV_VERSION}-{python}-{platform.machine()}-torch{torch.__version__}"


def cached_wheel() -> Path | None:
    wheels = sorted((wheel_cache() / cache_key()).glob(f"mmcv-{MMCV_VERSION}-*.whl"))
    return wheels[0] if wheels else None


def pip(*arguments: str, env: dict | None = None) -> None:
    command = [sys.executable, "-m", "pip", *arguments]
    if subprocess.run(command, env=env).returncode:
        raise MobileReproError(f"failed: {' '.join(command)}")


def build_wheel() -> Path:
    """Build mmcv from its PyPI source with the CPU ops into the cache (atomically: a killed build leaves nothing)."""
    target = wheel_cache() / cache_key()
    print(f">> building mmcv {MMCV_VERSION} with its compiled ops from its source distribution, once for this machine "
          f"({BUILD_ESTIMATE}); the wheel is kept in {target}", flush=True)
    started = time.monotonic()
    env = {**os.environ, "MMCV_WITH_OPS": "1", "FORCE_CUDA": "0", "MAX_JOBS": os.environ.get("MAX_JOBS", "2")}
    with tempfile.TemporaryDirectory(prefix="mmcv-build-") as scratch:
        pip("wheel", "--no-deps", "--no-build-isolation", "--no-binary", "mmcv", f"mmcv=={MMCV_VERSION}",
            "--wheel-dir", scratch, env=env)
        built = next(Path(scratch).glob("mmcv-*.whl"))
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f".{built.name}.part"
        shutil.copy2(built, partial)
        os.replace(partial, target / built.name)
    minutes = (time.monotonic() - started) / 60
    from mobilerepro.measure.environment import cpu_model
    from mobilerepro.results import write_json

    write_json(target / "build.json", {"wheel": built.name, "minutes": minutes, "cpu": cpu_model(),
                                       "cores": os.cpu_count(), "max_jobs": env["MAX_JOBS"]})
    print(f">> mmcv built in {minutes:.1f} min (recorded in {target / 'build.json'})", flush=True)
    return target / built.name


def check_ops() -> None:
    """One compiled op (mmcv's nms) must load and run: a wheel without its ops, or built against another torch,
    fails here rather than in the middle of a chapter."""
    code = ("import torch; from mmcv.ops import nms; "
            "boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]]); "
            "kept = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)[1]; assert kept.tolist() == [0, 2], kept")
    if subprocess.run([sys.executable, "-c", code]).returncode:
        raise MobileReproError("mmcv's compiled ops do not run in this environment: remove the cached wheel in "
                               f"{wheel_cache() / cache_key()} and run `make dense-setup` again")


def install() -> None:
    root = project_root()
    wheel = cached_wheel()
    if wheel is None:
        pip("install", "--quiet", "-r", str(root / "requirements-build.txt"), "-c", str(root / "constraints.txt"))
        wheel = build_wheel()
    else:
        print(f">> mmcv {MMCV_VERSION}: the cached wheel {wheel}", flush=True)
    pip("install", "--quiet", "--no-deps", str(wheel))
    pip("install", "--quiet", "-r", str(root / "requirements-dense.txt"), "-c", str(root / "constraints.txt"))
    pip("check")
    check_ops()


def available() -> bool:
    """Whether mmdet and mmseg import (the chapters and tests that need them check this first)."""
    try:
        import mmdet  # noqa: F401
        import mmseg  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    if not available():
        raise MobileReproError("this needs the dense-prediction stack (mmcv, mmdet, mmseg): run `make dense-setup` "
                               f"(once per machine; {BUILD_ESTIMATE})")


if __name__ == "__main__":
    try:
        install()
    except MobileReproError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
