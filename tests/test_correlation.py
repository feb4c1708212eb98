"""Spearman's rho and its bootstrap intervals on constructed data."""

import numpy as np
import pytest

from mobilerepro.measure.stats import paired_difference_ci, spearman, spearman_with_ci


def test_hand_computed_rho():
    # rank differences (-1, 1, -1, 1, 0): rho = 1 - 6 * 4 / (5 * 24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)


def test_monotone_transform_gives_one_and_reversal_minus_one():
    x = np.arange(1, 20, dtype=float)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert spearman(x, -(x**3)) == pytest.approx(-1.0)


def test_ties_use_average_ranks():
    # y ranks (1.5, 1.5, 3, 4) against x ranks (1, 2, 3, 4): Pearson of the ranks
    ranks_y = np.array([1.5, 1.5, 3, 4])
    expected = np.corrcoef(np.arange(1, 5), ranks_y)[0, 1]
    assert spearman([1, 2, 3, 4], [7, 7, 8, 9]) == pytest.approx(expected)


def test_constant_variable_is_undefined():
    assert np.isnan(spearman([1, 2, 3], [4, 4, 4]))


def test_bootstrap_of_perfect_ranking_is_degenerate_at_one():
    x = np.arange(30, dtype=float)
    corr = spearman_with_ci(x, x**2, resamples=300, seed=1)
    assert (corr.rho, corr.ci_low, corr.ci_high) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))


def test_bootstrap_is_deterministic_and_brackets_rho():
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = x + rng.normal(scale=1.0, size=40)
    a = spearman_with_ci(x, y, resamples=500, seed=7)
    b = spearman_with_ci(x, y, resamples=500, seed=7)
    assert a == b
    assert a.ci_low < a.rho < a.ci_high
    assert 0 < a.ci_low and a.ci_high < 1


def test_bootstrap_of_an_unranked_relation_contains_zero():
    # a symmetric U-shape: latency rises on both sides, so the rank correlation is exactly 0
    x = np.arange(-100, 101)
    corr = spearman_with_ci(x, x**2, resamples=500)
    assert corr.rho == pytest.approx(0.0, abs=1e-12)
    assert corr.ci_low < 0 < corr.ci_high
    assert corr.ci_high - corr.ci_low < 0.4


def test_paired_difference_detects_the_better_predictor():
    rng = np.random.default_rng(5)
    latency = rng.uniform(1, 10, size=50)
    good = latency + rng.normal(scale=0.3, size=50)
    poor = rng.uniform(1, 10, size=50)
    diff, low, high = paired_difference_ci(latency, good, poor, resamples=500)
    assert low > 0 and diff > 0.5


def test_too_few_pairs_is_an_error():
    with pytest.raises(ValueError, match="at least 3"):
        spearman_with_ci([1, 2], [3, 4])
