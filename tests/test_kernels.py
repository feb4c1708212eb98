"""The kernel-level latency predictor: kernels a backend runs, kernels rebuilt alone, their regressors, the lists kept
apart from every fit."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mobilerepro.measure import kernel_model as km
from mobilerepro.measure import kernel_timing
from mobilerepro.measure.kernels import (
    CONVOLUTION_TYPES,
    fuse,
    fusion_rules,
    network_kernels,
    standalone,
    trace,
)
from mobilerepro.measure.latency import DESKTOP_BACKENDS
from mobilerepro.measure.predictor_evaluation import unseen_models
from mobilerepro.models import zoo
from mobilerepro.reparam import reparameterize_model


def test_every_desktop_backend_has_fusion_rules_and_a_reason():
    rules = fusion_rules()
    for backend in DESKTOP_BACKENDS:
        assert rules[backend]["why"]
        assert set(rules[backend]) >= {"fold_batch_norm", "conv_epilogue", "linear_epilogue", "blocked_layout"}


def _block():
    return torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16),
                               torch.nn.ReLU()).eval()


def test_eager_torch_runs_every_op_and_the_graph_runtimes_fuse_norm_and_activation():
    ops = trace(_block(), (16, 8, 8))
    assert [k.type for k in fuse(ops, "torch").kernels] == ["conv_dense", "batch_norm", "unary"]
    for backend in ("onnxruntime", "openvino"):
        fused = fuse(ops, backend).kernels
        assert [k.type for k in fused] == ["conv_dense"]
        assert fused[0].epilogue == ["batch_norm", "activation:relu"]


class _Residual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 8, 1)
        self.gate = torch.nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = self.conv(x)
        return y + x, torch.sigmoid(self.gate(y))  # `y` has two readers: nothing may be fused into its conv


def test_an_output_with_two_readers_is_never_fused_away():
    kernels = network_kernels(_Residual().eval(), (8, 4, 4), "onnxruntime").kernels
    first = kernels[0]
    assert first.type == "conv_pointwise" and first.epilogue == []
    assert any(k.type == "binary" for k in kernels)  # the add stays its own kernel


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_large", "mnv4_hybrid_m"])
def test_the_onnxruntime_rules_match_the_graph_onnxruntime_runs(name):
    """Our kernels against ORT's own optimized graph: every convolution exactly, the other kernels and the layout
    reorders within a fifth (ORT's layout pass places a few reorders the rules do not)."""
    from mobilerepro.measure.kernels import onnxruntime_graph_check

    found = onnxruntime_graph_check(reparameterize_model(zoo.build_model(name, seed=0)), zoo.get_spec(name).input_size)
    assert found["convolutions"] == found["runtime_convolutions"]
    assert abs(found["other"] - found["runtime_other"]) <= max(2, 0.2 * found["runtime_other"]), found
    assert abs(found["reorders"] - found["runtime_reorders"]) <= max(2, 0.2 * found["runtime_reorders"]), found


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mnv4_hybrid_m", "deit_tiny", "efficientformerv2_s0"])
def test_a_kernel_rebuilt_alone_has_the_shapes_it_had_in_the_network(name):
    network = network_kernels(reparameterize_model(zoo.build_model(name, seed=0)), zoo.get_spec(name).input_size,
                              "torch")
    for kernel in network.kernels:
        module, size = standalone(kernel)
        with torch.no_grad():
            out = module(torch.randn(1, *size))
        if kernel.type != "copy":  # a copy is rebuilt as a transposing copy of its input
            assert math.prod(out.shape) == math.prod(kernel.output_shape), kernel


def test_a_conv_kernels_macs_are_the_layers_macs():
    from mobilerepro.measure.complexity import layer_costs

    model = reparameterize_model(zoo.build_model("mobilenet_v2", seed=0))
    kernels = network_kernels(model, (3, 224, 224), "onnxruntime").kernels
    convolutions = sum(k.features()["macs"] for k in kernels if k.type in CONVOLUTION_TYPES)
    layers = sum(layer.macs for layer in layer_costs(model, (3, 224, 224)) if layer.op.endswith("convolution"))
    assert convolutions == layers


def test_the_grid_reaches_every_kernel_type_it_names_on_each_backend():
    for backend in DESKTOP_BACKENDS:
        found = {entry["kernel"].type for entry in kernel_timing.grid_kernels(len(kernel_timing.GRID_KINDS) * 2,
                                                                               backend).values()}
        assert set(CONVOLUTION_TYPES) <= found
        assert {"matmul", "attention", "reduce", "pool"} <= found


@given(st.lists(st.integers(1, 6), min_size=1, max_size=6), st.integers(0, 40), st.integers(0, 3))
@settings(max_examples=60, deadline=None)
def test_a_sample_keeps_at_most_its_count_and_every_type_it_can(sizes, count, seed):
    kernels = {f"{t}-{i}": {"kernel": type("K", (), {"type": f"t{t}"})(), "families": {"x"}}
               for t, n in enumerate(sizes) for i in range(n)}
    chosen = kernel_timing.sample(kernels, count, seed)
    assert len(chosen) <= count or len(kernels) <= count
    if count >= len(sizes):
        assert {entry["kernel"].type for entry in chosen.values()} == {f"t{t}" for t in range(len(sizes))}


def test_a_type_model_recovers_a_cost_it_can_express():
    rng = np.random.default_rng(0)
    features = [{"macs": float(m), "input_elements": float(e), "output_elements": float(e), "weight_elements": 0.0,
                 "epilogue_ops": 0.0} for m, e in zip(rng.uniform(1e5, 1e8, 60), rng.uniform(1e3, 1e6, 60),
                                                     strict=True)]
    latency = [0.02 + f["macs"] / 1e9 + 2 * f["input_elements"] / 1e8 for f in features]
    model = km.fit_type(features, latency)
    predicted = model.predict(features)
    assert np.max(np.abs(predicted / np.array(latency) - 1)) < 0.1


def test_no_unseen_architecture_is_in_the_zoo_or_a_zoo_family():
    import timm

    sources = {zoo.get_spec(name).source.split(":", 1)[1] for name in zoo.model_names()}
    families = {zoo.get_spec(name).family.lower() for name in zoo.model_names()}
    for name, family in unseen_models().items():
        assert timm.is_model(name)
        assert name not in sources and name not in zoo.model_names()
        assert family.split(" (")[0].lower() not in families, name


def test_the_predictor_chapter_refuses_an_unseen_list_that_is_not_kept_apart():
    from mobilerepro import MobileReproError, experiments

    chapter = experiments.get("deploy/latency_predictor")
    with pytest.raises(MobileReproError, match="kept apart"):
        chapter.configure("smoke", unseen_models=["mobilenet_v2"])


def test_the_kernel_timing_set_times_only_what_its_cache_lacks(tmp_path, monkeypatch):
    from mobilerepro.measure import latency
    from mobilerepro.measure.latency import TimingPlan

    monkeypatch.setenv("MOBILEREPRO_RESULTS", str(tmp_path))
    kernels = kernel_timing.grid_kernels(6, "torch")
    plan = TimingPlan(warmup=1, rounds=1, runs_per_round=1, threads=1)
    first = kernel_timing.timed_kernels(kernels, "torch", plan, progress=False)
    assert {r["key"] for r in first} == set(kernels) and all(r["status"] == "ok" for r in first)
    cache = kernel_timing.cache_file("torch", plan)
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # cut by an interruption
    timed = []
    real = latency.measure_latency

    def counting(models, *args, **kwargs):
        timed.extend(name for name in models if name != kernel_timing.NULL_KERNEL)
        return real(models, *args, **kwargs)

    monkeypatch.setattr(kernel_timing, "measure_latency", counting)
    again = kernel_timing.timed_kernels(kernels, "torch", plan, progress=False)
    assert len(timed) == 1
    assert [r["key"] for r in again] == [r["key"] for r in first]
    assert all(r["latency_ms"] >= 0 for r in again)


def test_the_calibration_leaves_a_term_no_network_has_at_zero():
    terms = [[1.0, 2.0, 0.0, 0.0], [2.0, 1.0, 0.0, 0.0], [3.0, 3.0, 0.0, 0.0], [1.0, 4.0, 0.0, 0.0]]
    latency = [1.5 * a + 0.5 * b for a, b, _, _ in terms]
    calibration = km.calibrate(terms, latency)
    assert calibration.coefficients[2:] == [0.0, 0.0]
    assert np.allclose(calibration.coefficients[:2], [1.5, 0.5])


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_large"])
def test_the_openvino_rules_match_the_graph_openvino_runs(name):
    """Our OpenVINO kernels against the CPU plugin's runtime graph: every convolution exactly, the other kernels
    within a fifth (its reorders are placed by rules of its own, which ours approximate with ONNX Runtime's)."""
    pytest.importorskip("openvino")
    from mobilerepro.measure.kernels import openvino_graph_check

    found = openvino_graph_check(reparameterize_model(zoo.build_model(name, seed=0)), zoo.get_spec(name).input_size)
    assert found["convolutions"] == found["runtime_convolutions"], found
    assert abs(found["other"] - found["runtime_other"]) <= max(2, 0.2 * found["runtime_other"]), found


def test_a_line_cache_keeps_whole_records_and_drops_a_line_cut_by_an_interruption(tmp_path):
    from mobilerepro.results import read_line_cache

    cache = tmp_path / "sub" / "timings.jsonl"
    assert read_line_cache(cache, "key") == {} and cache.parent.is_dir()
    cache.write_text(json.dumps({"key": "a", "ms": 1.0}) + "\n" + json.dumps({"key": "b", "ms": 2.0})[:-3])
    assert read_line_cache(cache, "key") == {"a": {"key": "a", "ms": 1.0}}
