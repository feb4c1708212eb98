"""MobileOne Tab. 5 at reduced scale: training with vs without the re-parameterizable branches (§3.3, Fig. 3).

The inference network is the same in every arm; only the train-time branches differ."""

from mobilerepro.experiments._training_ablation import AblationExperiment, Arm, ablation_profiles


class Table5(AblationExperiment):
    title = "MobileOne Table 5 — do the re-parameterizable branches help?"
    description = "reduced scale (CIFAR-10): S0 trained with vs without its train-time branches, paired by seed"
    claim = "branches_help"
    arms = {
        "branches": Arm("branches", "k=4 + scale + skip (S0)", strength=3),
        "no_scale": Arm("no_scale", "no scale branch", strength=2, model_options={"use_scale_branch": False}),
        "no_skip": Arm("no_skip", "no skip branch", strength=2, model_options={"use_skip_branch": False}),
        "plain": Arm("plain", "no branches (k=1)", strength=0,
                     model_options={"num_conv_branches": 1, "use_scale_branch": False, "use_skip_branch": False}),
    }
    reference = "branches"
    profiles = ablation_profiles({"smoke": ["branches", "plain"], "quick": ["branches", "plain"],
                                  "full": ["branches", "no_scale", "no_skip", "plain"]})


EXPERIMENT = Table5()
