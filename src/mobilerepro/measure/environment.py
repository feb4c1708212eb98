"""The environment stamp recorded on every result: which machine, which software, which commit, which profile."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

STAMPED_PACKAGES = (
    "mobilerepro", "torch", "torchvision", "timm", "numpy", "onnx", "onnxruntime", "openvino", "coremltools",
)


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, macOS sysctl), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    if platform.system() == "Darwin":
        try:
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return platform.processor() or platform.machine()


def package_versions(names=STAMPED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(repo: Path | None = None) -> str:
    """Short commit hash with a `+dirty` suffix when the work tree has changes; 'unknown' outside git."""
    cwd = repo or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=cwd, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def environment_stamp(*, profile: str, threads: int | None = None) -> dict:
    """Everything needed to know where and how a result was produced."""
    import torch

    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": git_commit(),
        "profile": profile,
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def describe(stamp: dict) -> str:
    """One line for summary boxes and terminal output."""
    threads = f"{stamp['threads']} thread(s)" if stamp.get("threads") else "default threads"
    return (
        f"{stamp['cpu']} ({stamp['cpu_count']} cores, {threads}) · {stamp['os']} · "
        f"torch {stamp['packages']['torch']} · commit {stamp['git_commit']} · profile {stamp['profile']} · "
        f"{stamp['timestamp']}"
    )
