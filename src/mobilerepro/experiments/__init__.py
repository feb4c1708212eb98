"""Experiments: one module per paper table. Each has `configure()`, `run()` and `load()`; notebooks call them."""

EXPERIMENTS = {
    "table1": "MobileOne Tab. 1 — rank correlation of latency with MACs and with parameter count",
    "table2": "MobileOne Tab. 2 — latency of a 30-layer probe network with seven activations",
    "table3": "MobileOne Tab. 3 — latency of the probe network with squeeze-excite or skip connections",
    "table7": "MobileOne Tab. 7 — S0-S4 params/MACs (fused vs train-time) and the latency price of branches",
    "mnv4_table2": "MobileNetV4 Tab. 2 — MQA ablation: Conv-L + 3 MHSA vs + 3 Mobile MQA",
    "mnv4_table6": "MobileNetV4 Tab. 6 — params/MACs vs the paper and its code, latency vs its seven devices",
    "mnv4_table16": "MobileNetV4 Tab. 16 — roofline vs MACs as latency predictors, ridge-point sweep",
}
