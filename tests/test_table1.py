"""A smoke-profile papermill run of the Table 1 notebook: result files exist, follow the schema, and make sense.

No timing value is asserted (a benchmark is not a test); only structure and internal consistency.
"""

import json

import nbformat
import pandas as pd
import pytest
import torch

from mobilerepro import cli
from mobilerepro.experiments import table1
from mobilerepro.profiles import profile_settings
from mobilerepro.report import HELD, INCONCLUSIVE, NOT_HELD, NOT_TESTABLE

pytestmark = pytest.mark.slow

ROW_COLUMNS = {
    "model", "family", "source", "input_size", "params", "macs", "backend", "status", "reason", "threads", "n",
    "min_ms", "median_ms", "mean_ms", "p10_ms", "p90_ms", "iqr_ms", "cv", "relative_iqr", "unstable",
    "published_top1", "published_params_m", "published_macs_m", "rounds_completed",
}
SMOKE = profile_settings("table1", "smoke")


def test_files_are_written(table1_smoke_run):
    for name in table1.FILES.values():
        assert (table1_smoke_run / name).stat().st_size > 0
    assert (table1_smoke_run / table1.FILES["figure"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rows_schema_and_sanity(table1_smoke_run):
    rows = pd.read_csv(table1_smoke_run / table1.FILES["rows"])
    assert set(rows.columns) == ROW_COLUMNS
    assert set(rows.model) == set(SMOKE["models"])
    assert set(rows.backend) == set(SMOKE["backends"])
    assert len(rows) == len(SMOKE["models"]) * len(SMOKE["backends"])
    assert set(rows.status) <= {"ok", "failed", "unavailable"}
    ok = rows[rows.status == "ok"]
    assert {"torch", "onnxruntime"} <= set(ok.backend)
    assert (ok.n == SMOKE["rounds"] * SMOKE["runs_per_round"]).all()
    assert (ok.rounds_completed == SMOKE["rounds"]).all()
    assert (ok.min_ms > 0).all()
    assert (ok.min_ms <= ok.p10_ms).all() and (ok.p10_ms <= ok.median_ms).all() and (ok.median_ms <= ok.p90_ms).all()
    assert (rows.params > 0).all() and (rows.macs > 0).all()
    assert (rows[rows.status != "ok"].reason.str.len() > 0).all()


def test_summary_schema_and_sanity(table1_smoke_run):
    summary = json.loads((table1_smoke_run / table1.FILES["summary"]).read_text())
    assert summary["experiment"] == "table1" and summary["profile"] == "smoke"
    stamp = summary["environment"]
    for key in ("cpu", "cpu_count", "threads", "os", "python", "packages", "git_commit", "profile", "timestamp"):
        assert key in stamp
    assert stamp["packages"]["torch"].startswith("2.12.1")
    for entry in summary["backends"]:
        assert entry["available"] or entry["reason"]
    if not torch.cuda.is_available():
        assert "cuda" not in summary["correlations"]
    for corr in summary["correlations"].values():
        for quantity in ("macs", "params"):
            c = corr[quantity]
            assert -1 <= c["ci_low"] <= c["ci_high"] <= 1
            assert -1 <= c["rho"] <= 1
        assert corr["n_models"] == len(SMOKE["models"])
    verdicts = summary["verdicts"]
    assert {v["verdict"] for v in verdicts} <= {HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTABLE}
    assert any(v["claim_id"] == "desktop_lower" for v in verdicts)


def test_executed_notebook_has_no_errors_and_shows_the_summary(table1_smoke_run):
    executed = nbformat.read(table1_smoke_run / table1.FILES["notebook"], as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("admonition" in o.get("data", {}).get("text/html", "") for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_terminal_report_names_every_backend(table1_smoke_run):
    report = table1.load(table1_smoke_run).terminal_report()
    for backend in SMOKE["backends"]:
        assert backend in report


def test_whole_experiment_failure_exits_1_and_names_the_notebook(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("needs a machine where the only requested backend is unavailable")
    code = cli.main(["replicate", "table1", "--profile", "smoke", "-p", "backends", "[cuda]", "--quiet",
                     "--no-publish", "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "no model could be timed" in err
    assert str(tmp_path / "table1.ipynb") in err


def test_an_interrupted_run_says_so_in_its_summary_box(table1_smoke_run):
    result = table1.load(table1_smoke_run)
    assert result.interrupted() is None
    result.rows["rounds_completed"] = 1  # as if Ctrl-C came after the first of the profile's rounds
    assert "INTERRUPTED: timing stopped after 1 of" in result.summary_html()


def test_ctrl_c_during_timing_keeps_the_measurements(tmp_path):
    """One SIGINT to the command line (as a terminal sends it) ends the timing early; the table is still written."""
    import os
    import signal
    import subprocess
    import sys
    import time

    log = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "mobilerepro", "replicate", "table1", "--profile", "smoke",
               "-p", "rounds", "100000", "--output-dir", str(tmp_path / "out"), "--no-publish"]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 180
        while "timing:" not in log.read_text() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
        time.sleep(3)  # a few rounds into the timing
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=180)
    assert process.returncode == 0, log.read_text()[-2000:]
    assert "INTERRUPTED: timing stopped after" in stdout
    rows = pd.read_csv(tmp_path / "out" / table1.FILES["rows"])
    ok = rows[rows.status == "ok"]
    assert (ok.rounds_completed < 100000).all() and (ok.n > 0).all()
