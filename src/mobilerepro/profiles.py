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
