"""The latency predictor: its features count each kind of layer exactly, its fits recover known costs, its
evaluation never lets a model see itself, and `predict` serves a fitted run with one-line errors."""

import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mobilerepro import MobileReproError, cli, experiments
from mobilerepro.measure import predictor as lp
from mobilerepro.measure.complexity import layer_costs
from mobilerepro.models.mobilenetv4 import MobileNetV4, random_spec


def test_features_split_the_macs_by_layer_kind_exactly():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                          nn.Conv2d(8, 16, 1), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    found = lp.features(layer_costs(model, (3, 8, 8)))
    pixels = 8 * 8
    assert found["dense_conv_gmacs"] * 1e9 == pytest.approx(pixels * 8 * 3 * 9)
    assert found["depthwise_gmacs"] * 1e9 == pytest.approx(pixels * 8 * 9)
    assert found["pointwise_gmacs"] * 1e9 == pytest.approx(pixels * 16 * 8)
    assert found["matmul_gmacs"] * 1e9 == pytest.approx(16 * pixels * 10)
    assert found["layers"] == 4
    weights = 8 * 3 * 9 + 8 + 8 * 9 + 8 + 16 * 8 + 16 + 16 * pixels * 10 + 10
    assert found["weight_mbytes"] * 1e6 == pytest.approx(weights * lp.BYTES_PER_ELEMENT)


def synthetic_features(rng, n):
    return [{name: float(rng.uniform(0.01, 1.0)) for name in (*lp.LAYER_FEATURES, "gmacs")} for _ in range(n)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 5.0), min_size=len(lp.LAYER_FEATURES), max_size=len(lp.LAYER_FEATURES)),
       st.integers(0, 10**6))
def test_a_fit_on_exact_costs_recovers_them(costs, seed):
    costs = np.array(costs)
    costs[0] += 0.5  # every latency positive
    rows = synthetic_features(np.random.default_rng(seed), 40)
    latency = [sum(c * r[name] for c, name in zip(costs, lp.LAYER_FEATURES, strict=True)) for r in rows]
    fitted = lp.fit("synthetic", "layers", rows, latency)
    predicted = [fitted.predict(r) for r in rows]
    assert lp.scores(predicted, latency)["within_10_percent"] == 1.0
    assert np.allclose(predicted, latency, rtol=1e-6)


def test_the_roofline_baseline_finds_the_ridge_point():
    rng = np.random.default_rng(0)
    ridge = lp.RIDGE_GRID[17]
    rows = []
    for _ in range(12):
        layers = int(rng.integers(3, 9))
        rows.append({"layer_macs": list(rng.uniform(1e6, 1e8, layers)),
                     "layer_bytes": list(rng.uniform(1e5, 5e7, layers))})
    latency = [2.5 * lp.roofline_cost(r, ridge) for r in rows]
    fitted = lp.fit("synthetic", "roofline", rows, latency)
    assert fitted.ridge == pytest.approx(ridge)
    assert fitted.coefficients["ms_per_gmac_equivalent"] == pytest.approx(2.5)


def test_leave_one_out_never_fits_on_the_model_it_predicts():
    rows = [{"gmacs": g, "layers": 1.0} for g in (1.0, 2.0, 3.0, 4.0)]
    latency = [1.0, 2.0, 3.0, 40.0]  # the last is off the line the others lie on
    predicted, measured = lp.cross_validate("d", "macs", rows, latency, ["a", "b", "c", "d"])
    assert measured == latency
    assert predicted[3] < 10  # fitted on a, b, c only: it cannot know d is slow


def test_the_interval_comes_from_the_held_out_errors():
    fitted = lp.Predictor("d", "macs", {"gmacs": 10.0}, held_out_errors=[-0.2, -0.1, 0.0, 0.1, 0.2] * 4)
    low, high = fitted.interval({"gmacs": 1.0}, coverage=0.9)
    assert low == pytest.approx(10.0 / 1.2) and high == pytest.approx(10.0 / 0.8)
    assert np.isnan(lp.Predictor("d", "macs", {"gmacs": 1.0}).interval({"gmacs": 1.0})[0])


def test_random_networks_are_fixed_by_their_seed_and_run():
    assert random_spec(3) == random_spec(3) and random_spec(3) != random_spec(4)
    spec = random_spec(5)
    output = MobileNetV4(spec).eval()(torch.randn(1, 3, spec.input_size, spec.input_size))
    assert output.shape == (1, 1000)


def test_bad_fits_and_kinds_are_one_line_errors():
    with pytest.raises(MobileReproError, match="unknown predictor kind"):
        lp.fit("d", "neural", [{"gmacs": 1.0}] * 2, [1.0, 2.0])
    with pytest.raises(MobileReproError, match="at least two positive latencies"):
        lp.fit("d", "macs", [{"gmacs": 1.0}], [1.0])


def test_predict_serves_the_fitted_run_with_an_interval(capsys, smoke_run):
    experiment = experiments.get("deploy/latency_predictor")
    # The suite's smoke run of the chapter, put where this machine's runs of it are read from.
    shutil.copytree(smoke_run(experiment.id), experiment.default_output_dir("smoke"), dirs_exist_ok=True)
    assert cli.main(["predict", "--device", "iphone12", "--model", "mobileone_s1"]) == 0
    out = capsys.readouterr().out
    assert "mobileone_s1 (224 px) on iPhone 12 (Core ML):" in out and "within ±10 %" in out
    assert cli.main(["predict", "--device", "onnxruntime", "--model", "resnet18"]) == 0  # torchvision, no weights
    assert "resnet18 (224 px) on this machine: onnxruntime" in capsys.readouterr().out
    assert cli.main(["predict", "--device", "nokia 3310", "--model", "mobileone_s1"]) != 0
    assert "no predictor for device 'nokia 3310'" in capsys.readouterr().err
    assert cli.main(["predict", "--device", "iphone12", "--model", "not_a_network"]) != 0
    assert "unknown model 'not_a_network'" in capsys.readouterr().err


def test_published_latencies_join_the_zoo_rows_and_mnv4_table6_baselines():
    from mobilerepro import paper

    found = paper.published_latencies(["mobileone_s0", "mnv4_conv_s"], ["iphone12", "iphone13", "pixel6_cpu"])
    assert paper.value(found["iphone12"]["mobileone_s0"]) == paper.value(
        paper.published_model("mobileone_s0")["latency_ms"]["iphone12"])
    table6 = paper.load("mobilenetv4")["table6"]["baselines"]["mobileone_s0"]["latency_ms"]
    assert found["iphone13"]["mobileone_s0"] == table6["iphone13"]
    assert set(found["pixel6_cpu"]) == {"mobileone_s0", "mnv4_conv_s"} and "mnv4_conv_s" not in found["iphone12"]
