"""The verdict engine: one place where a claim meets the evidence an experiment measured.

Experiments never decide a verdict. They measure and hand over *evidence* for a claim in a *scope* (a backend, a
model, a pair of arms); the claim (paper data, `mobilerepro.claims`) carries its test; `judge()` applies it. The
words:

- **held** — the evidence lies entirely on the claim's side;
- **did not hold** — it lies entirely on the other side (a result, not a failure);
- **inconclusive** — it straddles the boundary: more runs, models or seeds, or a quieter machine, are needed;
- **not enough data** — fewer observations than the claim's declared minimum: no verdict is drawn at all;
- **not testable here** — the claim needs hardware, data or a scale this run did not have.

Test kinds (each claim names one):

- `interval` — an estimate with an interval (a bootstrap or t confidence interval, a Wilson interval). *held* when
  the whole interval lies inside the claim's `held` region; *did not hold* when it lies inside the `not_held`
  region (by default everything outside `held`); otherwise *inconclusive*. A region is `(low, high)`, open at both
  ends, `None` for no bound.
- `separated` — two spreads (e.g. p10–p90 of two latency samples, or two Wilson intervals): *held* when the
  candidate's lies entirely beyond the reference's in the claimed direction, *did not hold* when entirely beyond it
  the other way, otherwise *inconclusive*.
- `tolerance` — a count against a published target: *held* when |ours − target| ≤ absolute + relative·|target|
  (or, `direction: at_least`, ours ≥ target − that margin), else *did not hold*. Only `verified` and `secondary`
  targets are accepted (`mobilerepro.claims` refuses the others when the claim is loaded, and `judge()` again).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from mobilerepro import MobileReproError

if TYPE_CHECKING:
    from mobilerepro.claims import Claim

HELD, NOT_HELD, INCONCLUSIVE = "held", "did not hold", "inconclusive"
NOT_ENOUGH_DATA, NOT_TESTABLE = "not enough data", "not testable here"
VERDICT_WORDS = (HELD, NOT_HELD, INCONCLUSIVE, NOT_ENOUGH_DATA, NOT_TESTABLE)
# Provenance a published value needs before it may be a verdict's target (shared PAPERS.md).
TARGET_PROVENANCE = ("verified", "secondary")


class VerdictError(MobileReproError):
    """Evidence that does not fit its claim's test (a programming error of the experiment)."""


@dataclass(frozen=True)
class Interval:
    """An estimate with an interval over `n` observations (models, seeds, images, samples)."""

    estimate: float
    low: float
    high: float
    n: int
    text: str


@dataclass(frozen=True)
class Spreads:
    """A candidate's and a reference's spread (e.g. p10–p90 of latency samples), `n` observations each at least."""

    candidate: tuple[float, float]
    reference: tuple[float, float]
    n: int
    text: str


@dataclass(frozen=True)
class Value:
    """One measured number (a count) to hold against the claim's published target for the scope."""

    value: float
    text: str
    n: int = 1


@dataclass(frozen=True)
class NotTestable:
    """Why this run cannot test the claim (no such hardware, reduced scale, ...)."""

    reason: str
    n: int = 0


Evidence = Interval | Spreads | Value | NotTestable


@dataclass(frozen=True)
class Verdict:
    """A claim judged in one scope. `claim` is the statement actually tested (the claim's `tested_as`)."""

    claim_id: str
    claim: str
    provenance: str
    scope: str
    ours: str
    verdict: str
    n: int = 0
    rule: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _inside(low: float, high: float, region: tuple[float | None, float | None]) -> bool:
    """[low, high] lies inside the open region (a, b); None is no bound."""
    a, b = region
    return (a is None or low > a) and (b is None or high < b)


def _outside(low: float, high: float, region: tuple[float | None, float | None]) -> bool:
    """[low, high] lies entirely outside the open region (a, b): at or below a, or at or above b."""
    a, b = region
    return (a is not None and high <= a) or (b is not None and low >= b)


def _within(low: float, high: float, region: tuple[float | None, float | None]) -> bool:
    """[low, high] lies inside the closed region [a, b]."""
    a, b = region
    return (a is None or low >= a) and (b is None or high <= b)


def judge_interval(evidence: Interval, held: tuple, not_held: tuple | None) -> str:
    low, high = evidence.low, evidence.high
    if not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE  # e.g. a t interval from one seed, or a bootstrap with no defined resample
    if low > high:
        raise VerdictError(f"interval [{low}, {high}] is reversed")
    if _inside(low, high, held):
        return HELD
    if _outside(low, high, held) if not_held is None else _within(low, high, not_held):
        return NOT_HELD
    return INCONCLUSIVE


def judge_spreads(evidence: Spreads, direction: str) -> str:
    (c_low, c_high), (r_low, r_high) = evidence.candidate, evidence.reference
    if direction == "greater":
        beyond, short = c_low > r_high, c_high < r_low
    elif direction == "less":
        beyond, short = c_high < r_low, c_low > r_high
    else:
        raise VerdictError(f"unknown direction {direction!r} (greater or less)")
    if beyond:
        return HELD
    if short:
        return NOT_HELD
    return INCONCLUSIVE


def judge_tolerance(value: float, target: float, absolute: float, relative: float, direction: str) -> str:
    margin = absolute + relative * abs(target)
    if direction == "at_least":
        return HELD if value >= target - margin else NOT_HELD
    if direction == "both":
        return HELD if abs(value - target) <= margin else NOT_HELD
    raise VerdictError(f"unknown direction {direction!r} (both or at_least)")


def judge(claim: Claim, scope: str, evidence: Evidence) -> Verdict:
    """The verdict on `claim` in `scope` from `evidence`, by the claim's own test."""
    test = claim.test
    if test is None:
        raise VerdictError(f"claim {claim.id} has no test: it is context, not something a chapter judges")

    def verdict(word: str, ours: str, rule: str = test.describe()) -> Verdict:
        return Verdict(claim.id, claim.tested_as, claim.provenance, scope, ours, word, evidence.n, rule)

    if isinstance(evidence, NotTestable):
        return verdict(NOT_TESTABLE, evidence.reason)
    if evidence.n < test.min_n:
        return verdict(NOT_ENOUGH_DATA, f"{evidence.text} — {evidence.n} < the {test.min_n} this claim needs")
    expected = {"interval": Interval, "separated": Spreads, "tolerance": Value}[test.kind]
    if not isinstance(evidence, expected):
        raise VerdictError(f"claim {claim.id} ({test.kind}) needs {expected.__name__} evidence, got "
                           f"{type(evidence).__name__}")
    if test.kind == "interval":
        return verdict(judge_interval(evidence, test.held, test.not_held), evidence.text)
    if test.kind == "separated":
        return verdict(judge_spreads(evidence, test.direction), evidence.text)
    target = claim.target(scope)
    if target is None:
        return verdict(NOT_TESTABLE, f"{evidence.text}; no published target for {scope}")
    if target.provenance not in TARGET_PROVENANCE:
        raise VerdictError(f"claim {claim.id}: a {target.provenance} value cannot be a verdict's target")
    word = judge_tolerance(evidence.value, target.value, test.absolute, test.relative, test.direction)
    second_hand = " (second-hand target)" if target.provenance == "secondary" else ""
    return verdict(word, f"{evidence.text}; published {target.value:g}{second_hand}")
