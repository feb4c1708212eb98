"""The shared reparameterisation entry point."""

import pytest
import torch

from mobilerepro import MobileReproError
from mobilerepro.models import zoo
from mobilerepro.reparam import reparameterize_model


def test_refuses_train_mode():
    model = zoo.build_model("mobileone_s0").train()
    with pytest.raises(MobileReproError, match="eval"):
        reparameterize_model(model)


@pytest.mark.parametrize("name", ["mobileone_s0", "repvgg_a0"])
def test_fused_model_matches_in_eval_mode(name):
    model = zoo.build_model(name)
    # non-trivial BN statistics, so that fusion has something to fold
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    fused = reparameterize_model(model)
    x = torch.randn(2, 3, 64, 64, generator=generator)
    with torch.inference_mode():
        expected, actual = model(x), fused(x)
    assert torch.allclose(actual, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    assert sum(p.numel() for p in fused.parameters()) < sum(p.numel() for p in model.parameters())


def test_copy_leaves_original_untouched():
    model = zoo.build_model("mobileone_s0")
    before = sum(p.numel() for p in model.parameters())
    reparameterize_model(model)
    assert sum(p.numel() for p in model.parameters()) == before
