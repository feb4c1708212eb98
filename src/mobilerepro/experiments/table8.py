"""MobileOne Tab. 8 at reduced scale: weight decay annealed on the LR's cosine (1e-4 -> 1e-5, §4) vs constant."""

from mobilerepro.experiments.training_ablation import AblationExperiment, Arm, ablation_profiles


class Table8(AblationExperiment):
    id = "mobileone/table8"
    target = "table8"
    title = "MobileOne Table 8 — does annealing the weight decay help?"
    description = "reduced scale (CIFAR-10): weight decay annealed 1e-4 -> 1e-5 vs constant, paired by seed"
    order = 80
    claim = "wd_annealing_helps"
    arms = {
        "annealed": Arm("annealed", "WD 1e-4 -> 1e-5 (cosine)", strength=1),
        "constant": Arm("constant", "WD 1e-4 constant", strength=0, recipe_overrides={"final_weight_decay": None}),
    }
    reference = "annealed"
    profiles = ablation_profiles({profile: ["annealed", "constant"] for profile in ("smoke", "quick", "full")})


EXPERIMENT = Table8()
