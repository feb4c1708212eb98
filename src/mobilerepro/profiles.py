"""Profiles: how much work an experiment does. Each experiment keeps its own settings per profile beside its
configuration (`Experiment.profiles`); this module only names them.

- `smoke`: seconds; a handful of models, a few runs. Used by the tests; its numbers mean nothing and it never
  reaches the book.
- `quick`: the default of `make replicate-*`; minutes on a 2-core laptop CPU, enough runs for stable medians.
- `full`: the paper's protocol (e.g. MobileOne's minimum of 1000 runs).
"""

from __future__ import annotations

import difflib

from mobilerepro import MobileReproError

PROFILE_NAMES = ("smoke", "quick", "full")


def check_profile(profile: str) -> str:
    if profile not in PROFILE_NAMES:
        close = difflib.get_close_matches(str(profile), PROFILE_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise MobileReproError(f"unknown profile {profile!r}{hint} (choose one of: {', '.join(PROFILE_NAMES)})")
    return profile
