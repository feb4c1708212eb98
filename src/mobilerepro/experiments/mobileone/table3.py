"""MobileOne Tab. 3: the probe network with ReLU, plain (baseline), with squeeze-excite in every block, and with skip
connections around every block whose shapes allow it, timed on every backend here."""

from mobilerepro.experiments._probe_latency import ProbeExperiment


class Table3(ProbeExperiment):
    title = "MobileOne Table 3 — the latency price of squeeze-excite and skip connections"
    description = "the probe network with squeeze-excite or skip connections, per backend, with a Core ML op census"
    variants = {"baseline": {}, "squeeze_excite": {"se": True}, "skip_connections": {"skip": True}}
    reference = "baseline"
    slower_than_reference = {"skip_slower": ["skip_connections"], "squeeze_excite_slower": ["squeeze_excite"]}


EXPERIMENT = Table3()
