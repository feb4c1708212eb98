"""MobileOne Tab. 8 at reduced scale: weight decay annealed on the LR's cosine (1e-4 -> 1e-5, §4) vs constant."""

from mobilerepro.experiments.training_ablation import Ablation, Arm, bind

ABLATION = Ablation(
    experiment="table8",
    claim="wd_annealing_helps",
    arms={
        "annealed": Arm("annealed", "WD 1e-4 -> 1e-5 (cosine)"),
        "constant": Arm("constant", "WD 1e-4 constant", recipe_overrides={"final_weight_decay": None}),
    },
    reference="annealed",
    description="weight-decay annealing",
)
configure, run, load, FILES = bind(ABLATION)
