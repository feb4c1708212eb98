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
    consistency,
    holm_adjusted,
    judge,
    judge_chapter,
    judge_direction,
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


# --- direction -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("low", "high", "estimate", "direction", "negligible", "expected"), [
    (0.1, 0.5, 0.3, "greater", None, HELD),              # shown above zero
    (-0.5, -0.1, -0.3, "greater", None, NOT_HELD),       # shown the other way
    (-0.1, 0.5, 0.2, "greater", None, INCONCLUSIVE),     # straddles zero
    (-0.5, -0.1, -0.3, "less", None, HELD),              # a claimed decrease, shown
    (0.1, 0.5, 0.3, "less", None, NOT_HELD),
    (-0.1, 0.1, 0.0, "greater", (-0.2, 0.2), NOT_HELD),  # shown negligible: inside the equivalence region
    (-0.1, 0.3, 0.1, "greater", (-0.2, 0.2), INCONCLUSIVE),  # not shown negligible, not shown positive
    (0.0, 0.5, 0.2, "greater", None, INCONCLUSIVE),      # touching zero is not excluding it
])
def test_direction_is_judged_on_the_sign(low, high, estimate, direction, negligible, expected):
    assert judge_direction(interval(low, high, estimate=estimate), direction, negligible) == expected


def test_direction_with_a_p_value_needs_the_adjusted_p_as_well_as_the_interval():
    evidence = interval(0.1, 0.5, estimate=0.3)
    assert judge_direction(evidence, "greater", None, p_adjusted=0.01) == HELD
    assert judge_direction(evidence, "greater", None, p_adjusted=0.2) == INCONCLUSIVE


@pytest.mark.parametrize(("effect", "expected"), [(0.05, "below"), (0.3, "inside"), (0.9, "above")])
def test_the_papers_effect_is_placed_against_our_interval(effect, expected):
    assert consistency(effect, 0.1, 0.5).startswith(expected)


def test_the_papers_effect_is_shown_beside_and_never_the_bar():
    """Tab. 11's old rule held only when the whole interval beat the paper's own +27.8 %; now a gain shown above
    zero holds and the paper's effect is reported as lying above our interval."""
    coco = claims.get("mobileone/table11_detection/coco_over_mnasnet")
    verdict = judge(coco, "COCO", interval(0.05, 0.15, n=3, estimate=0.1))
    assert verdict.verdict == HELD
    assert "+27.8 % lies above our interval" in verdict.ours


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12), st.floats(0.001, 0.2))
def test_holm_adjusted_p_values_reject_what_the_step_down_procedure_rejects(p_values, alpha):
    m = len(p_values)
    rejected, order = set(), sorted(range(m), key=lambda i: p_values[i])
    for rank, index in enumerate(order):
        if p_values[index] > alpha / (m - rank):
            break
        rejected.add(index)
    adjusted = holm_adjusted(p_values)
    assert {i for i in range(m) if adjusted[i] <= alpha} == rejected
    assert all(a >= p for a, p in zip(adjusted, p_values, strict=True))


def direction_claim(name: str, **test) -> Claim:
    return Claim(f"test/section/{name}", "test", "section", "here", "a claim", "claim", "what is tested",
                 ClaimTest("direction", min_n=3, direction="greater", **test))


def test_a_chapters_contrasts_are_corrected_together():
    """Each contrast alone is shown (p < 0.05); two of them judged in one chapter are not (Holm: 2 x 0.03, 0.04)."""
    chapter = {"a": direction_claim("a"), "b": direction_claim("b")}
    first = Interval(0.3, 0.1, 0.5, 3, "a", p_value=0.03)
    second = Interval(0.3, 0.1, 0.5, 3, "b", p_value=0.04)
    alone = judge_chapter({"a": chapter["a"]}, [("a", "arms", first)])
    assert [v.verdict for v in alone] == [HELD]
    together = judge_chapter(chapter, [("a", "arms", first), ("b", "arms", second)])
    assert [v.verdict for v in together] == [INCONCLUSIVE, INCONCLUSIVE]
    assert "Holm-adjusted over 2 contrasts 0.06" in together[0].ours and "2 paired contrasts" in together[0].rule


def test_the_cpu_backends_are_one_machines_evidence():
    positive = claim(POSITIVE)
    chapter = {"name": positive}
    evidence = [("name", "torch", interval(0.1, 0.5)), ("name", "onnxruntime", interval(0.2, 0.6)),
                ("name", "cuda", interval(-0.5, -0.1)), ("name", "torch: relu", interval(0.1, 0.2)),
                ("name", "openvino: relu", interval(-0.4, -0.1))]
    verdicts = {v.scope: v for v in judge_chapter(chapter, evidence, ("torch", "onnxruntime", "openvino"))}
    assert set(verdicts) == {"this CPU", "cuda", "this CPU: relu"}
    assert verdicts["this CPU"].verdict == HELD and [r["scope"] for r in verdicts["this CPU"].rows] == [
        "torch", "onnxruntime"]
    assert verdicts["cuda"].verdict == NOT_HELD and verdicts["cuda"].rows == []
    assert verdicts["this CPU: relu"].verdict == INCONCLUSIVE
    assert verdicts["this CPU: relu"].ours.startswith("the backends disagree")


def test_a_backend_that_cannot_test_the_claim_does_not_outvote_the_others():
    chapter = {"name": claim(POSITIVE)}
    evidence = [("name", "torch", interval(0.1, 0.5)), ("name", "openvino", NotTestable("not a desktop CPU"))]
    verdict, = judge_chapter(chapter, evidence, ("torch", "openvino"))
    assert verdict.verdict == HELD and len(verdict.rows) == 2


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
             "test": {"kind": "tolerance", "min_n": 1, "absolute": 0.1, "targets": {"x": path},
                      "bounds": {"provenance": "choice", "text": "a test"}}}
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
        if c.test.rule_numbers():
            assert c.test.bounds["provenance"] != "recalled" and c.test.bounds["text"], c.id
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
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "interval", "min_n": 10, "held": [0.4, 0.6]}}, "need bounds"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "interval", "min_n": 10, "held": [0.4, 0.6],
               "bounds": {"provenance": "recalled", "text": "memory"}}}, "need bounds"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "direction", "direction": "greater", "min_n": 2}}, "min_n ≥ 3"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "direction", "direction": "greater", "min_n": 3, "held": [0.27, None],
               "bounds": {"provenance": "derived", "text": "x"}}}, "judged on the sign"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "direction", "direction": "greater", "min_n": 3, "negligible": [-0.1, 0.1]}}, "need bounds"),
    ({"where": "w", "text": "t", "provenance": "claim", "tested_as": "t",
      "test": {"kind": "direction", "direction": "greater", "min_n": 3,
               "paper_effect": {"value": 0.3, "provenance": "recalled"}}}, "paper_effect"),
])
def test_claim_validation(entry, message):
    if message is None:
        assert parse_claim("p", "s", "n", entry).test is None
    else:
        with pytest.raises(ClaimError, match=message):
            parse_claim("p", "s", "n", entry)
