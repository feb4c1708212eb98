"""The verdict engine, branch by branch, on constructed evidence; and the claims as data it reads.

Every verdict decision of `mobilerepro.verdicts` is pinned here by a case whose expected word differs from the one
a reversed decision would give, so that flipping any single decision fails these tests.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobilerepro import claims
from mobilerepro.claims import Claim, ClaimError, ClaimTest, Target, parse_claim
from mobilerepro.verdicts import (
    HELD,
    INCONCLUSIVE,
    NOT_ENOUGH_DATA,
    NOT_HELD,
    NOT_TESTABLE,
    Interval,
    NotTestable,
    Spreads,
    Value,
    VerdictError,
    judge,
    judge_interval,
    judge_spreads,
    judge_tolerance,
)


def interval(low, high, n=20, estimate=None):
    return Interval(estimate if estimate is not None else (low + high) / 2, low, high, n, f"[{low}, {high}]")


def claim(test: ClaimTest) -> Claim:
    return Claim("test/section/name", "test", "section", "here", "a claim", "claim", "what is tested", test)


POSITIVE = ClaimTest("interval", min_n=2, held=(0, None))


# --- interval ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("low", "high", "expected"), [
    (0.1, 0.5, HELD),            # entirely above 0
    (-0.5, -0.1, NOT_HELD),      # entirely below 0
    (-0.1, 0.5, INCONCLUSIVE),   # straddles 0
    (0.0, 0.5, INCONCLUSIVE),    # touches the open boundary: not inside, not outside
    (-0.5, 0.0, NOT_HELD),       # at or below the boundary is outside
])
def test_interval_against_a_one_sided_region(low, high, expected):
    assert judge_interval(interval(low, high), (0, None), None) == expected


@pytest.mark.parametrize(("low", "high", "expected"), [
    (0.45, 0.55, HELD),          # inside the band
    (0.1, 0.3, NOT_HELD),        # below the band
    (0.7, 0.9, NOT_HELD),        # above the band
    (0.3, 0.5, INCONCLUSIVE),    # straddles the lower edge
    (0.5, 0.7, INCONCLUSIVE),    # straddles the upper edge
    (0.3, 0.7, INCONCLUSIVE),    # covers the band
])
def test_interval_against_a_band(low, high, expected):
    assert judge_interval(interval(low, high), (0.4, 0.6), None) == expected


@pytest.mark.parametrize(("low", "high", "expected"), [
    (-0.2, 0.3, HELD),           # below 0.4
    (0.65, 0.9, NOT_HELD),       # in the explicit not-held region
    (0.6, 0.9, NOT_HELD),        # the not-held region is closed
    (0.45, 0.55, INCONCLUSIVE),  # in the gap between the regions: depends on what was not measured
    (0.3, 0.7, INCONCLUSIVE),
])
def test_interval_with_an_explicit_not_held_region(low, high, expected):
    assert judge_interval(interval(low, high), (None, 0.4), (0.6, None)) == expected


@pytest.mark.parametrize(("low", "high", "expected"), [
    (0.65, 0.75, NOT_HELD),      # inside a not-held region bounded on both sides
    (0.85, 0.9, INCONCLUSIVE),   # beyond it: neither region
    (0.7, 0.9, INCONCLUSIVE),    # reaching out of it
])
def test_interval_with_a_bounded_not_held_region(low, high, expected):
    assert judge_interval(interval(low, high), (None, 0.4), (0.6, 0.8)) == expected


def test_an_interval_that_could_not_be_computed_is_inconclusive():
    assert judge_interval(interval(float("nan"), float("nan"), estimate=0.5), (0, None), None) == INCONCLUSIVE
    assert judge_interval(interval(0.1, float("inf")), (0, None), None) == INCONCLUSIVE


def test_a_reversed_interval_is_an_error():
    with pytest.raises(VerdictError):
        judge_interval(interval(0.5, 0.1), (0, None), None)


@given(st.floats(-10, 10), st.floats(0, 10), st.floats(-10, 10), st.floats(0.01, 10))
def test_interval_verdicts_are_exclusive_and_exhaustive(low, width, edge, band):
    """Exactly one word, and it agrees with plain set reasoning about [low, low + width] and (edge, edge + band)."""
    high = low + width
    word = judge_interval(interval(low, high), (edge, edge + band), None)
    inside = low > edge and high < edge + band
    outside = high <= edge or low >= edge + band
    assert word == (HELD if inside else NOT_HELD if outside else INCONCLUSIVE)


# --- separated -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("candidate", "reference", "direction", "expected"), [
    ((2.0, 2.2), (1.0, 1.2), "greater", HELD),
    ((0.5, 0.8), (1.0, 1.2), "greater", NOT_HELD),
    ((1.1, 1.5), (1.0, 1.2), "greater", INCONCLUSIVE),
    ((0.5, 0.8), (1.0, 1.2), "less", HELD),
    ((2.0, 2.2), (1.0, 1.2), "less", NOT_HELD),
    ((0.9, 1.05), (1.0, 1.2), "less", INCONCLUSIVE),
])
def test_separated_spreads(candidate, reference, direction, expected):
    assert judge_spreads(Spreads(candidate, reference, 20, "x"), direction) == expected


def test_separated_needs_a_direction():
    with pytest.raises(VerdictError):
        judge_spreads(Spreads((1, 2), (3, 4), 20, "x"), "sideways")


# --- tolerance -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "target", "direction", "expected"), [
    (2.08, 2.1, "both", HELD),         # within 0.05
    (2.2, 2.1, "both", NOT_HELD),      # 0.1 above
    (2.0, 2.1, "both", NOT_HELD),      # 0.1 below
    (71.0, 71.4, "at_least", HELD),    # 0.4 short: within the margin
    (75.0, 71.4, "at_least", HELD),    # above is fine
    (70.8, 71.4, "at_least", NOT_HELD),
])
def test_tolerance(value, target, direction, expected):
    assert judge_tolerance(value, target, 0.05 if direction == "both" else 0.5, 0.0, direction) == expected


def test_relative_tolerance_scales_with_the_target():
    assert judge_tolerance(1004.0, 1000.0, 0.0, 0.005, "both") == HELD
    assert judge_tolerance(1006.0, 1000.0, 0.0, 0.005, "both") == NOT_HELD


def test_tolerance_needs_a_direction():
    with pytest.raises(VerdictError):
        judge_tolerance(1.0, 1.0, 0.1, 0.0, "sideways")


# --- judge ---------------------------------------------------------------------------------------------------------

def test_not_testable_evidence_is_reported_with_its_reason():
    verdict = judge(claim(POSITIVE), "phone", NotTestable("no phone measured here"))
    assert verdict.verdict == NOT_TESTABLE
    assert verdict.ours == "no phone measured here"


def test_below_the_least_evidence_there_is_no_verdict():
    assert judge(claim(POSITIVE), "arms", interval(0.5, 0.9, n=1)).verdict == NOT_ENOUGH_DATA
    assert judge(claim(POSITIVE), "arms", interval(0.5, 0.9, n=2)).verdict == HELD


def test_the_verdict_prints_the_claim_that_was_tested_and_its_rule():
    verdict = judge(claim(POSITIVE), "arms", interval(0.5, 0.9))
    assert verdict.claim == "what is tested"
    assert verdict.rule == POSITIVE.describe() and "(0, ∞)" in verdict.rule
    assert verdict.scope == "arms" and verdict.n == 20


def test_evidence_of_the_wrong_kind_is_an_error():
    with pytest.raises(VerdictError):
        judge(claim(POSITIVE), "arms", Spreads((1, 2), (3, 4), 20, "x"))


def test_a_claim_without_a_test_is_not_judged():
    with pytest.raises(VerdictError):
        judge(claim(None), "arms", interval(0.1, 0.2))


def test_tolerance_against_the_published_target_of_the_scope():
    params = claims.get("mobileone/table7/params")
    assert judge(params, "S0", Value(2.079, "2.079 M")).verdict == HELD
    assert judge(params, "S0", Value(5.29, "5.29 M (unfused)")).verdict == NOT_HELD
    assert "second-hand" in judge(params, "S0", Value(2.079, "2.079 M")).ours


def test_a_scope_without_a_published_target_is_not_testable():
    # S2-S4 MACs are only *derived* (our count of the official code): no target, no verdict.
    macs = claims.get("mobileone/table7/macs")
    assert judge(macs, "S2", Value(1298.4, "1298.4 M")).verdict == NOT_TESTABLE


def test_the_engine_refuses_a_recalled_or_derived_target(monkeypatch):
    macs = claims.get("mobileone/table7/macs")
    for provenance in ("recalled", "derived", "claim", "choice"):
        monkeypatch.setattr(Claim, "target", lambda self, scope, p=provenance: Target("x", 1.0, p))
        with pytest.raises(VerdictError, match="cannot be a verdict's target"):
            judge(macs, "S0", Value(1.0, "1"))


@pytest.mark.parametrize("path", [
    "mobileone/table2/latency_ms/relu",                  # recalled (Tab. 2's iPhone numbers)
    "mobileone/table7/variants/s2/macs_m_derived",       # derived
    "models/mobileone_s3/macs_m",                        # derived (the printed S3 MACs are not confirmed)
])
def test_a_claim_with_a_recalled_or_derived_target_cannot_even_be_loaded(path):
    entry = {"where": "Tab. 2", "text": "t", "provenance": "claim", "tested_as": "t",
             "test": {"kind": "tolerance", "min_n": 1, "absolute": 0.1, "targets": {"x": path}}}
    with pytest.raises(ClaimError, match="only verified or secondary"):
        parse_claim("mobileone", "table2", "bad", entry)


# --- the defects that motivated the engine, as cases ---------------------------------------------------------------

def test_a_rank_correlation_over_four_models_is_no_verdict():
    """A smoke run of Table 1 used to print "did not hold" from ρ = −1.00 over 4 models."""
    desktop = claims.get("mobileone/table1/desktop_macs_lower")
    verdict = judge(desktop, "torch", interval(-1.0, -1.0, n=4, estimate=-1.0))
    assert verdict.verdict == NOT_ENOUGH_DATA


def test_table1_judges_the_claim_it_prints():
    """ρ ≈ 0 on a desktop CPU: "even lower than moderate" held; "moderate on mobile" would not have."""
    near_zero = interval(-0.1, 0.15, n=30, estimate=0.02)
    desktop = judge(claims.get("mobileone/table1/desktop_macs_lower"), "torch", near_zero)
    mobile = judge(claims.get("mobileone/table1/mobile_macs"), "iphone", near_zero)
    assert (desktop.verdict, mobile.verdict) == (HELD, NOT_HELD)
    assert "desktop CPU" in desktop.claim and "phone" in mobile.claim


def test_desktop_claim_inside_the_moderate_band_depends_on_the_phone():
    desktop = claims.get("mobileone/table1/desktop_macs_lower")
    assert judge(desktop, "torch", interval(0.42, 0.58, n=30)).verdict == INCONCLUSIVE
    assert judge(desktop, "torch", interval(0.7, 0.9, n=30)).verdict == NOT_HELD


def test_a_perfect_kendall_tau_over_four_is_significant():
    """The old MIN_RANKED comment said five were needed; four already give one-sided p = 1/24."""
    from scipy import stats

    tau = stats.kendalltau([1, 2, 3, 4], [1, 2, 3, 4], alternative="greater")
    assert math.isclose(tau.pvalue, 1 / 24)


# --- claims as data ------------------------------------------------------------------------------------------------

def test_every_judged_claim_is_complete():
    judged = [c for c in claims.all_claims().values() if c.test is not None]
    assert judged
    for c in judged:
        assert c.tested_as and c.tested_as != "", c.id
        assert c.test.min_n >= 1, c.id
        if c.test.kind == "tolerance":
            for scope in c.test.targets:
                assert c.target(scope).provenance in ("verified", "secondary"), (c.id, scope)


@pytest.mark.parametrize(("entry", "message"), [
    ({"where": "w", "text": "t", "provenance": "claim"}, None),
    ({"text": "t", "provenance": "claim"}, "missing where"),
    ({"where": "w", "text": "t", "provenance": "recalled"}, "provenance is one of"),
    ({"where": "w", "text": "t", "provenance": "claim", "test": {"kind": "interval", "min_n": 2, "held": [0, None]}},
     "tested_as"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t", "test": {"kind": "vibes", "min_n": 1}},
     "unknown test kind"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t", "test": {"kind": "interval", "held": [0, 1]}},
     "min_n"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "interval", "min_n": 1, "held": [1, 0]}}, "is empty"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "separated", "min_n": 1}}, "direction greater or less"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "interval", "min_n": 1, "held": [0, None], "treshold": 2}}, "unknown test fields"),
])
def test_claim_validation(entry, message):
    if message is None:
        assert parse_claim("p", "s", "n", entry).test is None
    else:
        with pytest.raises(ClaimError, match=message):
            parse_claim("p", "s", "n", entry)
