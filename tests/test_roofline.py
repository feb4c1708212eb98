"""Roofline arithmetic on a hand-computed two-layer model, Pareto fronts on constructed points."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mobilerepro import MobileReproError
from mobilerepro.measure import roofline
from mobilerepro.measure.complexity import LayerCost, inside_tap_fraction
from mobilerepro.measure.roofline import layer_costs, model_time, pareto_front, ridge_cost


class TwoLayers(nn.Module):
    """conv 3->8, 3x3, stride 1, pad 1, no bias, on 4x4; then linear 8->2 after global pooling."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def test_layer_costs_by_hand():
    conv, fc = layer_costs(TwoLayers(), (3, 4, 4))
    assert conv.macs == 8 * 3 * 9 * 16
    assert conv.weight_elements == 8 * 3 * 9
    assert conv.activation_elements == 3 * 16 + 8 * 16  # input + output
    assert fc.macs == 8 * 2
    assert fc.weight_elements == 8 * 2 + 2  # weight and bias
    assert fc.activation_elements == 8 + 2


def test_model_time_takes_the_slower_of_compute_and_memory_per_layer():
    conv, fc = layer_costs(TwoLayers(), (3, 4, 4))
    peak_macs, bandwidth = 1000.0, 100.0  # ridge point 10 MACs/byte
    expected = max(3456 / 1000, (216 + 176) / 100) + max(16 / 1000, (18 + 10) / 100)
    assert model_time([conv, fc], peak_macs, bandwidth, bytes_per_element=1) == pytest.approx(expected)
    # ranking form: ModelTime x PeakMACs at RP = PeakMACs / PeakMemBW
    assert ridge_cost([conv, fc], 10.0, 1) == pytest.approx(expected * peak_macs)


def test_ridge_point_zero_is_macs_only():
    layers = layer_costs(TwoLayers(), (3, 4, 4))
    assert ridge_cost(layers, 0.0, 1) == sum(layer.macs for layer in layers)


def test_attention_matmuls_count_without_weights():
    class Attention(nn.Module):
        def forward(self, x):
            q = x.reshape(1, 2, 16, 8)
            return torch.nn.functional.scaled_dot_product_attention(q, q, q)

    (layer,) = layer_costs(Attention(), (2, 16, 8))
    assert layer.macs == 2 * (2 * 16 * 16 * 8) and layer.weight_elements == 0


def test_pareto_front_on_constructed_points():
    costs = [1.0, 2.0, 3.0, 2.5, 4.0, 2.0]
    accuracy = [70.0, 75.0, 74.0, 78.0, 78.0, 74.0]
    # 0: cheapest; 1: beats 2 and 5; 3: best accuracy at lower cost than 4; 4 ties 3 on accuracy at higher cost
    assert pareto_front(costs, accuracy).tolist() == [True, True, False, True, False, False]


@pytest.mark.parametrize("kernel", [k for k in roofline.calibration_kernels() if k.kind == "conv"],
                         ids=lambda kernel: kernel.name)
def test_a_calibration_convolution_is_counted_as_the_roofline_counts_a_layer(kernel):
    cin, cout, k, hw, groups = kernel.shape
    layer, = layer_costs(nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False), (cin, hw, hw))
    assert (kernel.macs, kernel.bytes) == (layer.macs, layer.bytes(4))


def test_the_peaks_are_the_best_rates_of_any_kernel_on_any_backend():
    peaks = roofline.measure_peaks(("torch", "onnxruntime"), threads=1, repeats=1)
    assert set(peaks.by_backend) == {"torch", "onnxruntime"}
    assert peaks.peak_macs == max(peaks.by_backend.values())
    measured = {(k["backend"], k["kernel"]) for k in peaks.kernels}
    compute = [k for k in roofline.calibration_kernels() if k.kind != "copy"]
    assert measured == ({(b, k.name) for b in ("torch", "onnxruntime") for k in compute}
                        | {("torch", f"copy {kb}") for kb in roofline.COPY_KILOBYTES})
    for backend, best in peaks.by_backend.items():
        assert best == max(k["mac_per_s"] for k in peaks.kernels if k["backend"] == backend)
    assert peaks.peak_bandwidth == max(k["byte_per_s"] for k in peaks.kernels)
    assert peaks.ridge_point == peaks.peak_macs / peaks.peak_bandwidth
    assert 0 < peaks.dram_bandwidth <= peaks.peak_bandwidth


def test_every_calibration_kernel_lies_on_or_above_its_own_floor():
    """By construction: the peaks are the kernels' best rates, so no kernel's best time beats its roofline time."""
    peaks = roofline.measure_peaks(("torch",), threads=1, repeats=1)
    for record in peaks.kernels:
        floor = max(record["macs"] / peaks.peak_macs, record["bytes"] / peaks.peak_bandwidth)
        assert floor <= record["seconds"] * (1 + 1e-12), record["kernel"]


def test_the_peaks_refuse_a_calibration_without_compute_or_copy():
    with pytest.raises(MobileReproError, match="at least one compute kernel and one copy"):
        roofline.MachinePeaks.from_timings({("copy 64", "torch"): 1e-5}, threads=1)


def test_the_floor_is_the_model_time_at_the_peaks():
    layers = [LayerCost("conv", macs=2_000_000, weight_elements=1000, activation_elements=9000)]
    peaks = roofline.MachinePeaks(peak_macs=1e9, peak_bandwidth=1e9, threads=1)
    # compute 2e6 / 1e9 s = 2 ms; memory 10 000 x 4 bytes / 1e9 = 0.04 ms: the floor is the compute time
    assert peaks.floor_ms(layers) == pytest.approx(2.0)
    assert peaks.floor_ms(layers, bytes_per_element=1000) == pytest.approx(10.0)


def test_a_timing_below_its_floor_is_a_calibration_error():
    """Constructed timings through the chapters' own row builder: a model timed faster than its floor raises the
    alarm in the rows, the notes and the roofline table; one at half its floor's speed does not."""
    from mobilerepro import experiments
    from mobilerepro.experiments._latency import Candidate, LatencyResult
    from mobilerepro.measure.latency import Measurement

    chapter = experiments.get("table1")
    config = chapter.config_type(profile="smoke", backends=["torch", "onnxruntime"])
    candidates = [Candidate({"model": name}, build=None, input_size=(3, 8, 8)) for name in ("a", "b")]
    timings = {("a", "torch"): [1.0, 1.2], ("b", "torch"): [0.5, 0.9], ("a", "onnxruntime"): [1.1],
               ("b", "onnxruntime"): [2.5]}
    measurements = {key: Measurement(*key, "ok", samples_ms=samples, rounds_completed=1)
                    for key, samples in timings.items()}
    rows = chapter._rows(config, candidates, [{"model": "a"}, {"model": "b"}], measurements,
                         {"a": 0.5, "b": 0.8}, ["torch", "onnxruntime"])
    summary = {"backends": [], "candidates": [], "peaks": {"threads": 1, "peak_macs": 1e9, "by_backend": {},
                                                           "peak_bandwidth": 1e9, "dram_bandwidth": 5e8,
                                                           "ridge_point_fp32": 1.0}}
    result = LatencyResult(chapter, None, summary, rows)
    errors = result.roofline_errors()
    assert list(zip(errors.model, errors.backend, strict=True)) == [("b", "torch")]
    assert any(line.startswith("CALIBRATION ERROR: 1 timing(s)") for line in result.notes())
    table = result.roofline_table().set_index("model")
    assert table.loc["a", "fraction of roofline, torch"] == pytest.approx(0.5)
    assert table.loc["b", "fraction of roofline, torch"] == pytest.approx(1.6)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 24), kernel=st.integers(1, 5), stride=st.integers(1, 3), padding=st.integers(0, 6),
       dilation=st.integers(1, 8))
def test_the_share_of_taps_inside_the_input_is_what_a_convolution_of_ones_counts(size, kernel, stride, padding,
                                                                                 dilation):
    """A convolution of an all-ones image with an all-ones kernel adds one per tap that reads the image: summed over
    the output, it counts exactly the (position, tap) pairs inside the input."""
    if size + 2 * padding < dilation * (kernel - 1) + 1:
        return  # no output at all
    ones = torch.ones(1, 1, size, size, dtype=torch.float64)
    counted = torch.nn.functional.conv2d(ones, torch.ones(1, 1, kernel, kernel, dtype=torch.float64), stride=stride,
                                         padding=padding, dilation=dilation)
    out = counted.shape[2:]
    expected = counted.sum().item() / (out[0] * out[1] * kernel * kernel)
    assert inside_tap_fraction((size, size), (kernel, kernel), tuple(out), (stride, stride), (padding, padding),
                               (dilation, dilation)) == pytest.approx(expected, rel=1e-12)


def test_the_floor_leaves_out_taps_on_padding_but_the_mac_count_keeps_them():
    conv = torch.nn.Conv2d(4, 4, 3, padding=16, dilation=16)
    layer, = layer_costs(conv, (4, 16, 16))
    assert layer.macs == 4 * 4 * 9 * 16 * 16 and layer.necessary_macs == layer.macs // 9
