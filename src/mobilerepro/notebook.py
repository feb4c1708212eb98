"""Running an experiment's notebook with papermill: validated parameters in, executed notebook + results out.

The notebook `notebooks/<experiment id>.ipynb` is the chapter's recipe (a `parameters` cell, then library calls).
It is executed into the experiment's output directory next to the result files it writes, and, when published,
copied into `book/chapters/<experiment id>.ipynb` where the Jupyter Book renders it without executing anything. A
smoke-profile run is never published: its numbers mean nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from mobilerepro import MobileReproError, experiments
from mobilerepro.experiments._base import Experiment
from mobilerepro.profiles import check_profile
from mobilerepro.results import ensure_writable, project_root

UNPUBLISHED_PROFILES = ("smoke",)


class ExperimentFailed(MobileReproError):
    """The notebook raised: the experiment as a whole failed. `notebook` is the executed notebook to open."""

    def __init__(self, message: str, notebook: Path):
        super().__init__(message)
        self.notebook = notebook


def chapters_dir() -> Path:
    return project_root() / "book" / "chapters"


def chapter_path(experiment: Experiment) -> Path:
    return chapters_dir() / f"{experiment.id}.ipynb"


def source_notebook(experiment: Experiment) -> Path:
    if not experiment.notebook.exists():
        raise MobileReproError(f"notebook {experiment.notebook} is missing")
    return experiment.notebook


def notebook_parameters(experiment: Experiment) -> dict[str, str]:
    """Name -> default (as written in the notebook's `parameters` cell)."""
    import papermill

    inferred = papermill.inspect_notebook(str(source_notebook(experiment)))
    return {name: info["default"] for name, info in inferred.items()}


def validate_parameters(experiment: Experiment, parameters: dict) -> dict:
    """Reject names the notebook does not have and values the experiment would refuse, before any work starts."""
    known = notebook_parameters(experiment)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise MobileReproError(
            f"notebook {experiment.id}.ipynb has no parameter {', '.join(map(repr, unknown))} "
            f"(its parameters: {', '.join(known)})"
        )
    check_profile(parameters.get("profile", "quick"))
    experiment.configure(**{k: v for k, v in parameters.items() if k != "output_dir"})
    return parameters


def _collapse_injected_parameters(path: Path) -> None:
    """Hide the input of papermill's injected-parameters cell in the book (it stays in the notebook)."""
    import nbformat

    executed = nbformat.read(path, as_version=4)
    for cell in executed.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(executed, path)


@contextlib.contextmanager
def _interrupts_go_to_the_kernel():
    """A first Ctrl-C interrupts the running cell instead of the runner: the kernel runs in its own process group and
    would not see it, and the experiments end their timing early and keep what they measured. A second Ctrl-C aborts.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import psutil

    presses = 0

    def forward(signum, frame):
        nonlocal presses
        presses += 1
        if presses > 1:
            raise KeyboardInterrupt
        print("\ninterrupt: the experiment stops timing and keeps what it measured (Ctrl-C again to abort)",
              file=sys.stderr)
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.send_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def shared_kernel(threads: int | None = None):
    """A started Python kernel that several `execute(..., kernel=...)` calls use one after another: its user namespace
    is emptied before each notebook (`%reset -f`), so a notebook sees nothing another defined, while the modules
    they import stay loaded — what a fresh kernel spends most of its start on. For running many notebooks (the test
    suite's smoke runs); a user's run gets a kernel of its own. With `threads`, the kernel and every process it
    starts keep to that many OpenMP threads (kernels run side by side would otherwise each take every core)."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    limits = {} if threads is None else {"env": {**os.environ, "OMP_NUM_THREADS": str(threads),
                                                 "MKL_NUM_THREADS": str(threads)}}
    manager.start_kernel(cwd=str(project_root()), **limits)
    try:
        yield manager
    finally:
        manager.shutdown_kernel(now=True)


def _empty_namespace(manager) -> None:
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive("%reset -f", store_history=False, timeout=60)
        if reply["content"]["status"] != "ok":
            raise MobileReproError(f"the shared kernel could not be reset: {reply['content'].get('evalue', '')}")
    finally:
        client.stop_channels()


def execute(
    name: str,
    parameters: dict | None = None,
    *,
    output_dir: str | Path | None = None,
    publish: bool = False,
    log_output: bool = True,
    kernel=None,
) -> Path:
    """Execute the experiment's notebook; returns the output directory (results + executed notebook). `publish`
    copies it into the book, except for a smoke run. `kernel`: a `shared_kernel()` to run in instead of a new one.

    Raises `ExperimentFailed` (naming the executed notebook) when a cell raised.
    """
    import papermill

    experiment = experiments.get(name)
    parameters = dict(parameters or {})
    profile = parameters.setdefault("profile", "quick")
    validate_parameters(experiment, parameters)
    directory = ensure_writable(output_dir or experiment.default_output_dir(profile))
    parameters["output_dir"] = str(directory)
    executed = directory / experiment.files["notebook"]
    if kernel is not None:
        _empty_namespace(kernel)
    try:
        with _interrupts_go_to_the_kernel():
            papermill.execute_notebook(
                str(source_notebook(experiment)),
                str(executed),
                parameters=parameters,
                cwd=str(project_root()),
                kernel_name="python3",
                log_output=log_output,
                progress_bar=False,
                **({"km": kernel} if kernel is not None else {}),
            )
    except papermill.PapermillExecutionError as error:
        raise ExperimentFailed(
            f"experiment {experiment.id} failed in cell {error.exec_count}: {error.ename}: {error.evalue}", executed
        ) from None
    _collapse_injected_parameters(executed)
    if publish and profile not in UNPUBLISHED_PROFILES:
        chapter_path(experiment).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(executed, chapter_path(experiment))
    return directory
