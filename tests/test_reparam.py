"""The shared reparameterisation entry point."""

import pytest
import torch
from helpers import randomize_batchnorm

from mobilerepro import MobileReproError
from mobilerepro.models import zoo
from mobilerepro.reparam import reparameterize_model


def test_refuses_train_mode():
    model = zoo.build_model("mobileone_s0").train()
    with pytest.raises(MobileReproError, match="eval"):
        reparameterize_model(model)


@pytest.mark.parametrize("name", ["mobileone_s0", "repvgg_a0"])
def test_fused_model_matches_in_eval_mode(name):
    """Non-trivial BN statistics *and* affine parameters (gamma, beta), in float64 so that the fusion itself is what
    is compared: a fold that dropped beta or mis-scaled gamma would be off by far more than 1e-10."""
    model = randomize_batchnorm(zoo.build_model(name), seed=3).double()
    gammas = [m.weight for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all((g != 1).any() for g in gammas)
    fused = reparameterize_model(model)
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.inference_mode():
        expected, actual = model(x), fused(x)
    assert ((actual - expected).norm() / expected.norm()).item() <= 1e-10
    assert sum(p.numel() for p in fused.parameters()) < sum(p.numel() for p in model.parameters())


def test_copy_leaves_original_untouched():
    model = zoo.build_model("mobileone_s0")
    before = sum(p.numel() for p in model.parameters())
    reparameterize_model(model)
    assert sum(p.numel() for p in model.parameters()) == before
