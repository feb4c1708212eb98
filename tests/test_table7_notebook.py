"""A smoke-profile papermill run of the Table 7 notebook: files, schema, counts and internal consistency."""

import json

import nbformat
import pandas as pd
import pytest

from mobilerepro import MobileReproError
from mobilerepro.experiments import table7
from mobilerepro.profiles import profile_settings
from mobilerepro.report import HELD

pytestmark = pytest.mark.slow
SMOKE = profile_settings("table7", "smoke")


def test_files_and_executed_notebook(table7_smoke_run):
    for name in table7.FILES.values():
        assert (table7_smoke_run / name).stat().st_size > 0
    executed = nbformat.read(table7_smoke_run / table7.FILES["notebook"], as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]


def test_rows_cover_both_forms_on_every_backend(table7_smoke_run):
    rows = pd.read_csv(table7_smoke_run / table7.FILES["rows"])
    assert len(rows) == len(SMOKE["variants"]) * 2 * len(SMOKE["backends"])
    assert set(rows.form) == {"fused", "unfused"}
    ok = rows[rows.status == "ok"]
    assert {"torch", "onnxruntime"} <= set(ok.backend)
    assert (ok.n == SMOKE["rounds"] * SMOKE["runs_per_round"]).all()
    assert (ok.min_ms <= ok.median_ms).all()


def test_counts_reproduce_the_paper_and_train_time_form_is_larger(table7_smoke_run):
    summary = json.loads((table7_smoke_run / table7.FILES["summary"]).read_text())
    assert {v["verdict"] for v in summary["verdicts"]} == {HELD}
    for row in summary["counts"]:
        assert row["params_unfused_m"] > row["params_fused_m"]
        assert row["macs_unfused_m"] > row["macs_fused_m"]
    for ratio in summary["unfused_over_fused"]:
        assert ratio["min"] > 0 and ratio["median"] > 0


def test_terminal_report(table7_smoke_run):
    report = table7.load(table7_smoke_run).terminal_report()
    assert "S0" in report and "train-time" in report


def test_unknown_variant():
    with pytest.raises(MobileReproError, match="unknown MobileOne variant 's9'"):
        table7.configure("smoke", variants=["s9"])
