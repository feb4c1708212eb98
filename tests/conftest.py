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


@pytest.fixture(scope="session")
def table1_smoke_run(tmp_path_factory):
    """One smoke-profile papermill run of the Table 1 notebook, shared by the tests that read its outputs."""
    from mobilerepro import notebook

    directory = tmp_path_factory.mktemp("table1-smoke")
    return notebook.execute("table1", {"profile": "smoke"}, output_dir=directory, publish=False, log_output=False)


@pytest.fixture(scope="session")
def table7_smoke_run(tmp_path_factory):
    from mobilerepro import notebook

    directory = tmp_path_factory.mktemp("table7-smoke")
    return notebook.execute("table7", {"profile": "smoke"}, output_dir=directory, publish=False, log_output=False)


@pytest.fixture(scope="session")
def probe_smoke_runs(tmp_path_factory):
    """Smoke runs of the Table 2 and Table 3 notebooks (small probe input to stay fast)."""
    from mobilerepro import notebook

    runs = {}
    for experiment in ("table2", "table3"):
        directory = tmp_path_factory.mktemp(f"{experiment}-smoke")
        runs[experiment] = notebook.execute(experiment, {"profile": "smoke", "input_size": 96}, output_dir=directory,
                                            publish=False, log_output=False)
    return runs


@pytest.fixture(scope="session")
def table16_smoke_run(tmp_path_factory):
    from mobilerepro import notebook

    directory = tmp_path_factory.mktemp("mnv4-table16-smoke")
    return notebook.execute("mnv4_table16", {"profile": "smoke"}, output_dir=directory, publish=False,
                            log_output=False)


@pytest.fixture(scope="session")
def table6_smoke_run(tmp_path_factory):
    from mobilerepro import notebook

    directory = tmp_path_factory.mktemp("mnv4-table6-smoke")
    return notebook.execute("mnv4_table6", {"profile": "smoke"}, output_dir=directory, publish=False,
                            log_output=False)


@pytest.fixture(scope="session")
def mnv4_table2_smoke_run(tmp_path_factory):
    from mobilerepro import notebook

    directory = tmp_path_factory.mktemp("mnv4-table2-smoke")
    return notebook.execute("mnv4_table2", {"profile": "smoke"}, output_dir=directory, publish=False,
                            log_output=False)


@pytest.fixture(scope="session")
def training_results(tmp_path_factory):
    """A results root of its own for the training experiments' smoke runs (their shared run cache lives in it)."""
    return tmp_path_factory.mktemp("training-results")


@pytest.fixture(scope="session")
def table5_smoke_run(training_results):
    from mobilerepro import notebook

    real_data("cifar10-test-jpg/test")
    os.environ["MOBILEREPRO_RESULTS"] = str(training_results)
    try:
        return notebook.execute("table5", {"profile": "smoke"}, output_dir=training_results / "table5",
                                publish=False, log_output=False)
    finally:
        del os.environ["MOBILEREPRO_RESULTS"]
