"""Running one step of a chapter as N processes under torchrun (one per GPU) from the process the user started."""

from __future__ import annotations

import os
import subprocess
import sys


def under_torchrun() -> bool:
    """True in one of torchrun's workers (they get LOCAL_RANK), False in the process the user started."""
    return "LOCAL_RANK" in os.environ


def torchrun(module: str, arguments: list[str], processes: int) -> int:
    """Run `python -m module arguments` as `processes` workers on this machine; returns torchrun's exit code."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", module, *arguments]
    return subprocess.run(command, check=False).returncode
