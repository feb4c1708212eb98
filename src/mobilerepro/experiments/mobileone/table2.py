"""MobileOne Tab. 2: a 30-layer probe network that differs only in its activation (ReLU, GELU, SE-ReLU, SiLU,
Dynamic Shift-Max, DynamicReLU-A, DynamicReLU-B), timed on every backend here."""

from mobilerepro.experiments._probe_latency import ProbeExperiment
from mobilerepro.models.activations import ACTIVATIONS


class Table2(ProbeExperiment):
    title = "MobileOne Table 2 — the latency price of activations"
    description = "a 30-layer probe network with seven activations, per backend, with a Core ML op census"
    variants = {name: {"activation": name} for name in ACTIVATIONS}
    reference = "relu"
    slower_than_reference = {"dynamic_slower": ["dynamic_shift_max", "dynamic_relu_a", "dynamic_relu_b"],
                             "se_relu_slower": ["se_relu"]}


EXPERIMENT = Table2()
