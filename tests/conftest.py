import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


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
