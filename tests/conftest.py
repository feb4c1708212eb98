import os

import pytest
import torch

from mobilerepro.results import project_root

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The team's small real datasets, when they sit beside the checkout (as on the CI machines); tests that need them
# skip with a reason otherwise.
_SHARED_DATA = project_root().parent / "shared" / "data"
if "MOBILEREPRO_DATA" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["MOBILEREPRO_DATA"] = str(_SHARED_DATA)

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
    checkout's results/."""
    root = tmp_path_factory.mktemp("results")
    previous = os.environ.get("MOBILEREPRO_RESULTS")
    os.environ["MOBILEREPRO_RESULTS"] = str(root)
    yield root
    if previous is None:
        del os.environ["MOBILEREPRO_RESULTS"]
    else:
        os.environ["MOBILEREPRO_RESULTS"] = previous


@pytest.fixture(scope="session")
def smoke_run(results_root):
    """`smoke_run(experiment_id)`: the output folder of one smoke-profile papermill run of that chapter's notebook,
    run once per session and shared by every test that reads it. Skips when the chapter's data is not there."""
    from mobilerepro import experiments, notebook

    done = {}

    def run(experiment_id: str):
        experiment = experiments.get(experiment_id)
        for dataset in experiment.datasets:
            real_data(dataset)
        if experiment.id not in done:
            parameters = {"profile": "smoke", **SMOKE_OVERRIDES.get(experiment.id, {})}
            done[experiment.id] = notebook.execute(experiment.id, parameters,
                                                   output_dir=results_root / "smoke" / experiment.id,
                                                   publish=False, log_output=False)
        return done[experiment.id]

    return run
