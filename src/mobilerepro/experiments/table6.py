"""MobileOne Tab. 6 at reduced scale: the number k of over-parameterised conv branches in every block of S0
(Tab. 7 gives S0 k = 4). More branches is the claim's "stronger" side, so k = 5 is compared as k5 - k4."""

from mobilerepro.experiments.training_ablation import AblationExperiment, Arm, ablation_profiles

S0_BRANCHES = 4


class Table6(AblationExperiment):
    id = "mobileone/table6"
    target = "table6"
    title = "MobileOne Table 6 — how many over-parameterisation branches?"
    description = "reduced scale (CIFAR-10): S0 with k = 1, 2, 4 conv branches (full: 1-5), paired by seed"
    order = 70
    claim = "more_branches_help_s0"
    arms = {f"k{k}": Arm(f"k{k}", f"k={k}" + (" (S0)" if k == S0_BRANCHES else ""), strength=k,
                         model_options={} if k == S0_BRANCHES else {"num_conv_branches": k})
            for k in (1, 2, 3, 4, 5)}
    reference = f"k{S0_BRANCHES}"
    # three arms: two seeds keep the quick profile near 15 minutes
    profiles = ablation_profiles({"smoke": ["k4", "k1"], "quick": ["k1", "k2", "k4"],
                                  "full": ["k1", "k2", "k3", "k4", "k5"]}, seeds={"quick": [0, 1]})


EXPERIMENT = Table6()
