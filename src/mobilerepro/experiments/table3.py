"""MobileOne Tab. 3: the probe network with ReLU, plain (baseline), with squeeze-excite in every block, and with
skip connections around every block whose shapes allow it, timed next to the paper's iPhone 12 values."""

from mobilerepro.experiments.probe_latency import ProbeTable, bind

TABLE = ProbeTable(
    experiment="table3",
    title="architectural blocks",
    variants={"baseline": {}, "squeeze_excite": {"se": True}, "skip_connections": {"skip": True}},
    reference="baseline",
)
configure, run, load, FILES = bind(TABLE)
