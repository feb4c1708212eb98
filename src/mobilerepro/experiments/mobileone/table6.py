"""MobileOne Tab. 6 at reduced scale: the number k of over-parameterised conv branches in every block of S0
(Tab. 7 gives S0 k = 4). More branches is the claim's "stronger" side, so k = 5 is compared as k5 - k4."""

from mobilerepro.experiments._training_ablation import AblationExperiment, Arm, ablation_profiles

S0_BRANCHES = 4


class Table6(AblationExperiment):
    title = "MobileOne Table 6 — how many over-parameterisation branches?"
    description = "reduced scale (CIFAR-10): S0 with k = 1 vs 4 conv branches over 3 seeds (full: 1-5), paired by seed"
    claim = "more_branches_help_s0"
    arms = {f"k{k}": Arm(f"k{k}", f"k={k}" + (" (S0)" if k == S0_BRANCHES else ""), strength=k,
                         model_options={} if k == S0_BRANCHES else {"num_conv_branches": k})
            for k in (1, 2, 3, 4, 5)}
    reference = f"k{S0_BRANCHES}"
    # A verdict needs three seeds: the quick profile keeps two arms (k = 1 against S0's k = 4, whose runs Tab. 5
    # shares) to stay near 15 minutes; k = 2, 3, 5 run at full scale.
    profiles = ablation_profiles({"smoke": ["k4", "k1"], "quick": ["k1", "k4"],
                                  "full": ["k1", "k2", "k3", "k4", "k5"]})


EXPERIMENT = Table6()
