import os
import shutil
import threading

import pytest
import torch

from mobilerepro.results import project_root

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on a 2-core machine: each keeps to one thread (and so do the processes it starts), else torch's
    # default of a thread per core oversubscribes the cores many times over.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
# The team's small real datasets, when they sit beside the checkout (as on the CI machines); tests that need them
# skip with a reason otherwise.
_SHARED_DATA = project_root().parent / "shared" / "data"
if "MOBILEREPRO_DATA" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["MOBILEREPRO_DATA"] = str(_SHARED_DATA)

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A test that reads a chapter's smoke run executes a notebook end to end: it is `slow` whether or not it says
    so, so that `make test-fast` never waits for one."""
    with_xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        if "smoke_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
            # Under pytest-xdist every test that reads a smoke run goes to one worker, whose session fixture runs
            # them all once (two at a time) while the other worker takes the rest of the suite.
            if with_xdist:
                item.add_marker(pytest.mark.xdist_group("smoke_runs"))


# Smoke parameters beyond the profile, to keep the suite fast.
SMOKE_OVERRIDES = {"mobileone/table2": {"input_size": 96}, "mobileone/table3": {"input_size": 96}}


def real_data(relative: str):
    """The path of a dataset under MOBILEREPRO_DATA, or a skip saying it is not there."""
    from mobilerepro.data import data_root

    path = data_root() / relative
    if not path.exists():
        pytest.skip(f"real dataset {relative} not found under MOBILEREPRO_DATA={data_root()}")
    return path


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session", autouse=True)
def results_root(tmp_path_factory):
    """Every test writes its results (and the shared training-run cache) under one session folder, never into the
    checkout's results/, and sees no reference run but the ones it makes (the committed ones have their own test)."""
    root = tmp_path_factory.mktemp("results")
    settings = {"MOBILEREPRO_RESULTS": str(root), "MOBILEREPRO_REFERENCE": str(tmp_path_factory.mktemp("reference"))}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    yield root
    for name, value in previous.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value


def _smoke_ids_requested(session) -> list[str]:
    """The chapters whose smoke runs this session's parametrized tests read (the contract's, when selected)."""
    ids = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if "smoke_run" in getattr(item, "fixturenames", ()) and callspec and "experiment_id" in callspec.params:
            ids.append(callspec.params["experiment_id"])
    return list(dict.fromkeys(ids))


# The templates whose chapters share cached results (training runs, teachers, soft-label stores).
SHARED_CACHE_TEMPLATES = ("_training_ablation", "_distillation")


@pytest.fixture(scope="session")
def smoke_run(results_root, request):
    """`smoke_run(experiment_id)`: the output folder of one smoke-profile papermill run of that chapter's notebook,
    run once per session and shared by every test that reads it. Skips when the chapter's data is not there.

    When the session holds many chapters' smoke tests (the whole suite), the first call runs all of them two at a
    time, each on one thread: most of a smoke run is a kernel starting and importing, which a second core overlaps
    (a smoke run's numbers mean nothing, its thread count included)."""
    from concurrent.futures import ThreadPoolExecutor

    from mobilerepro import experiments, notebook
    from mobilerepro.data import data_root

    done, failed = {}, {}

    def execute(experiment_id: str, one_thread: bool = False, kernel=None):
        experiment = experiments.get(experiment_id)
        parameters = {"profile": "smoke", **SMOKE_OVERRIDES.get(experiment.id, {})}
        if one_thread:  # every thread count a chapter takes (timing, training), not only `threads`
            parameters.update({name: 1 for name in experiment.parameter_names() if name.endswith("threads")})
        return notebook.execute(experiment.id, parameters, output_dir=results_root / "smoke" / experiment.id,
                                publish=False, log_output=False, kernel=kernel)

    def prefetch():
        wanted = [i for i in _smoke_ids_requested(request.session)
                  if all((data_root() / d).exists() for d in experiments.get(i).datasets)]
        if len(wanted) < 4:
            return
        wanted.sort(key=lambda i: not experiments.get(i).datasets)  # the ones that train or read images are longest
        # Chapters of one training template share cached runs, teachers and stores: they run one after another in
        # one lane, so that two processes never write the same run folder at once.
        lanes: dict[str, list[str]] = {}
        for experiment_id in wanted:
            template = next((c.__name__ for c in type(experiments.get(experiment_id)).__mro__
                             if c.__module__.rsplit(".", 1)[-1] in SHARED_CACHE_TEMPLATES), experiment_id)
            lanes.setdefault(template, []).append(experiment_id)

        # Two workers, each with one kernel for all its chapters (namespace emptied between them).
        queue = list(lanes.values())
        lock = threading.Lock()

        def worker():
            with notebook.shared_kernel(threads=1) as kernel:
                while True:
                    with lock:
                        if not queue:
                            return
                        lane = queue.pop(0)
                    for experiment_id in lane:
                        try:
                            done[experiment_id] = execute(experiment_id, True, kernel)
                        except Exception as error:  # re-raised in the test that reads this chapter's run
                            failed[experiment_id] = error

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda _: worker(), range(2)))

    def run(experiment_id: str):
        experiment = experiments.get(experiment_id)
        for dataset in experiment.datasets:
            real_data(dataset)
        if not done and not failed:
            prefetch()
        if experiment.id in failed:
            raise failed[experiment.id]
        if experiment.id not in done:
            done[experiment.id] = execute(experiment.id)
        return done[experiment.id]

    return run


@pytest.fixture()
def book_copy(tmp_path, monkeypatch):
    """The book's sources in a scratch folder, with no chapter run yet."""
    from mobilerepro import book, notebook  # after HF_HUB_OFFLINE is set above: the book's imports reach timm

    folder = tmp_path / "book"
    shutil.copytree(project_root() / "book", folder, ignore=shutil.ignore_patterns("_build", "chapters"))
    monkeypatch.setattr(book, "book_dir", lambda: folder)
    monkeypatch.setattr(notebook, "chapters_dir", lambda: folder / "chapters")
    return folder
