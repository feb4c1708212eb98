"""Table 1: which claims each backend can test, the command line's failure and interruption behaviour.

No timing value is asserted (a benchmark is not a test); only structure, scoping and internal consistency."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from mobilerepro import cli, experiments
from mobilerepro.experiments.mobileone.table1 import Table1
from mobilerepro.verdicts import Interval, NotTestable

TABLE1 = experiments.get("mobileone/table1")


def correlation(rho, low, high, n=30):
    return {"rho": rho, "ci_low": low, "ci_high": high, "n": n, "confidence": 0.95, "resamples": 100}


def test_desktop_claims_are_tested_on_desktop_cpus_only_and_phone_claims_nowhere_here():
    correlations = {backend: {"macs": correlation(0.5, 0.3, 0.7), "params": correlation(0.1, -0.1, 0.3)}
                    for backend in ("torch", "onnxruntime", "cuda")}
    evidence = {(claim, scope): found for claim, scope, found in Table1.evidence(correlations)}
    assert isinstance(evidence["mobile_macs", "phone"], NotTestable)
    assert isinstance(evidence["mobile_params", "phone"], NotTestable)
    assert isinstance(evidence["desktop_macs_lower", "cuda"], NotTestable)
    macs = evidence["desktop_macs_lower", "torch"]
    params = evidence["desktop_params_lower", "onnxruntime"]
    assert isinstance(macs, Interval) and (macs.estimate, macs.low, macs.high, macs.n) == (0.5, 0.3, 0.7, 30)
    assert (params.estimate, params.low, params.high) == (0.1, -0.1, 0.3)


def test_the_smoke_profile_is_below_the_least_evidence_of_every_claim():
    smoke = TABLE1.configure("smoke")
    assert len(smoke.models) < min(c.test.min_n for c in TABLE1.claims.values())


def test_the_quick_profile_has_enough_models_for_a_verdict():
    quick = TABLE1.configure("quick")
    assert len(quick.models) >= max(c.test.min_n for c in TABLE1.claims.values())


@pytest.mark.slow
def test_latency_table_is_the_rows(smoke_run):
    result = TABLE1.load(smoke_run("mobileone/table1"))
    table = result.latency_table().set_index("model")
    ok = result.ok()
    for row in ok.itertuples():
        assert table.loc[row.model, row.backend].split()[0] == f"{row.min_ms:.2f}"
    correlations = result.correlation_table().set_index("backend")
    for backend, corr in result.summary["correlations"].items():
        assert f"ρ = {corr['macs']['rho']:.2f}" in correlations.loc[backend, "ρ latency–MACs [95% CI]"]
        assert correlations.loc[backend, "models"] == len(ok[ok.backend == backend])


@pytest.mark.slow
def test_an_interrupted_run_says_so_in_its_summary_box(smoke_run):
    result = TABLE1.load(smoke_run("mobileone/table1"))
    assert result.interrupted() is None
    result.rows["rounds_completed"] = 1  # as if Ctrl-C came after the first of the profile's rounds
    assert "INTERRUPTED: timing stopped after 1 of" in result.summary_html()


@pytest.mark.slow
def test_whole_experiment_failure_exits_1_and_names_the_notebook(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("needs a machine where the only requested backend is unavailable")
    code = cli.main(["replicate", "table1", "--profile", "smoke", "-p", "backends", "[cuda]", "--quiet",
                     "--no-publish", "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "nothing could be timed" in err
    assert str(tmp_path / "table1.ipynb") in err


@pytest.mark.slow
def test_ctrl_c_during_timing_keeps_the_measurements(tmp_path):
    """One SIGINT to the command line (as a terminal sends it) ends the timing early; the table is still written."""
    log = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "mobilerepro", "replicate", "table1", "--profile", "smoke",
               "-p", "rounds", "100000", "-p", "backends", "[torch]",
               "--output-dir", str(tmp_path / "out"), "--no-publish"]
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
    rows = pd.read_csv(tmp_path / "out" / TABLE1.files["rows"])
    ok = rows[rows.status == "ok"]
    assert (ok.rounds_completed < 100000).all() and (ok.n > 0).all()


def test_tab9_headline_comparisons_are_latency_ratios_per_backend():
    """S1 / MobileNetV2 timed with separated spreads: shown faster, the paper's ratio beside; S3 / EfficientNet-B0
    with overlapping spreads: inconclusive; Mobile-Former is not in the zoo: not testable, with the reason."""
    from mobilerepro import claims
    from mobilerepro.experiments.mobileone.table1 import headline_evidence
    from mobilerepro.verdicts import judge

    rows = [("mobileone_s1", 1.0, 0.9, 1.1), ("mobilenet_v2", 1.5, 1.4, 1.6),
            ("mobileone_s3", 2.0, 1.8, 2.4), ("efficientnet_b0", 2.1, 1.9, 2.3)]
    frame = pd.DataFrame([{"model": m, "backend": "torch", "status": "ok", "median_ms": med, "p10_ms": p10,
                           "p90_ms": p90, "n": 75} for m, med, p10, p90 in rows])
    found = {(name, scope): evidence for name, scope, evidence in headline_evidence(frame)}
    assert set(found) == {("s1_vs_mobilenetv2", "torch"), ("s3_vs_efficientnet_b0", "torch"),
                          ("s4_vs_mobileformer", "any backend")}
    s1 = found["s1_vs_mobilenetv2", "torch"]
    assert (s1.estimate, s1.low, s1.high) == pytest.approx((1.0 / 1.5 - 1, 0.9 / 1.6 - 1, 1.1 / 1.4 - 1))
    verdict = judge(claims.get("mobileone/table1/s1_vs_mobilenetv2"), "torch", s1)
    assert verdict.verdict == "held" and "-9.2 % lies" in verdict.ours
    assert judge(claims.get("mobileone/table1/s3_vs_efficientnet_b0"), "torch",
                 found["s3_vs_efficientnet_b0", "torch"]).verdict == "inconclusive"
    assert "Mobile-Former is in neither timm nor torchvision" in found["s4_vs_mobileformer", "any backend"].reason
