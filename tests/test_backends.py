"""Latency backends: availability is reported with a reason, failures are recorded per row, nothing crashes."""

import platform

import pytest
import torch
from helpers import ZeroInitialisedResidual
from torch import nn

from mobilerepro import MobileReproError
from mobilerepro.measure import latency
from mobilerepro.measure.latency import TimingPlan, backend_availability, get_backend, measure_latency

PLAN = TimingPlan(warmup=1, rounds=2, runs_per_round=2, threads=1)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


class FailsToExport(Tiny):
    def forward(self, x):
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            raise RuntimeError("this model cannot be exported")
        return super().forward(x)


def test_every_backend_reports_availability_with_a_reason():
    for availability in backend_availability():
        assert availability.backend in latency.BACKENDS
        assert availability.available or availability.reason


def test_coreml_is_unavailable_off_macos(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    availability = get_backend("coreml").availability()
    assert not availability.available
    assert "macOS" in availability.reason


def test_cuda_is_unavailable_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    availability = get_backend("cuda").availability()
    assert not availability.available
    assert "GPU" in availability.reason


def test_unknown_backend_suggests_the_close_one():
    with pytest.raises(MobileReproError, match="did you mean onnxruntime"):
        get_backend("onnxruntim")


def test_unavailable_backend_becomes_a_row_not_a_crash(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rows = measure_latency({"tiny": (Tiny().eval(), (3, 16, 16))}, ["torch", "cuda"], PLAN, progress=False)
    by_backend = {m.backend: m for m in rows}
    assert by_backend["torch"].status == "ok" and by_backend["torch"].summary.n == PLAN.runs
    assert by_backend["cuda"].status == "unavailable" and "GPU" in by_backend["cuda"].reason


def test_export_failure_is_recorded_and_the_rest_completes():
    models = {"tiny": (Tiny().eval(), (3, 16, 16)), "broken": (FailsToExport().eval(), (3, 16, 16))}
    rows = {(m.model, m.backend): m for m in measure_latency(models, ["torch", "onnxruntime", "openvino"], PLAN,
                                                             progress=False)}
    for backend in ("onnxruntime", "openvino"):
        assert rows[("broken", backend)].status == "failed"
        assert "ONNX export failed" in rows[("broken", backend)].reason
        assert rows[("tiny", backend)].status == "ok"
    assert rows[("broken", "torch")].status == "ok"


def test_backends_agree_numerically_on_a_small_model(tmp_path):
    model, example = Tiny().eval(), torch.randn(1, 3, 16, 16)
    exports = latency.OnnxExports(tmp_path)
    with torch.inference_mode():
        expected = model(example).numpy()
    for name in ("onnxruntime", "openvino"):
        output = get_backend(name).prepare("tiny", model, example, threads=1, exports=exports)()
        value = output[0] if isinstance(output, list) else next(iter(output.values()))
        assert abs(value - expected).max() < 1e-4, name


def test_timing_plan_rejects_nonsense():
    with pytest.raises(MobileReproError, match="rounds"):
        TimingPlan(warmup=1, rounds=0, runs_per_round=1, threads=1)


def test_interrupt_keeps_the_samples_of_completed_rounds():
    calls = {"n": 0}

    class InterruptedOnTheFifthRun(Tiny):
        def forward(self, x):
            calls["n"] += 1
            if calls["n"] == 1 + 4 + 1:  # warm-up, two rounds of two runs, then Ctrl-C
                raise KeyboardInterrupt
            return super().forward(x)

    plan = TimingPlan(warmup=1, rounds=5, runs_per_round=2, threads=1)
    (measurement,) = measure_latency({"tiny": (InterruptedOnTheFifthRun().eval(), (3, 8, 8))}, ["torch"], plan,
                                     progress=False)
    assert measurement.status == "ok"
    assert measurement.rounds_completed == 2 and measurement.summary.n == 4
    assert measurement.record(0.15)["rounds_completed"] == 2


def test_an_interrupted_round_leaves_no_runs_behind():
    calls = {"n": 0}

    class InterruptedInTheThirdRound(Tiny):
        def forward(self, x):
            calls["n"] += 1
            if calls["n"] == 1 + 4 + 2:  # warm-up, two rounds of two runs, one run of the third, then Ctrl-C
                raise KeyboardInterrupt
            return super().forward(x)

    plan = TimingPlan(warmup=1, rounds=5, runs_per_round=2, threads=1)
    (measurement,) = measure_latency({"tiny": (InterruptedInTheThirdRound().eval(), (3, 8, 8))}, ["torch"], plan,
                                     progress=False)
    assert measurement.rounds_completed == 2 and measurement.summary.n == 4
    assert measurement.record(0.15)["median_of_round_means_ms"] is not None


def test_a_zero_initialised_branch_is_timed_as_built_and_the_callers_model_is_left_alone():
    model = ZeroInitialisedResidual().eval()
    revived = latency.without_dead_branches(model)
    assert revived is not model
    assert torch.equal(revived.branch[1].weight, torch.ones(8))
    assert not torch.count_nonzero(model.branch[1].weight)
    tiny = Tiny()
    assert latency.without_dead_branches(tiny) is tiny  # nothing to revive: no copy
