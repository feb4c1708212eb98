"""Latency statistics against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobilerepro.measure.stats import mean_with_ci, median_of_round_means, paired_by_seed, summarize, wilson_interval


def test_summary_of_one_to_five():
    s = summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.n, s.min, s.median, s.mean) == (5, 1.0, 3.0, 3.0)
    # numpy's linear interpolation: position (n-1)*q -> 0.4 and 3.6
    assert s.p10 == pytest.approx(1.4)
    assert s.p90 == pytest.approx(4.6)
    assert s.iqr == pytest.approx(4.0 - 2.0)
    assert s.cv == pytest.approx(math.sqrt(2.5) / 3.0)
    assert s.relative_iqr == pytest.approx(2.0 / 3.0)


def test_median_of_round_means_by_hand():
    # means 2, 15, 4 -> 4; means 6, 5, 5 -> 5; means 6, 1, 2 -> 2 where the median of all runs is 1.5
    assert median_of_round_means([1, 3, 10, 20, 4, 4], 3) == 4.0
    assert median_of_round_means([0, 12, 5, 5, 5, 5], 3) == 5.0
    assert median_of_round_means([0, 12, 1, 1, 2, 2], 3) == 2.0  # pooled median: 1.5


@given(st.lists(st.floats(0.01, 1e3), min_size=1, max_size=7), st.integers(1, 6))
def test_rounds_of_equal_runs_give_the_median_of_their_values(values, runs):
    samples = [v for v in values for _ in range(runs)]
    assert median_of_round_means(samples, len(values)) == pytest.approx(float(np.median(values)))


def test_samples_that_do_not_split_into_the_rounds_are_refused():
    with pytest.raises(ValueError, match="equal rounds"):
        median_of_round_means([1.0, 2.0, 3.0], 2)


def test_even_count_median_and_quartiles():
    s = summarize([10.0, 20.0, 30.0, 40.0])
    assert s.median == pytest.approx(25.0)
    assert s.iqr == pytest.approx(32.5 - 17.5)


def test_single_sample_has_zero_spread():
    s = summarize([7.5])
    assert (s.min, s.median, s.p90, s.iqr, s.cv) == (7.5, 7.5, 7.5, 0.0, 0.0)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_rejects_empty_or_non_finite(bad):
    with pytest.raises(ValueError):
        summarize(bad)


@pytest.mark.parametrize(("successes", "n"), [(0, 12), (12, 12), (5, 7), (1061, 1300)])
def test_wilson_interval_brackets_the_proportion_inside_0_1(successes, n):
    from mobilerepro.measure.stats import wilson_interval

    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0
    more_low, more_high = wilson_interval(successes * 10, n * 10)
    assert more_high - more_low < high - low


def test_mean_with_ci_is_the_student_t_interval():
    # 1, 2, 3: mean 2, sample sd 1, t(0.975, 2 dof) = 4.302652729749464 -> half-width 4.3026527 / sqrt(3)
    mean, low, high = mean_with_ci([1.0, 2.0, 3.0])
    half = 4.302652729749464 / 3**0.5
    assert mean == pytest.approx(2.0)
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half), rel=1e-12)


def test_mean_with_ci_widens_with_confidence_and_needs_two_values():
    narrow, wide = mean_with_ci([1.0, 2.0, 4.0], confidence=0.8), mean_with_ci([1.0, 2.0, 4.0], confidence=0.99)
    assert wide[1] < narrow[1] < narrow[0] < narrow[2] < wide[2]
    mean, low, high = mean_with_ci([5.0])
    assert mean == 5.0 and math.isnan(low) and math.isnan(high)
    assert mean_with_ci([3.0, 3.0]) == (3.0, 3.0, 3.0)


def test_wilson_interval_has_the_wilson_centre_and_width():
    # 8 of 10 at z = 1.959964: centre (p + z²/2n) / (1 + z²/n), half-width z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((centre - half, centre + half), rel=1e-12)
    assert (low + high) / 2 == pytest.approx(centre) and (low + high) / 2 < 0.8  # pulled towards 1/2


@given(st.lists(st.tuples(st.integers(-500, 500), st.integers(-500, 500)), min_size=1, max_size=8), st.randoms())
def test_paired_by_seed_pairs_the_same_seed_whatever_the_row_order(values, random):
    rows = [{"seed": seed, "arm": arm, "top1": value} for seed, pair in enumerate(values)
            for arm, value in zip(("a", "b"), pair, strict=True)]
    rows.append({"seed": len(values), "arm": "a", "top1": 99.0})  # a seed only one arm has is not a pair
    random.shuffle(rows)
    contrast = paired_by_seed(pd.DataFrame(rows), "top1", "a", "b")
    assert contrast["seeds"] == len(values)
    assert contrast["difference"] == pytest.approx(np.mean([a - b for a, b in values]), abs=1e-9)
    if len(values) >= 2 and np.std([a - b for a, b in values]) > 1e-6:
        assert contrast["ci_low"] <= contrast["difference"] <= contrast["ci_high"]
