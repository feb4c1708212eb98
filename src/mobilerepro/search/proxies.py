"""Zero-cost accuracy proxies: a score from a network at initialisation, no training, that should rank networks as
their trained accuracy does — and the trivial baselines every such proxy must be shown against (shared PAPERS.md:
on NAS-Bench-201 the best proxies reach Spearman ρ 0.82 while #params and FLOPs already reach 0.69-0.75).

- `naswot` (Mellor et al., ICML 2021, "NAS without training"): the binary code of which ReLUs fire for each image
  of a batch; the score is log |det K| of the kernel K_ij = units where images i and j agree. Networks that tell
  images apart at initialisation score higher.
- `synflow` (Tanaka et al., NeurIPS 2020; as a NAS proxy, Abdelfattah et al., ICLR 2021): the weights made
  positive, an all-ones input, and Σ |θ · ∂R/∂θ| of R = the sum of the outputs, in float64 (the products grow fast).
- `params`, `macs`: the baselines.

Every score is "higher predicts more accurate"; each is computed with a fixed seed so a network's score does not
change between runs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mobilerepro import MobileReproError
from mobilerepro.models import zoo
from mobilerepro.models.mobilenetv4 import MobileNetV4, MobileNetV4Spec

PROXIES = ("naswot", "synflow", "params", "macs")


def naswot(model: nn.Module, images: torch.Tensor) -> float:
    n = images.shape[0]
    agreements = torch.zeros(n, n, dtype=torch.float64)
    units = 0

    def record(_module, _inputs, output):
        nonlocal agreements, units
        # With s = ±1 for fired / not fired, s·sᵀ counts agreements minus disagreements over the layer's units.
        signs = (output.detach().flatten(1) > 0).float() * 2 - 1
        agreements += ((signs @ signs.T + signs.shape[1]) / 2).double()  # exact: a layer has < 2^24 units
        units += signs.shape[1]

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for hook in hooks:
            hook.remove()
    if not units:
        raise MobileReproError("naswot needs ReLU activations; the network has none")
    return float(torch.linalg.slogdet(agreements).logabsdet)


def synflow(model: nn.Module, input_size: tuple[int, int, int]) -> float:
    model = model.double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.abs_()
    model.zero_grad()
    model(torch.ones(1, *input_size, dtype=torch.float64)).sum().backward()
    total = sum(float((p * p.grad).abs().sum().detach()) for p in model.parameters() if p.grad is not None)
    return float(np.log(total)) if total > 0 else float("-inf")


def score(proxy: str, spec: MobileNetV4Spec, images: torch.Tensor, macs: float, num_classes: int,
          seed: int = 0) -> float:
    """One proxy of the network `spec` describes, built from `seed` at the resolution of `images` (a batch of real
    images); `macs` are the network's at its deployment size."""
    if proxy not in PROXIES:
        raise MobileReproError(f"unknown proxy {proxy!r} (choose from: {', '.join(PROXIES)})")
    if proxy == "macs":
        return float(macs)
    model = zoo.seeded(MobileNetV4, seed, spec=spec, num_classes=num_classes)
    if proxy == "params":
        return float(sum(p.numel() for p in model.parameters()))
    if proxy == "synflow":
        return synflow(model, tuple(images.shape[1:]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return naswot(model.train(), images)  # BatchNorm normalises with the batch's statistics, as in training
