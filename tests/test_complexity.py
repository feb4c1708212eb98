"""MACs and parameter counts: hand-computed cases and the two reference models of the issue."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mobilerepro import paper
from mobilerepro.measure.complexity import count_macs, count_params, measure_complexity
from mobilerepro.models import zoo
from mobilerepro.reparam import reparameterize_model


class ConvBnLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = self.dw(x)
        return self.fc(x.mean((2, 3)))


def test_hand_computed_conv_depthwise_linear():
    by_op = count_macs(ConvBnLinear(), (3, 8, 8))
    conv = 8 * 3 * 3 * 3 * 8 * 8  # out_ch * in_ch * k * k * H * W; BN and ReLU are not counted
    depthwise = 8 * 1 * 3 * 3 * 8 * 8  # one input channel per group
    linear = 8 * 4
    assert sum(by_op.values()) == conv + depthwise + linear


def test_hand_computed_attention_matmuls():
    class Attention(nn.Module):
        def forward(self, x):
            q = k = v = x.reshape(1, 2, 16, 8)  # (batch, heads, tokens, head_dim)
            return F.scaled_dot_product_attention(q, k, v)

    macs = sum(count_macs(Attention(), (2, 16, 8)).values())
    assert macs == 2 * (2 * 16 * 16 * 8)  # q @ k^T and attn @ v, per head


def test_params_excludes_buffers():
    model = ConvBnLinear()
    expected = 8 * 3 * 9 + 2 * 8 + 8 * 9 + 8 + 8 * 4 + 4
    assert count_params(model) == expected


def test_count_restores_training_mode():
    model = ConvBnLinear().train()
    count_macs(model, (3, 8, 8))
    assert model.training


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobileone_s0"])
def test_reference_models_match_published_counts(name):
    """MobileNetV3-Large ~217 M MACs; reparameterised MobileOne-S0 ~275 M MACs / 2.1 M params (paper data)."""
    spec = zoo.get_spec(name)
    model = reparameterize_model(zoo.build_model(name))
    measured = measure_complexity(model, spec.input_size)
    published = paper.published_model(name)
    assert measured.macs_m == pytest.approx(paper.value(published["macs_m"]), rel=0.005)
    assert measured.params_m == pytest.approx(paper.value(published["params_m"]), rel=0.05)


def test_unfused_mobileone_has_more_params_than_fused():
    model = zoo.build_model("mobileone_s0")
    assert count_params(model) > 2 * count_params(reparameterize_model(model))
