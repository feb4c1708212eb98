"""MobileOne Tab. 6 at reduced scale: the number k of over-parameterised conv branches in every block of S0
(Tab. 7 gives S0 k = 4)."""

from mobilerepro.experiments.training_ablation import Ablation, Arm, bind

S0_BRANCHES = 4

ABLATION = Ablation(
    experiment="table6",
    claim="more_branches_help_s0",
    arms={
        f"k{k}": Arm(f"k{k}", f"k={k}" + (" (S0)" if k == S0_BRANCHES else ""),
                     {} if k == S0_BRANCHES else {"num_conv_branches": k})
        for k in (1, 2, 3, 4, 5)
    },
    reference=f"k{S0_BRANCHES}",
    description="number of over-parameterisation branches k",
)
configure, run, load, FILES = bind(ABLATION)
