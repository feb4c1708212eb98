"""Roofline arithmetic on a hand-computed two-layer model, Pareto fronts on constructed points."""

import pytest
import torch
from torch import nn

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
