"""Each activation's defining property, and the probe network's structure."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mobilerepro import MobileReproError
from mobilerepro.models.activations import ACTIVATIONS, DynamicReLU, DynamicShiftMax, SEReLU, make_activation
from mobilerepro.models.probes import ProbeConfig, ProbeNetwork, count_layers

torch.manual_seed(0)


def silence_hyper_network(activation: nn.Module) -> nn.Module:
    """Zero the last layer of the hyper-network: its residual becomes 0 (sigmoid/h_sigmoid at 0 give 0.5)."""
    with torch.no_grad():
        activation.hyper.fc2.weight.zero_()
        activation.hyper.fc2.bias.zero_()
    return activation


@pytest.mark.parametrize("activation", [DynamicReLU(16, "A"), DynamicReLU(16, "B"), DynamicShiftMax(16)])
def test_dynamic_activations_reduce_to_relu_at_their_initial_coefficients(activation):
    x = torch.randn(2, 16, 5, 5)
    assert torch.allclose(silence_hyper_network(activation)(x), F.relu(x), atol=1e-6)


def test_dynamic_relu_a_shares_coefficients_across_channels_and_b_does_not():
    x = torch.randn(3, 16, 4, 4)
    a_slopes, _ = DynamicReLU(16, "A").coefficients(x)
    b_slopes, _ = DynamicReLU(16, "B").coefficients(x)
    assert a_slopes.shape == (3, 1, 2) and b_slopes.shape == (3, 16, 2)
    assert not torch.allclose(b_slopes[:, 0], b_slopes[:, 1])


def test_dynamic_relu_is_the_max_of_input_dependent_linear_pieces():
    activation = DynamicReLU(8, "B")
    x = torch.randn(2, 8, 3, 3)
    a, b = activation.coefficients(x)
    expected = torch.maximum(x * a[..., 0, None, None] + b[..., 0, None, None],
                             x * a[..., 1, None, None] + b[..., 1, None, None])
    assert torch.allclose(activation(x), expected)
    other = torch.randn(2, 8, 3, 3) * 3 + 1
    assert not torch.allclose(activation.coefficients(other)[0], a)  # dynamic: depends on the input
    # slopes within alpha + lambda_a * [-1, 1], intercepts within lambda_b * [-1, 1]
    assert a[..., 0].min() >= 0 and a[..., 0].max() <= 2 and b.abs().max() <= 0.5


def test_dynamic_shift_max_mixes_each_channel_with_the_one_a_group_further():
    channels, groups = 8, 4
    activation = DynamicShiftMax(channels, groups=groups)
    with torch.no_grad():  # constant, input-independent coefficients: isolate the channel mixing
        activation.hyper.fc2.weight.zero_()
        activation.hyper.fc2.bias.uniform_(-2, 2)
    x = torch.randn(1, channels, 4, 4)
    probe = x.clone()
    probe[:, 5] += 10.0
    changed = (activation(probe) - activation(x)).abs().amax(dim=(0, 2, 3)) > 0
    shift = channels // groups
    assert set(torch.nonzero(changed).flatten().tolist()) <= {5, (5 - shift) % channels}


def test_dynamic_shift_max_rejects_indivisible_groups():
    with pytest.raises(MobileReproError, match="divisible"):
        DynamicShiftMax(10, groups=4)


def test_se_relu_gates_each_channel_then_rectifies():
    activation = SEReLU(16)
    x = torch.randn(2, 16, 6, 6)
    gate = activation.se.gate(x)
    assert gate.shape == (2, 16, 1, 1) and ((gate > 0) & (gate < 1)).all()
    assert torch.allclose(activation(x), F.relu(x * gate))


def test_unknown_activation():
    with pytest.raises(MobileReproError, match="unknown activation 'prelu'"):
        make_activation("prelu", 8)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_probe_network_has_30_layers_with_every_activation(activation):
    model = ProbeNetwork(ProbeConfig(activation=activation, width=0.25, input_size=64)).eval()
    assert count_layers(model) == 30
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_probe_depth_parameter_and_variants():
    assert count_layers(ProbeNetwork(ProbeConfig(depth=40, width=0.25))) == 40
    with pytest.raises(MobileReproError, match="even"):
        ProbeConfig(depth=31).blocks()
    skip = ProbeNetwork(ProbeConfig(skip=True, width=0.25))
    assert sum(block.residual for block in skip.blocks) == 9  # 128, 256, 6 x 512, 1024: shapes allow an identity
    se = ProbeNetwork(ProbeConfig(se=True, width=0.25))
    assert all(not isinstance(block.se, nn.Identity) for block in se.blocks)


def test_coreml_op_census_counts_global_pools():
    pytest.importorskip("coremltools")
    from mobilerepro.export.coreml import convert, op_census

    plain = op_census(convert(ProbeNetwork(ProbeConfig(depth=18, width=0.25, input_size=32)), (3, 32, 32)))
    gated = op_census(convert(ProbeNetwork(ProbeConfig(depth=18, width=0.25, input_size=32, se=True)), (3, 32, 32)))
    assert plain["conv"] == 17 and plain["reduce_mean"] == 1  # only the classifier's pooling
    assert gated["reduce_mean"] == 1 + 8  # one squeeze per block
