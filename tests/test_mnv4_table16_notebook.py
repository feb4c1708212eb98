"""Smoke-profile papermill run of the MobileNetV4 Tab. 16 notebook: peaks, calibration, sweep, verdicts."""

import json

import pytest

from mobilerepro.experiments import mnv4_table16
from mobilerepro.report import HELD, INCONCLUSIVE, NOT_HELD

pytestmark = pytest.mark.slow


def test_summary_schema_and_sanity(table16_smoke_run):
    for name in mnv4_table16.FILES.values():
        assert (table16_smoke_run / name).stat().st_size > 0
    summary = json.loads((table16_smoke_run / mnv4_table16.FILES["summary"]).read_text())
    peaks = summary["peaks"]
    assert peaks["peak_macs"] > 0 and peaks["peak_bandwidth"] > 0
    assert peaks["ridge_point_fp32"] == pytest.approx(peaks["peak_macs"] / peaks["peak_bandwidth"])
    assert {"torch", "onnxruntime"} <= set(summary["calibration"])
    for c in summary["calibration"].values():
        assert -1 <= c["roofline"]["rho"] <= 1 and -1 <= c["macs"]["rho"] <= 1
        # at RP = 0 the roofline cost is MACs: the two correlations coincide
        assert c["rho_by_ridge_point"]["0.0"] == pytest.approx(c["macs"]["rho"])
    assert [s["ridge_point"] for s in summary["sweep"]] == list(mnv4_table16.SWEEP)
    assert all(s["pareto_optimal"] for s in summary["sweep"])
    assert {v["verdict"] for v in summary["verdicts"]} <= {HELD, NOT_HELD, INCONCLUSIVE}
    assert "roofline" in mnv4_table16.load(table16_smoke_run).terminal_report()


def test_default_population_has_published_accuracy():
    config = mnv4_table16.configure("quick")
    assert {"mnv4_conv_s", "mnv4_hybrid_l", "mobileone_s0", "mobilenet_v2"} <= set(config.models)
    assert "deit_tiny" not in config.models  # no published top-1 in our data
