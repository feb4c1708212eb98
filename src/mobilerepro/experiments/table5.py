"""MobileOne Tab. 5 at reduced scale: training with vs without the re-parameterizable branches (§3.3, Fig. 3).

The inference network is the same in every arm; only the train-time branches differ."""

from mobilerepro.experiments.training_ablation import Ablation, Arm, bind

ABLATION = Ablation(
    experiment="table5",
    claim="branches_help",
    arms={
        "branches": Arm("branches", "k=4 + scale + skip (S0)"),
        "no_scale": Arm("no_scale", "no scale branch", {"use_scale_branch": False}),
        "no_skip": Arm("no_skip", "no skip branch", {"use_skip_branch": False}),
        "plain": Arm("plain", "no branches (k=1)",
                     {"num_conv_branches": 1, "use_scale_branch": False, "use_skip_branch": False}),
    },
    reference="branches",
    description="re-parameterizable branches",
)
configure, run, load, FILES = bind(ABLATION)
