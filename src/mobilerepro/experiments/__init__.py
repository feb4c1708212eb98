"""Experiments: one module per paper table. Each has `configure()`, `run()` and `load()`; notebooks call them."""

EXPERIMENTS = {
    "table1": "MobileOne Tab. 1 — rank correlation of latency with MACs and with parameter count",
    "table7": "MobileOne Tab. 7 — S0-S4 params/MACs (fused vs train-time) and the latency price of branches",
}
