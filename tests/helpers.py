"""Helpers shared by the model tests."""

import torch


def randomize_batchnorm(model: torch.nn.Module, seed: int = 0, spread: float = 1.0) -> torch.nn.Module:
    """Non-trivial BN statistics and affine parameters, so that fusion has real work to do. `spread` 1 keeps the
    network well conditioned (each BN scales by 0.8-1.2); larger spreads make every layer amplify its input."""
    generator = torch.Generator().manual_seed(seed)

    def around_one(n):
        return 1 + (torch.rand(n, generator=generator) - 0.5) * 0.4 * spread

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1 * spread)
                module.running_var.copy_(around_one(n).abs() + 0.05)
                module.weight.copy_(around_one(n))
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1 * spread)
    return model


class ZeroInitialisedResidual(torch.nn.Module):
    """A residual branch whose last norm starts at zero (timm's zero_init_last): it outputs nothing at init."""

    def __init__(self):
        super().__init__()
        self.branch = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.BatchNorm2d(8))
        torch.nn.init.zeros_(self.branch[1].weight)

    def forward(self, x):
        return x + self.branch(x)
