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
- `direction` — a relative claim ("A is better than B", "+0.5 % with k branches"), judged on the sign of an
  effect with an interval (a paired difference or relative gain): *held* when the effect is shown on the claimed
  side of zero, *did not hold* when it is shown on the other side, or when the whole interval lies inside the
  claim's stated `negligible` region (an equivalence region: the effect is shown to be too small to matter);
  otherwise *inconclusive*. Evidence with a p-value (paired over seeds) is corrected for the number of such contrasts
  one chapter judges (Holm's step-down; `judge_chapter`): "shown" means a Holm-adjusted p ≤ 0.05. The paper's own
  effect size is never the bar; it is shown beside the verdict as a consistency check (inside, below or above our
  interval).
- `tolerance` — a count against a published target: *held* when |ours − target| ≤ absolute + relative·|target|
  (or, `direction: at_least`, ours ≥ target − that margin), else *did not hold*. Only `verified` and `secondary`
  targets are accepted (`mobilerepro.claims` refuses the others when the claim is loaded, and `judge()` again).

Every number a rule uses other than zero (a band edge, a negligible region, a tolerance margin) carries its own
provenance in the claim (`bounds`), as targets do; `mobilerepro.claims` refuses a rule without it.

Per-backend evidence from one CPU is one machine's evidence, not a replication: `judge_chapter` merges the verdicts
of the CPU backends on the same claim into one verdict for this CPU, with the backends as its evidence rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from mobilerepro import MobileReproError
from mobilerepro.claims import FAMILY_ALPHA, Claim, ClaimError
from mobilerepro.paper import TARGET_PROVENANCE

HELD, NOT_HELD, INCONCLUSIVE = "held", "did not hold", "inconclusive"
NOT_ENOUGH_DATA, NOT_TESTABLE = "not enough data", "not testable here"
VERDICT_WORDS = (HELD, NOT_HELD, INCONCLUSIVE, NOT_ENOUGH_DATA, NOT_TESTABLE)
MACHINE_SCOPE = "this CPU"


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
    p_value: float | None = None  # two-sided, against no effect: lets a chapter's contrasts be corrected (Holm)


def contrast_evidence(contrast: dict, quantity: str = "top-1 difference", unit: str = "points",
                      digits: int = 2) -> Interval:
    """A paired contrast over seeds (`measure.stats.paired_by_seed`) as an interval, described as `quantity` in
    `unit`, its p-value kept for the chapter's Holm correction."""
    difference, low, high = contrast["difference"], contrast["ci_low"], contrast["ci_high"]
    interval = f", 95 % CI [{low:+.{digits}f}, {high:+.{digits}f}]" if math.isfinite(low) else ""
    p_value = contrast.get("p_value")
    return Interval(difference, low, high, contrast["seeds"],
                    f"{quantity} {difference:+.{digits}f} {unit}{interval} over {contrast['seeds']} seed(s)".replace(
                        "  ", " "),
                    None if p_value is None or not math.isfinite(p_value) else float(p_value))


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
    rows: list = field(default_factory=list)  # a machine's verdict: one {scope, ours, verdict, n} per backend

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


def judge_direction(evidence: Interval, direction: str, negligible: tuple | None,
                    p_adjusted: float | None = None) -> str:
    """The sign of an effect: shown on the claimed side (held), on the other (did not hold), shown negligible (did
    not hold), else inconclusive. With a (Holm-adjusted) p-value, "shown" means p ≤ FAMILY_ALPHA; without one, that
    the interval excludes zero."""
    low, high = evidence.low, evidence.high
    if not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    if low > high:
        raise VerdictError(f"interval [{low}, {high}] is reversed")
    sign = {"greater": 1, "less": -1}.get(direction)
    if sign is None:
        raise VerdictError(f"unknown direction {direction!r} (greater or less)")
    shown = (p_adjusted <= FAMILY_ALPHA and (low > 0 or high < 0)) if p_adjusted is not None else (low > 0 or high < 0)
    if shown:
        return HELD if sign * evidence.estimate > 0 else NOT_HELD
    if negligible is not None and _within(low, high, negligible):
        return NOT_HELD
    return INCONCLUSIVE


def consistency(paper_effect: float, low: float, high: float) -> str:
    """Where the paper's effect lies against our interval."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval to compare with"
    if paper_effect < low:
        return "below our interval"
    if paper_effect > high:
        return "above our interval"
    return "inside our interval"


def holm_adjusted(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order: p_(i) x (m - i + 1), made monotone, capped at 1.
    A contrast is shown at family-wise level α exactly when its adjusted p is at most α."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [1.0] * m, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def judge_tolerance(value: float, target: float, absolute: float, relative: float, direction: str) -> str:
    margin = absolute + relative * abs(target)
    if direction == "at_least":
        return HELD if value >= target - margin else NOT_HELD
    if direction == "both":
        return HELD if abs(value - target) <= margin else NOT_HELD
    raise VerdictError(f"unknown direction {direction!r} (both or at_least)")


def judge(claim: Claim, scope: str, evidence: Evidence, *, p_adjusted: float | None = None,
          family: int = 1) -> Verdict:
    """The verdict on `claim` in `scope` from `evidence`, by the claim's own test. A direction claim's evidence with
    a p-value is judged on `p_adjusted`, its Holm-adjusted p among the `family` contrasts of its chapter."""
    test = claim.test
    if test is None:
        raise VerdictError(f"claim {claim.id} has no test: it is context, not something a chapter judges")

    def verdict(word: str, ours: str, rule: str = test.describe(family)) -> Verdict:
        return Verdict(claim.id, claim.tested_as, claim.provenance, scope, ours, word, evidence.n, rule)

    if isinstance(evidence, NotTestable):
        return verdict(NOT_TESTABLE, evidence.reason)
    if evidence.n < test.min_n:
        return verdict(NOT_ENOUGH_DATA, f"{evidence.text} — {evidence.n} < the {test.min_n} this claim needs")
    expected = {"interval": Interval, "direction": Interval, "separated": Spreads, "tolerance": Value}[test.kind]
    if not isinstance(evidence, expected):
        raise VerdictError(f"claim {claim.id} ({test.kind}) needs {expected.__name__} evidence, got "
                           f"{type(evidence).__name__}")
    if test.kind == "interval":
        return verdict(judge_interval(evidence, test.held, test.not_held), evidence.text)
    if test.kind == "direction":
        if evidence.p_value is not None and p_adjusted is None:
            p_adjusted = evidence.p_value
        ours = evidence.text
        if evidence.p_value is not None:
            ours += f"; p {evidence.p_value:.3g}" + (f", Holm-adjusted over {family} contrasts {p_adjusted:.3g}"
                                                     if family > 1 else "")
        if test.paper_effect is not None:
            ours += (f"; the paper's effect {test.format_effect(test.paper_effect)} lies "
                     f"{consistency(test.paper_effect, evidence.low, evidence.high)}")
        word = judge_direction(evidence, test.direction, test.negligible,
                               p_adjusted if evidence.p_value is not None else None)
        return verdict(word, ours)
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


def judge_chapter(claims: dict, evidence: list, machine_scopes: tuple[str, ...] = ()) -> list[Verdict]:
    """Every verdict of one chapter: the direction claims' p-valued contrasts corrected together (Holm), then the
    verdicts whose scope is one of `machine_scopes` (the CPU backends, as `backend` or `backend: detail`) merged per
    claim into one verdict for this CPU. Evidence may name only the chapter's own claims."""
    foreign = sorted({name for name, _, _ in evidence} - set(claims))
    if foreign:
        raise ClaimError(f"evidence names {foreign[0]!r}, which is not one of this chapter's claims "
                         f"({', '.join(claims) or 'none'})")
    contrasts = [i for i, (name, _, ev) in enumerate(evidence)
                 if claims[name].test is not None and claims[name].test.kind == "direction"
                 and isinstance(ev, Interval) and ev.p_value is not None and ev.n >= claims[name].test.min_n]
    adjusted = dict(zip(contrasts, holm_adjusted([evidence[i][2].p_value for i in contrasts]), strict=True))
    verdicts = [judge(claims[name], scope, ev, p_adjusted=adjusted.get(i), family=max(len(contrasts), 1))
                for i, (name, scope, ev) in enumerate(evidence)]
    return merge_machine_verdicts(verdicts, machine_scopes)


def merge_machine_verdicts(verdicts: list[Verdict], machine_scopes: tuple[str, ...]) -> list[Verdict]:
    """One verdict per claim (and scope detail) for the backends of one machine: the backends' common verdict, or
    inconclusive when they disagree; not-testable backends count only when no backend could test it."""
    def split(scope: str) -> tuple[str, str]:
        backend, _, detail = scope.partition(": ")
        return backend, detail

    groups: dict[tuple[str, str], list[Verdict]] = {}
    for v in verdicts:
        backend, detail = split(v.scope)
        if backend in machine_scopes:
            groups.setdefault((v.claim_id, detail), []).append(v)
    merged, done = [], set()
    for v in verdicts:
        backend, detail = split(v.scope)
        key = (v.claim_id, detail)
        if backend not in machine_scopes:
            merged.append(v)
            continue
        if key in done:
            continue
        done.add(key)
        rows = groups[key]
        tested = [r for r in rows if r.verdict != NOT_TESTABLE] or rows
        words = {r.verdict for r in tested}
        word = words.pop() if len(words) == 1 else INCONCLUSIVE
        ours = " · ".join(f"{split(r.scope)[0]} {r.verdict}" for r in rows)
        if len({r.verdict for r in tested}) > 1:
            ours = f"the backends disagree: {ours}"
        scope = MACHINE_SCOPE + (f": {detail}" if detail else "")
        merged.append(replace(rows[0], scope=scope, ours=ours, verdict=word, n=min(r.n for r in tested),
                              rule=rows[0].rule + "; one verdict for this CPU: its backends' common verdict, "
                              "inconclusive where they disagree",
                              rows=[{"scope": r.scope, "ours": r.ours, "verdict": r.verdict, "n": r.n} for r in rows]))
    return merged
