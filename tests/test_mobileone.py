"""Our MobileOne: parity with timm, exact reparameterisation, checkpoint key mapping, Tab. 7 counts."""

import copy
import re

import pytest
import torch
from helpers import randomize_batchnorm
from hypothesis import given, settings
from hypothesis import strategies as st

from mobilerepro import MobileReproError, paper
from mobilerepro.measure.complexity import measure_complexity
from mobilerepro.models import mobileone as mo
from mobilerepro.reparam import reparameterize_model

VARIANTS = list(mo.VARIANTS)


def calibrate_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """BN running statistics measured on data (as in a trained network), with random affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # cumulative average over the calibration batches
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
        model.train()
        for _ in range(3):
            model(torch.randn(8, 3, 96, 96, generator=generator))
    return model.eval()


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """||actual - expected|| / ||expected|| (Frobenius norms), computed in float64."""
    actual, expected = actual.double(), expected.double()
    return ((actual - expected).norm() / expected.norm().clamp_min(1e-300)).item()


def timm_mobileone(variant: str, seed: int = 0):
    import timm

    torch.manual_seed(seed)
    return randomize_batchnorm(timm.create_model(f"mobileone_{variant}", pretrained=False), seed, spread=4.0).eval()


@pytest.mark.parametrize("variant", VARIANTS)
def test_timm_parity_unfused_and_fused(variant):
    reference = timm_mobileone(variant)
    ours = mo.mobileone(variant).eval()
    ours.load_state_dict(mo.convert_state_dict(reference.state_dict()), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert relative_error(ours(x), reference(x)) <= 1e-6
    fused_reference = reparameterize_model(reference)
    fused_ours = mo.mobileone(variant, inference_mode=True).eval()
    fused_ours.load_state_dict(mo.convert_state_dict(fused_reference.state_dict()), strict=True)
    with torch.inference_mode():
        assert relative_error(fused_ours(x), fused_reference(x)) <= 1e-6


@pytest.mark.parametrize("variant", VARIANTS)
def test_reparameterization_is_exact_for_every_variant(variant):
    """fp32, non-trivial BN statistics: eval outputs before and after fusion agree to 1e-5."""
    torch.manual_seed(1)
    model = randomize_batchnorm(mo.mobileone(variant), seed=1).eval()
    fused = reparameterize_model(model)
    x = torch.randn(2, 3, 128, 128)
    with torch.inference_mode():
        assert relative_error(fused(x), model(x)) <= 1e-5
    assert all(block.is_reparameterized for block in fused.modules() if isinstance(block, mo.MobileOneBlock))


@pytest.mark.parametrize("variant", VARIANTS)
def test_reparameterization_algebra_is_exact_in_float64(variant):
    """With strongly randomised BN, fp32 rounding is amplified layer after layer (even the unfused fp32 model drifts
    from its own float64 result); in float64 the fused model must match to round-off."""
    torch.manual_seed(2)
    model = randomize_batchnorm(mo.mobileone(variant), seed=2, spread=4.0).double().eval()
    fused = reparameterize_model(model)
    x = torch.randn(2, 3, 96, 96, dtype=torch.float64)
    with torch.inference_mode():
        assert relative_error(fused(x), model(x)) <= 1e-10


@pytest.mark.parametrize("variant", ["s0", "s4"])
def test_fusion_adds_no_error_beyond_fp32_rounding_with_calibrated_statistics(variant):
    """With data-calibrated BN the fp32 noise floor of the network itself is ~1e-5: the fused fp32 model must be as
    close to the exact (float64) answer as the unfused fp32 model is."""
    torch.manual_seed(3)
    model = calibrate_batchnorm(mo.mobileone(variant), seed=3)
    fused = reparameterize_model(model)
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        exact = copy.deepcopy(model).double()(x.double())
        own_rounding = relative_error(model(x), exact)
        assert relative_error(fused(x), exact) <= 3 * own_rounding


def test_model_built_in_inference_form_loads_the_fused_weights():
    model = randomize_batchnorm(mo.mobileone("s0")).eval()
    fused = reparameterize_model(model)
    direct = mo.mobileone("s0", inference_mode=True).eval()
    direct.load_state_dict(fused.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(direct(x), fused(x))


@st.composite
def block_configs(draw):
    groups = draw(st.sampled_from([1, 2, 4]))
    depthwise = draw(st.booleans())
    in_channels = groups * draw(st.integers(1, 4))
    out_channels = in_channels if depthwise else groups * draw(st.integers(1, 4))
    if depthwise:
        groups = in_channels
    return {
        "in_channels": in_channels,
        "out_channels": out_channels,
        "kernel_size": draw(st.sampled_from([1, 3, 5])),
        "stride": draw(st.sampled_from([1, 2])),
        "groups": groups,
        "num_conv_branches": draw(st.integers(1, 4)),
        "use_se": draw(st.booleans()) and out_channels >= 16,
        "use_scale_branch": draw(st.booleans()),
        "use_skip_branch": draw(st.booleans()),
    }


@settings(max_examples=60, deadline=None, derandomize=True)
@given(config=block_configs(), seed=st.integers(0, 2**16), size=st.integers(3, 9))
def test_block_reparameterization_is_exact_for_random_configurations(config, seed, size):
    torch.manual_seed(seed)
    block = randomize_batchnorm(mo.MobileOneBlock(**config), seed, spread=4.0).eval()
    x = torch.randn(2, config["in_channels"], size, size)
    with torch.inference_mode():
        expected = block(x)
        block.reparameterize()
        actual = block(x)
    assert actual.shape == expected.shape
    assert relative_error(actual, expected) <= 1e-5


def test_reparameterizing_in_train_mode_is_refused():
    with pytest.raises(MobileReproError, match="eval mode"):
        reparameterize_model(mo.mobileone("s0").train())


def test_reparameterize_is_idempotent():
    block = mo.MobileOneBlock(8, 8, 3, groups=8, num_conv_branches=2).eval()
    block.reparameterize()
    weight = block.reparam_conv.weight.clone()
    block.reparameterize()
    assert torch.equal(block.reparam_conv.weight, weight)


def test_branches_follow_the_paper():
    dw = mo.MobileOneBlock(16, 16, 3, stride=1, groups=16, num_conv_branches=4)
    assert len(dw.conv_branches) == 4 and dw.scale_branch is not None and dw.skip_branch is not None
    strided = mo.MobileOneBlock(16, 16, 3, stride=2, groups=16)
    assert strided.skip_branch is None  # shapes differ: no identity
    pw = mo.MobileOneBlock(16, 32, 1)
    assert pw.scale_branch is None and pw.skip_branch is None  # 1x1 kernel: no separate scale branch


@pytest.mark.parametrize("variant", VARIANTS)
def test_table7_counts_in_inference_form(variant):
    derived = paper.load("mobileone")["table7"]["variants"][variant]
    published = paper.published_model(f"mobileone_{variant}")
    counts = measure_complexity(reparameterize_model(mo.mobileone(variant).eval()))
    assert counts.params_m == pytest.approx(derived["params_m_derived"]["value"], abs=0.0005)
    assert counts.macs_m == pytest.approx(derived["macs_m_derived"]["value"], abs=0.05)
    assert round(counts.params_m, 1) == pytest.approx(published["params_m"]["value"])
    assert counts.macs_m == pytest.approx(published["macs_m"]["value"], abs=0.6)


def test_se_placement_of_s4():
    model = mo.mobileone("s4")
    se_flags = [[not isinstance(b.se, torch.nn.Identity) for b in stage] for stage in model.stages]
    assert not any(se_flags[0]) and not any(se_flags[1])
    assert se_flags[2] == [False] * 10 + [True] * 10  # last 5 (dw + pw) blocks of stage 3
    assert all(se_flags[3])


# --- checkpoint key mapping ------------------------------------------------------------------------------------

def official_key_shapes(variant: str) -> dict[str, tuple]:
    """Key names and shapes of Apple's released (unfused) state dict, generated from the official definition's rules:
    `stage0` stem, `stage1`..`stage4` of alternating depthwise / pointwise blocks, branches `rbr_conv.<i>.conv|bn`,
    `rbr_scale` (kernel > 1), `rbr_skip` (in == out, stride 1), `se.reduce|expand`, classifier `linear`."""
    spec = mo.VARIANTS[variant]
    keys = {}

    def conv_bn(prefix, cout, cin_per_group, k):
        keys[f"{prefix}.conv.weight"] = (cout, cin_per_group, k, k)
        for name in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.bn.{name}"] = (cout,)
        keys[f"{prefix}.bn.num_batches_tracked"] = ()

    def block(prefix, cin, cout, k, stride, groups, branches, se):
        for i in range(branches):
            conv_bn(f"{prefix}.rbr_conv.{i}", cout, cin // groups, k)
        if k > 1:
            conv_bn(f"{prefix}.rbr_scale", cout, cin // groups, 1)
        if cin == cout and stride == 1:
            for name in ("weight", "bias", "running_mean", "running_var"):
                keys[f"{prefix}.rbr_skip.{name}"] = (cin,)
            keys[f"{prefix}.rbr_skip.num_batches_tracked"] = ()
        if se:
            keys[f"{prefix}.se.reduce.weight"] = (cout // 16, cout, 1, 1)
            keys[f"{prefix}.se.reduce.bias"] = (cout // 16,)
            keys[f"{prefix}.se.expand.weight"] = (cout, cout // 16, 1, 1)
            keys[f"{prefix}.se.expand.bias"] = (cout,)

    cin = min(64, int(64 * spec.widths[0]))
    block("stage0", 3, cin, 3, 2, 1, 1, False)
    for s, (blocks, base) in enumerate([(2, 64), (8, 128), (10, 256), (1, 512)], start=1):
        cout = int(base * spec.widths[s - 1])
        n_se = (blocks // 2 if s == 3 else blocks if s == 4 else 0) if spec.use_se else 0
        for i in range(blocks):
            se = i >= blocks - n_se
            block(f"stage{s}.{2 * i}", cin, cin, 3, 2 if i == 0 else 1, cin, spec.num_conv_branches, se)
            block(f"stage{s}.{2 * i + 1}", cin, cout, 1, 1, 1, spec.num_conv_branches, se)
            cin = cout
    keys["linear.weight"] = (1000, cin)
    keys["linear.bias"] = (1000,)
    return keys


def test_official_key_spot_checks():
    s0, s4 = official_key_shapes("s0"), official_key_shapes("s4")
    assert s0["stage0.rbr_conv.0.conv.weight"] == (48, 3, 3, 3)
    assert s0["stage1.1.rbr_skip.running_var"] == (48,)
    assert s0["stage1.0.rbr_conv.3.conv.weight"] == (48, 1, 3, 3)
    assert s0["linear.weight"] == (1000, 1024)
    assert s4["stage4.1.se.reduce.weight"] == (128, 2048, 1, 1)
    assert "stage3.9.se.reduce.weight" not in s4 and "stage3.10.se.reduce.weight" in s4


@pytest.mark.parametrize("variant", VARIANTS)
def test_apple_keys_map_onto_our_model_with_matching_shapes(variant):
    official = {key: torch.zeros(shape) for key, shape in official_key_shapes(variant).items()}
    official = {f"module.{key}": value for key, value in official.items()}  # DataParallel-saved files
    converted = mo.convert_state_dict(official)
    ours = {key: tuple(value.shape) for key, value in mo.mobileone(variant).state_dict().items()}
    assert {key: tuple(value.shape) for key, value in converted.items()} == ours


def test_fused_apple_keys_map_too():
    fused = mo.mobileone("s1", inference_mode=True).state_dict()
    apple_style = {}
    for key, value in fused.items():
        key = key.replace("stem.", "stage0.").replace("classifier.", "linear.")
        key = re.sub(r"^stages\.(\d)\.", lambda m: f"stage{int(m.group(1)) + 1}.", key)
        apple_style[key] = value
    assert mo.detect_source(apple_style) == "apple"
    assert set(mo.convert_state_dict(apple_style)) == set(fused)


def test_load_checkpoint_uses_weights_only_and_reports_mismatch(tmp_path):
    reference = timm_mobileone("s0")
    path = tmp_path / "timm_s0.pth"
    torch.save(reference.state_dict(), path)
    ours = mo.load_checkpoint(mo.mobileone("s0").eval(), path)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert relative_error(ours(x), reference(x)) <= 1e-6
    with pytest.raises(MobileReproError, match="fused while the model is not"):
        mo.load_checkpoint(mo.mobileone("s0", inference_mode=True), path)


def test_unrecognised_checkpoint():
    with pytest.raises(MobileReproError, match="unrecognised MobileOne checkpoint"):
        mo.convert_state_dict({"features.0.weight": torch.zeros(1)})
