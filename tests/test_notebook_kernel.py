"""The suite's shared kernel: one started kernel for many notebooks, each seeing an empty namespace."""

from mobilerepro import notebook


def run(manager, code: str) -> dict:
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        return client.execute_interactive(code, store_history=False, timeout=60)["content"]
    finally:
        client.stop_channels()


def test_a_shared_kernel_keeps_its_modules_but_not_a_notebooks_names():
    with notebook.shared_kernel() as manager:
        assert run(manager, "import json\nleft_behind = 1")["status"] == "ok"
        notebook._empty_namespace(manager)
        missing = run(manager, "left_behind")
        assert missing["status"] == "error" and missing["ename"] == "NameError"
        assert run(manager, "import sys\nassert 'json' in sys.modules")["status"] == "ok"
