"""The backbone feature interface (timm's): feature_info, forward_intermediates, output stride by dilation, and the
reparameterisation of MobileOne in its dilated form."""

import pytest
import torch
from helpers import randomize_batchnorm

from mobilerepro import MobileReproError
from mobilerepro.models.mobilenetv4 import _Residual, mobilenetv4
from mobilerepro.models.mobileone import mobileone
from mobilerepro.reparam import reparameterize_model

BACKBONES = {
    "mobileone_s0": lambda **kw: mobileone("s0", **kw),
    "mobileone_s4": lambda **kw: mobileone("s4", **kw),  # SE blocks
    "mnv4_conv_s": lambda **kw: mobilenetv4("conv_s", **kw),
    "mnv4_hybrid_m": lambda **kw: mobilenetv4("hybrid_m", **kw),  # Mobile MQA blocks
}
SIZE = 96


def build(name, **options):
    torch.manual_seed(0)
    return BACKBONES[name](**options).eval()


@pytest.mark.parametrize("output_stride", [32, 16, 8])
@pytest.mark.parametrize("name", BACKBONES)
def test_every_feature_has_the_channels_and_stride_feature_info_promises(name, output_stride):
    model = build(name, output_stride=output_stride)
    x = torch.randn(2, 3, SIZE, SIZE)
    final, features = model.forward_intermediates(x)
    assert len(features) == len(model.feature_info)
    for feature, info in zip(features, model.feature_info, strict=True):
        assert feature.shape == (2, info["num_chs"], SIZE // info["reduction"], SIZE // info["reduction"])
    assert max(info["reduction"] for info in model.feature_info) == output_stride
    reductions = [info["reduction"] for info in model.feature_info]
    assert reductions == sorted(reductions)
    assert torch.equal(final, model.forward_features(x))


@pytest.mark.parametrize("name", BACKBONES)
def test_the_classifier_reads_the_same_features(name):
    model = build(name)
    x = torch.randn(1, 3, SIZE, SIZE)
    final, _ = model.forward_intermediates(x)
    with torch.no_grad():
        head = getattr(model, "head", torch.nn.Identity())
        pooled = torch.flatten(head(model.pool(final)), 1)
        dropout = getattr(model, "dropout", torch.nn.Identity())
        assert torch.allclose(model.classifier(dropout(pooled)), model(x))


@pytest.mark.parametrize("name", BACKBONES)
def test_output_stride_32_is_the_published_network(name):
    default, explicit = build(name), build(name, output_stride=32)
    x = torch.randn(1, 3, SIZE, SIZE)
    assert default.state_dict().keys() == explicit.state_dict().keys()
    assert torch.equal(default(x), explicit(x))


def test_dilation_keeps_the_weights_and_the_residual_decisions():
    plain, dilated = build("mnv4_hybrid_m"), build("mnv4_hybrid_m", output_stride=8)
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in dilated.state_dict().items()}
    residual = [[m.residual for m in model.modules() if isinstance(m, _Residual)] for model in (plain, dilated)]
    assert residual[0] == residual[1]


@pytest.mark.parametrize("output_stride", [16, 8])
def test_dilated_mobileone_reparameterises_exactly(output_stride):
    """In float64, so that fusion itself is what is tested (the suite's convention: relative error <= 1e-10)."""
    model = randomize_batchnorm(build("mobileone_s0", output_stride=output_stride)).double()
    fused = reparameterize_model(model)
    x = torch.randn(1, 3, SIZE, SIZE, dtype=torch.float64)
    with torch.no_grad():
        for ours, theirs in zip(fused.forward_intermediates(x)[1], model.forward_intermediates(x)[1], strict=True):
            assert ((ours - theirs).norm() / theirs.norm()).item() <= 1e-10
    dilations = {m.dilation[0] for m in fused.modules() if isinstance(m, torch.nn.Conv2d)}
    assert max(dilations) == 32 // output_stride


def test_indices_select_feature_points_the_timm_way():
    model = build("mobileone_s0")
    x = torch.randn(1, 3, SIZE, SIZE)
    every = model.forward_intermediates(x, intermediates_only=True)
    last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
    chosen = model.forward_intermediates(x, indices=[1, -1], intermediates_only=True)
    assert [f.shape for f in last_two] == [f.shape for f in every[-2:]]
    assert [f.shape for f in chosen] == [every[1].shape, every[-1].shape]
    final, early = model.forward_intermediates(x, indices=[1], stop_early=True)
    assert torch.equal(early[0], every[1]) and final.shape == every[-1].shape


@pytest.mark.parametrize("bad", [{"indices": 9}, {"indices": [7]}, {"output_fmt": "NHWC"}])
def test_bad_feature_requests_are_one_line_errors(bad):
    with pytest.raises(MobileReproError):
        build("mobileone_s0").forward_intermediates(torch.randn(1, 3, SIZE, SIZE), **bad)


@pytest.mark.parametrize("name", BACKBONES)
def test_an_unsupported_output_stride_is_refused(name):
    with pytest.raises(MobileReproError, match="output_stride"):
        build(name, output_stride=4)
