"""Our MobileNetV4: the UIB instantiations, Mobile MQA, timm parity, params/MACs at the paper's input sizes."""

import dataclasses

import pytest
import torch
from helpers import randomize_batchnorm

from mobilerepro import MobileReproError, paper
from mobilerepro.measure.complexity import measure_complexity
from mobilerepro.models import mobilenetv4 as m4

MODELS = list(m4.SPECS)
CODED = list(m4.TIMM_NAMES)  # the forms the official code (and timm) has


@pytest.mark.parametrize("name", CODED)
def test_timm_parity(name):
    import timm

    torch.manual_seed(0)
    reference = randomize_batchnorm(timm.create_model(m4.TIMM_NAMES[name], pretrained=False)).eval()
    ours = m4.mobilenetv4(name).eval()
    ours.load_state_dict(m4.convert_timm_state_dict(reference.state_dict()), strict=True)
    x = torch.randn(2, 3, 128, 128)
    with torch.inference_mode():
        expected, actual = reference(x), ours(x)
    assert ((actual - expected).norm() / expected.norm()).item() <= 1e-5


@pytest.mark.parametrize(
    "row, kind, has_start, has_middle",
    [
        (m4.UIB(3, 5, 4.0, 64, 2), "ExtraDW", True, True),
        (m4.UIB(0, 3, 4.0, 64, 2), "IB", False, True),
        (m4.UIB(5, 0, 4.0, 64, 2), "ConvNext", True, False),
        (m4.UIB(0, 0, 4.0, 32, 1), "FFN", False, False),
    ],
)
def test_uib_instantiations(row, kind, has_start, has_middle):
    block = m4.UniversalInvertedBottleneck(32, row, "relu", None)
    assert row.kind == kind
    assert (block.start_dw is not None, block.middle_dw is not None) == (has_start, has_middle)
    assert block.expand.conv.out_channels == 128  # expansion applies to the block's input channels
    if has_middle:  # the stride sits in the middle depthwise when there is one, and it has an activation
        assert block.middle_dw.conv.stride == (row.stride,) * 2 and hasattr(block.middle_dw, "act")
    if has_start:  # the start depthwise has BN and no activation
        assert not hasattr(block.start_dw, "act")
        assert block.start_dw.conv.stride == ((1, 1) if has_middle else (row.stride,) * 2)
    out = block(torch.randn(1, 32, 16, 16))
    assert out.shape == (1, row.channels, 16 // row.stride, 16 // row.stride)
    assert block.residual == (row.stride == 1 and row.channels == 32)


@pytest.mark.parametrize("kv_stride", [1, 2])
def test_mobile_mqa_shapes(kv_stride):
    attention = m4.MobileMQA(64, 64, heads=4, key_dim=16, kv_stride=kv_stride, kernel=3)
    assert attention.key.out_channels == attention.value.out_channels == 16  # one shared key and value head
    assert attention.query.out_channels == 4 * 16
    assert (attention.key_down is None) == (kv_stride == 1)
    x = torch.randn(2, 64, 8, 8)
    k_input = attention.key_down(x) if attention.key_down is not None else x
    assert k_input.shape[-2:] == (8 // kv_stride, 8 // kv_stride)  # keys/values downsampled, queries not
    assert attention(x).shape == (2, 64, 8, 8)


def test_mqa_block_uses_prenorm_and_layer_scale():
    block = m4.MobileMQABlock(64, m4.MQA(4, 16, 2, 64), "relu", 1e-5)
    assert isinstance(block.norm, torch.nn.BatchNorm2d) and block.residual
    assert torch.allclose(block.layer_scale.gamma, torch.full((64,), 1e-5))


@pytest.mark.parametrize("name", MODELS)
def test_params_and_macs_at_paper_input_sizes(name):
    derived = paper.load("mobilenetv4")["table6"]["models"][name]
    model = m4.mobilenetv4(name).eval()
    counts = measure_complexity(model, model.input_size)
    assert model.spec.input_size == derived["input_size"]
    assert counts.params_m == pytest.approx(derived["params_m_derived"]["value"], abs=0.005)
    assert counts.macs_m / 1000 == pytest.approx(derived["macs_g_derived"]["value"], abs=0.0005)


def test_tab13_hybrid_m_is_another_network_with_the_same_stages():
    """Tab. 13's Hybrid-M has other blocks than the code's, but the same stage widths, strides and head."""
    coded, printed = m4.HYBRID_M, m4.HYBRID_M_TAB13
    assert coded.stages != printed.stages
    for ours, theirs in zip(coded.stages, printed.stages, strict=True):
        assert [r.channels for r in ours][-1] == [r.channels for r in theirs][-1]
        assert [getattr(r, "stride", 1) for r in ours][0] == [getattr(r, "stride", 1) for r in theirs][0]
    assert sum(isinstance(r, m4.MQA) for stage in printed.stages for r in stage) == \
        sum(isinstance(r, m4.MQA) for stage in coded.stages for r in stage)
    assert (coded.stem_channels, coded.layer_scale, coded.input_size) == \
        (printed.stem_channels, printed.layer_scale, printed.input_size)


def test_unknown_model():
    with pytest.raises(MobileReproError, match="unknown MobileNetV4 model"):
        m4.mobilenetv4("hybrid_s")


def test_dropout_and_stochastic_depth_act_only_in_training():
    torch.manual_seed(0)
    from timm.layers import DropPath

    plain = m4.mobilenetv4("conv_s", num_classes=10)
    regularised = m4.mobilenetv4("conv_s", num_classes=10, drop_rate=0.3, drop_path_rate=0.2)
    regularised.load_state_dict(plain.state_dict())
    rates = [module.drop_prob for module in regularised.modules() if isinstance(module, DropPath)]
    assert rates and rates == sorted(rates) and max(rates) <= 0.2
    assert regularised.dropout.p == 0.3
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(plain.eval()(x), regularised.eval()(x))
    regularised.train()
    assert not torch.equal(regularised(x), regularised(x))


def test_without_kv_downsampling_changes_only_the_key_value_strides():
    full = m4.without_kv_downsampling(m4.HYBRID_M)
    rows = [(a, b) for sa, sb in zip(m4.HYBRID_M.stages, full.stages, strict=True)
            for a, b in zip(sa, sb, strict=True)]
    assert any(isinstance(a, m4.MQA) and a.kv_stride == 2 for a, _ in rows)
    for published, changed in rows:
        if isinstance(published, m4.MQA):
            assert changed == dataclasses.replace(published, kv_stride=1)
        else:
            assert changed == published
    # the downsampling depthwise convolutions (2 per strided block) are all that goes
    removed = sum(p.numel() for p in m4.MobileNetV4(m4.HYBRID_M).parameters()) - \
        sum(p.numel() for p in m4.MobileNetV4(full).parameters())
    strided = [a for a, _ in rows if isinstance(a, m4.MQA) and a.kv_stride > 1]
    assert removed == sum(2 * (a.channels * a.kernel**2 + 2 * a.channels) for a in strided)
