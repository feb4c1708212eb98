"""What the latency chapters other than Table 1 compute from their rows, and their one-line errors."""

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from mobilerepro import MobileReproError, experiments, paper
from mobilerepro.experiments._latency import spread_evidence
from mobilerepro.experiments.mnv4 import table2 as mnv4_table2
from mobilerepro.experiments.mnv4 import table6 as mnv4_table6
from mobilerepro.measure.complexity import measure_complexity
from mobilerepro.models import mobilenetv4 as m4


def frame(**p10_p90):
    return pd.DataFrame([{"variant": v, "backend": "torch", "status": "ok", "p10_ms": lo, "p90_ms": hi, "n": 20}
                         for v, (lo, hi) in p10_p90.items()])


def test_spread_evidence_pairs_candidate_and_reference():
    evidence = spread_evidence(frame(relu=(1.0, 1.2), silu=(1.5, 1.7)), "torch", "variant", "silu", "relu")
    assert (evidence.candidate, evidence.reference, evidence.n) == ((1.5, 1.7), (1.0, 1.2), 20)
    assert spread_evidence(frame(relu=(1.0, 1.2)), "torch", "variant", "silu", "relu") is None
    assert spread_evidence(frame(relu=(1.0, 1.2), silu=(1, 2)), "onnxruntime", "variant", "silu", "relu") is None


def test_attention_variants_add_three_blocks_and_mqa_is_smaller():
    counts = {}
    for name, spec in mnv4_table2.VARIANTS.items():
        model = m4.MobileNetV4(spec).eval()
        attention = [m for m in model.modules() if isinstance(m, m4.MobileMQA)]
        assert len(attention) == (0 if name == "base" else 3)
        counts[name] = measure_complexity(model, (3, 128, 128))
    assert counts["base"].params < counts["mqa"].params < counts["mhsa"].params
    assert counts["base"].macs < counts["mqa"].macs < counts["mhsa"].macs


def test_increment_ratio():
    assert mnv4_table2.increment_ratio(base=2.0, mhsa=6.0, mqa=3.0) == pytest.approx(0.25)


def test_rank_agreement_with_a_constant_paper_column_is_nan_not_none():
    """Spearman's rho is undefined (NaN) for a constant column; the chapter must not mistake that for None."""
    ours = pd.Series({"mnv4_conv_s": 1.0, "mobilenet_v2": 2.0, "mobileone_s0": 3.0})
    agreement = mnv4_table6.rank_agreement(ours, "pixel8_edgetpu")  # Tab. 6 prints one value for all three
    assert agreement["n"] == 3 and math.isnan(agreement["rho"])
    assert mnv4_table6.rank_agreement(ours.iloc[:2], "pixel6_cpu") is None
    theirs = [paper.value(mnv4_table6.published_row(m)["latency_ms"]["pixel6_cpu"]) for m in ours.index]
    expected = stats.spearmanr(ours.to_numpy(), theirs).statistic
    assert mnv4_table6.rank_agreement(ours, "pixel6_cpu")["rho"] == pytest.approx(expected)


def test_mobileone_s4_row_keeps_the_papers_discrepancy():
    row = mnv4_table6.published_row("mobileone_s4")
    s4 = paper.published_model("mobileone_s4")
    assert row["macs_m"]["value"] < s4["macs_m"]["value"] / 1.5  # Tab. 6 prints far fewer MACs than the model has


@pytest.mark.slow
def test_table7_train_time_form_is_larger_and_published_cells_carry_provenance(smoke_run):
    result = experiments.get("mobileone/table7").load(smoke_run("mobileone/table7"))
    counts = result.counts_table()
    assert (counts["train-time / fused params"] > 1).all()
    assert counts["published params (M)"].str.contains("second-hand").all()
    assert counts["official code MACs (M)"].str.contains("derived").all()


@pytest.mark.slow
@pytest.mark.parametrize("experiment_id", ["mobileone/table2", "mobileone/table3"])
def test_probe_ratios_are_to_the_reference_and_the_paper_column_is_marked_unverified(smoke_run, experiment_id):
    experiment = experiments.get(experiment_id)
    table = experiment.load(smoke_run(experiment_id)).comparison_table().set_index("variant")
    assert table.loc[experiment.reference, "torch ×ref"] == pytest.approx(1.0)
    assert any("recalled, unverified" in column for column in table.columns)
    assert set(table.index) == set(experiment.variants)


@pytest.mark.slow
def test_table16_at_ridge_point_zero_the_roofline_is_macs(smoke_run):
    result = experiments.get("mnv4/table16").load(smoke_run("mnv4/table16"))
    peaks = result.summary["peaks"]
    assert peaks["ridge_point_fp32"] == pytest.approx(peaks["peak_macs"] / peaks["peak_bandwidth"])
    for c in result.summary["calibration"].values():
        assert c["rho_by_ridge_point"]["0.0"] == pytest.approx(c["macs"]["rho"])
    assert all(s["pareto_optimal"] for s in result.summary["sweep"])


@pytest.mark.parametrize(("experiment_id", "arguments", "message"), [
    ("mobileone/table7", {"variants": ["s9"]}, "unknown MobileOne variant 's9'"),
    ("mobileone/table3", {"variants": ["dropout"]}, "unknown table3 variant 'dropout'"),
    ("mobileone/table2", {"depth": 7}, "probe depth"),
    ("mnv4/table2", {"input_size": 100}, "multiple of 32"),
    ("mnv4/table6", {"models": ["deit_tiny"]}, "no Tab. 6 row"),
    ("mnv4/table16", {"models": ["mobilenet_v2"]}, "at least 3 models"),
])
def test_bad_parameters_are_one_line_errors(experiment_id, arguments, message):
    with pytest.raises(MobileReproError, match=message):
        experiments.get(experiment_id).configure("smoke", **arguments)


def test_table16_default_population_has_published_accuracy():
    config = experiments.get("mnv4/table16").configure("quick")
    assert {"mnv4_conv_s", "mnv4_hybrid_l", "mobileone_s0", "mobilenet_v2"} <= set(config.models)
    assert "deit_tiny" not in config.models  # no published top-1 in our data


def _timings(rows: list[tuple[str, float, float, float, float]]) -> pd.DataFrame:
    """(model, MACs, p10, median, p90) rows of one backend, as a latency chapter's result rows."""
    columns = ["model", "macs", "backend", "status", "p10_ms", "median_ms", "p90_ms"]
    return pd.DataFrame.from_records([(m, macs, "torch", "ok", p10, median, p90) for m, macs, p10, median, p90 in rows],
                                     columns=columns)


def test_a_pair_is_ordered_by_macs_and_an_inversion_is_apart_only_beyond_both_spreads():
    from mobilerepro.experiments.nas.flops_vs_latency import pair_table

    frame = _timings([("small_but_slow", 100, 9.0, 10.0, 11.0), ("big_but_fast", 200, 4.0, 5.0, 6.0),
                      ("big_and_close", 300, 8.0, 10.5, 12.0)])
    pairs = pair_table(frame, "median_ms").set_index(["fewer", "more"])
    inverted = pairs.loc[("small_but_slow", "big_but_fast")]
    assert inverted.latency_ratio == pytest.approx(2.0) and inverted.macs_ratio == pytest.approx(2.0)
    assert inverted.apart  # 9 > 6
    overlapping = pairs.loc[("small_but_slow", "big_and_close")]
    assert overlapping.latency_ratio < 1 and not overlapping.apart  # 10.5 vs 10, spreads overlap


@given(st.lists(st.tuples(st.integers(1, 10**9), st.floats(0.1, 100)), min_size=2, max_size=8,
                unique_by=lambda r: r[0]))
def test_every_pair_appears_once_with_fewer_macs_first(networks):
    from mobilerepro.experiments.nas.flops_vs_latency import pair_table

    frame = _timings([(f"n{i}", macs, t * 0.9, t, t * 1.1) for i, (macs, t) in enumerate(networks)])
    pairs = pair_table(frame, "median_ms")
    assert len(pairs) == len(networks) * (len(networks) - 1) // 2
    assert (pairs.macs_ratio >= 1).all()


def _flops_verdict(rows) -> str:
    from mobilerepro import claims
    from mobilerepro.experiments.nas import flops_vs_latency
    from mobilerepro.measure.latency import CPU_BACKENDS
    from mobilerepro.verdicts import judge_chapter

    frame = _timings(rows).assign(n=50, min_ms=lambda f: f.median_ms)
    experiment = flops_vs_latency.EXPERIMENT
    config = experiment.configure("smoke")
    _, evidence = experiment.analyse(config, frame, {}, None)
    [verdict] = judge_chapter(claims.claims_of(experiment.id), evidence, CPU_BACKENDS)
    return verdict.verdict


def test_fewer_macs_slower_beyond_both_spreads_holds_the_mnasnet_claim():
    assert _flops_verdict([("small_but_slow", 100, 9.0, 10.0, 11.0), ("big_but_fast", 200, 4.0, 5.0, 6.0)]) == "held"


def test_when_macs_rank_every_pair_the_mnasnet_claim_did_not_hold():
    assert _flops_verdict([("small_and_fast", 100, 4.0, 5.0, 6.0), ("big_and_slow", 200, 9.0, 10.0, 11.0),
                           ("bigger_and_slower", 400, 19.0, 20.0, 21.0)]) == "did not hold"


def test_nas_pairs_published_ratio_from_latencies_or_a_speedup():
    from mobilerepro.experiments.nas.latency_claims import published_ratio

    assert published_ratio({"candidate_ms": {"value": 78, "provenance": "verified"},
                            "reference_ms": {"value": 156, "provenance": "verified"}}) == pytest.approx(0.5)
    assert published_ratio({"speedup": {"value": 4.0, "provenance": "verified"}}) == pytest.approx(0.25)
    assert published_ratio({"case": "no latency claim"}) is None


def test_a_nas_claim_whose_model_is_not_built_is_judged_not_testable_with_the_reason():
    from mobilerepro.experiments.nas import latency_claims

    experiment = latency_claims.EXPERIMENT
    config = experiment.configure("smoke")
    _, evidence = experiment.analyse(config, _timings([]).assign(n=[]), {}, None)
    unbuilt = {name: pair["not_built"] for name, pair in latency_claims.pairs().items() if "not_built" in pair}
    assert unbuilt
    for name, reason in unbuilt.items():
        [(_, scope, found)] = [e for e in evidence if e[0] == name]
        assert found.reason == reason
