"""Experiments: one module per paper table. Each has `configure()`, `run()` and `load()`; notebooks call them."""

EXPERIMENTS = {
    "table1": "MobileOne Tab. 1 — rank correlation of latency with MACs and with parameter count",
    "table2": "MobileOne Tab. 2 — latency of a 30-layer probe network with seven activations",
    "table3": "MobileOne Tab. 3 — latency of the probe network with squeeze-excite or skip connections",
    "table5": "MobileOne Tab. 5 (reduced scale) — training with vs without the re-parameterizable branches",
    "table6": "MobileOne Tab. 6 (reduced scale) — the number of over-parameterisation branches k",
    "table7": "MobileOne Tab. 7 — S0-S4 params/MACs (fused vs train-time) and the latency price of branches",
    "table8": "MobileOne Tab. 8 (reduced scale) — weight-decay annealing on vs off",
    "table9": "MobileOne Tab. 9 — ImageNet top-1 with the paper's recipe (full: ImageNet; else a pipeline run)",
    "training_recipe": "Training recipes as data — LR, weight-decay and resolution schedules of every preset",
    "lite0_eval": "Evaluation pipeline check — EfficientNet-Lite0 real weights on 1300 real ImageNet val images",
    "mnv4_table2": "MobileNetV4 Tab. 2 — MQA ablation: Conv-L + 3 MHSA vs + 3 Mobile MQA",
    "mnv4_table6": "MobileNetV4 Tab. 6 — params/MACs vs the paper and its code, latency vs its seven devices",
    "mnv4_table16": "MobileNetV4 Tab. 16 — roofline vs MACs as latency predictors, ridge-point sweep",
}
