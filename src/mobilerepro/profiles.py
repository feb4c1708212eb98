"""Profiles: how much work an experiment does. Data, one mapping per experiment.

- `smoke`: seconds; a handful of models, a few runs. Used by the tests; its numbers mean nothing.
- `quick`: the default of `make replicate-*`; minutes on a 2-core laptop CPU, enough runs for stable medians.
- `full`: the paper's protocol (e.g. MobileOne's minimum of 1000 runs).
"""

from __future__ import annotations

import difflib

from mobilerepro import MobileReproError

PROFILE_NAMES = ("smoke", "quick", "full")

ALL_BACKENDS = ["torch", "onnxruntime", "openvino", "cuda", "coreml"]

EXPERIMENT_PROFILES: dict[str, dict[str, dict]] = {
    "table1": {
        "smoke": {
            "models": ["mobilenet_v3_small", "shufflenet_v2_1_0", "mobileone_s0", "mobilevit_xxs"],
            "backends": ALL_BACKENDS,
            "warmup": 1,
            "rounds": 2,
            "runs_per_round": 2,
            "bootstrap_resamples": 200,
        },
        "quick": {
            "models": None,  # the whole zoo
            "backends": ALL_BACKENDS,
            "warmup": 5,
            "rounds": 15,
            "runs_per_round": 5,
            "bootstrap_resamples": 2000,
        },
        "full": {
            "models": None,
            "backends": ALL_BACKENDS,
            "warmup": 10,
            "rounds": 20,
            "runs_per_round": 50,  # 1000 timed runs per model and backend, as in MobileOne §3.5
            "bootstrap_resamples": 10000,
        },
    },
    "table7": {
        "smoke": {"variants": ["s0"], "backends": ALL_BACKENDS, "warmup": 1, "rounds": 2, "runs_per_round": 2},
        "quick": {
            "variants": ["s0", "s1", "s2", "s3", "s4"], "backends": ALL_BACKENDS,
            "warmup": 3, "rounds": 10, "runs_per_round": 5,
        },
        "full": {
            "variants": ["s0", "s1", "s2", "s3", "s4"], "backends": ALL_BACKENDS,
            "warmup": 10, "rounds": 20, "runs_per_round": 50,
        },
    },
    "mnv4_table2": {
        "smoke": {"backends": ALL_BACKENDS, "warmup": 1, "rounds": 2, "runs_per_round": 1, "input_size": 128},
        "quick": {"backends": ALL_BACKENDS, "warmup": 3, "rounds": 8, "runs_per_round": 4, "input_size": 384},
        "full": {"backends": ALL_BACKENDS, "warmup": 10, "rounds": 20, "runs_per_round": 50, "input_size": 384},
    },
    "mnv4_table6": {
        "smoke": {"models": ["mnv4_conv_s", "mobilenet_v2", "mobileone_s0"], "backends": ALL_BACKENDS,
                  "warmup": 1, "rounds": 2, "runs_per_round": 1, "coreml_export": False},
        "quick": {"models": None, "backends": ALL_BACKENDS, "warmup": 3, "rounds": 8, "runs_per_round": 4,
                  "coreml_export": True},
        "full": {"models": None, "backends": ALL_BACKENDS, "warmup": 10, "rounds": 20, "runs_per_round": 50,
                 "coreml_export": True},
    },
    "mnv4_table16": {
        "smoke": {"models": ["mobilenet_v2", "mobileone_s0", "mnv4_conv_s", "mobilenet_v3_small"],
                  "backends": ALL_BACKENDS, "warmup": 1, "rounds": 2, "runs_per_round": 1,
                  "bootstrap_resamples": 200},
        "quick": {"models": None, "backends": ALL_BACKENDS, "warmup": 3, "rounds": 8, "runs_per_round": 4,
                  "bootstrap_resamples": 2000},
        "full": {"models": None, "backends": ALL_BACKENDS, "warmup": 10, "rounds": 20, "runs_per_round": 50,
                 "bootstrap_resamples": 10000},
    },
    **{
        table: {
            "smoke": {"backends": ALL_BACKENDS, "warmup": 1, "rounds": 2, "runs_per_round": 1, "coreml_export": False},
            "quick": {"backends": ALL_BACKENDS, "warmup": 3, "rounds": 10, "runs_per_round": 5, "coreml_export": True},
            "full": {"backends": ALL_BACKENDS, "warmup": 10, "rounds": 20, "runs_per_round": 50, "coreml_export": True},
        }
        for table in ("table2", "table3")
    },
}


EXPERIMENT_PROFILES["training_recipe"] = {
    # mobileone_s2s4 has the same schedules as mobileone_s0s1 (it adds AutoAugment)
    profile: {"presets": ["mobileone_s0s1", "mnv4_conv_s", "mnv4_conv_m", "mnv4_hybrid_l"],
              "short_run_epochs": 5}
    for profile in PROFILE_NAMES
}

# MobileOne Tab. 9: the paper's recipe end to end. Only `full` is the real run (ImageNet with train/ and val/ under
# DATA); smoke and quick exercise the same code on the 1300 real ImageNet val images.
EXPERIMENT_PROFILES["table9"] = {
    "smoke": {"variant": "s0", "data": "imagenet-val-1300/dataset.txt", "val_data": None, "epochs": 1,
              "batch_size": 8, "max_steps_per_epoch": 2, "workers": 0},
    "quick": {"variant": "s0", "data": "imagenet-val-1300/dataset.txt", "val_data": None, "epochs": 3,
              "batch_size": 32, "max_steps_per_epoch": 8, "workers": 0},
    "full": {"variant": "s0", "data": ".", "val_data": ".", "epochs": None, "batch_size": 256,
             "max_steps_per_epoch": None, "workers": 8},
}

EXPERIMENT_PROFILES["lite0_eval"] = {
    "smoke": {"protocols": ["tf_resize", "no_normalisation", "labels_1001"], "limit": 40},
    "quick": {"protocols": None, "limit": None},
    "full": {"protocols": None, "limit": None},
}

# The reduced-scale training ablations (MobileOne Tabs. 5, 6, 8): a grid of arms x seeds on CIFAR-10 JPEGs. Quick:
# about 15 minutes per table on a 2-core CPU when run alone; runs shared between tables are trained once.
_TRAINING = {
    "smoke": {"model": "mobileone_s0", "seeds": [0], "epochs": 1, "batch_size": 32, "per_class_limit": 20},
    "quick": {"model": "mobileone_s0", "seeds": [0, 1, 2], "epochs": 5, "batch_size": 128, "per_class_limit": None},
    "full": {"model": "mobileone_s0", "seeds": [0, 1, 2, 3, 4], "epochs": 60, "batch_size": 128,
             "per_class_limit": None},
}
_ABLATION_GRIDS = {
    "table5": {"smoke": {"arms": ["branches", "plain"]}, "quick": {"arms": ["branches", "plain"]},
               "full": {"arms": ["branches", "no_scale", "no_skip", "plain"]}},
    # three arms: two seeds keep the quick profile near 15 minutes
    "table6": {"smoke": {"arms": ["k4", "k1"]}, "quick": {"arms": ["k1", "k2", "k4"], "seeds": [0, 1]},
               "full": {"arms": ["k1", "k2", "k3", "k4", "k5"]}},
    "table8": {profile: {"arms": ["annealed", "constant"]} for profile in PROFILE_NAMES},
}
EXPERIMENT_PROFILES.update({
    table: {profile: {**_TRAINING[profile], **grid[profile]} for profile in PROFILE_NAMES}
    for table, grid in _ABLATION_GRIDS.items()
})


def check_profile(profile: str) -> str:
    if profile not in PROFILE_NAMES:
        close = difflib.get_close_matches(str(profile), PROFILE_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise MobileReproError(f"unknown profile {profile!r}{hint} (choose one of: {', '.join(PROFILE_NAMES)})")
    return profile


def profile_settings(experiment: str, profile: str) -> dict:
    """The settings `profile` gives `experiment` (a copy; callers override single values)."""
    check_profile(profile)
    if experiment not in EXPERIMENT_PROFILES:
        raise MobileReproError(f"no profiles defined for experiment {experiment!r}")
    return dict(EXPERIMENT_PROFILES[experiment][profile])
