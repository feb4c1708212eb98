"""Reparameterisation: turn a train-time multi-branch model into its single-branch inference form.

`reparameterize_model()` is the one entry point used by every experiment. It works on any module tree whose
reparameterisable blocks expose a `reparameterize()` method (timm's MobileOne and RepVGG blocks; ours follow the
same contract).
"""

from __future__ import annotations

import copy

import torch

from mobilerepro import MobileReproError


def reparameterize_model(model: torch.nn.Module, *, inplace: bool = False) -> torch.nn.Module:
    """Return the inference form of `model` (a copy unless `inplace`), in eval mode.

    Refuses a model in train mode: BatchNorm then normalises with batch statistics, while fusion folds the running
    statistics into the convolution, so the fused model would only match the original after `eval()` — the most
    common reparameterisation pitfall reported by MobileOne's users.
    """
    if model.training:
        raise MobileReproError(
            "reparameterize_model() needs a model in eval mode: call model.eval() first "
            "(train-mode BatchNorm uses batch statistics, which fusion cannot reproduce)"
        )
    fused = model if inplace else copy.deepcopy(model)
    for module in list(fused.modules()):
        if module is not fused and callable(getattr(module, "reparameterize", None)):
            module.reparameterize()
    return fused.eval()

