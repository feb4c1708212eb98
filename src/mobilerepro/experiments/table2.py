"""MobileOne Tab. 2: a 30-layer probe network that differs only in its activation (ReLU, GELU, SE-ReLU, SiLU,
Dynamic Shift-Max, DynamicReLU-A, DynamicReLU-B), timed here next to the paper's iPhone 12 values."""

from mobilerepro.experiments.probe_latency import ProbeTable, bind
from mobilerepro.models.activations import ACTIVATIONS

TABLE = ProbeTable(
    experiment="table2",
    title="activations",
    variants={name: {"activation": name} for name in ACTIVATIONS},
    reference="relu",
)
configure, run, load, FILES = bind(TABLE)
