"""Smoke-profile papermill runs of the Table 2 and Table 3 notebooks: files, schema, comparison, verdicts."""

import json

import pandas as pd
import pytest

from mobilerepro import MobileReproError
from mobilerepro.experiments import table2, table3
from mobilerepro.report import HELD, INCONCLUSIVE, NOT_HELD

pytestmark = pytest.mark.slow
MODULES = {"table2": table2, "table3": table3}


@pytest.mark.parametrize("experiment", list(MODULES))
def test_result_files_and_comparison(probe_smoke_runs, experiment):
    module, directory = MODULES[experiment], probe_smoke_runs[experiment]
    for name in module.FILES.values():
        assert (directory / name).stat().st_size > 0
    rows = pd.read_csv(directory / module.FILES["rows"])
    assert set(rows.variant) == set(module.TABLE.variants)
    summary = json.loads((directory / module.FILES["summary"]).read_text())
    assert {"torch", "onnxruntime"} <= set(summary["comparison"])
    for entries in summary["comparison"].values():
        reference = next(e for e in entries if e["variant"] == module.TABLE.reference)
        assert reference["ratio"] == pytest.approx(1.0) and reference["paper_ratio"] == pytest.approx(1.0)
        assert all(e["ratio"] > 0 and e["p10_ms"] <= e["p90_ms"] for e in entries)
    assert {v["verdict"] for v in summary["verdicts"]} <= {HELD, NOT_HELD, INCONCLUSIVE}
    report = module.load(directory).terminal_report()
    assert module.TABLE.reference in report


def test_table2_ranks_seven_activations(probe_smoke_runs):
    summary = json.loads((probe_smoke_runs["table2"] / table2.FILES["summary"]).read_text())
    assert any(v["claim_id"] == "ranking" for v in summary["verdicts"])


def test_unknown_variant_and_bad_depth():
    with pytest.raises(MobileReproError, match="unknown table3 variant 'dropout'"):
        table3.configure("smoke", variants=["dropout"])
    with pytest.raises(MobileReproError, match="probe depth"):
        table2.configure("smoke", depth=7)
