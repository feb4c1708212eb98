"""Latency statistics against hand-computed values."""

import math

import pytest

from mobilerepro.measure.stats import summarize


def test_summary_of_one_to_five():
    s = summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.n, s.min, s.median, s.mean) == (5, 1.0, 3.0, 3.0)
    # numpy's linear interpolation: position (n-1)*q -> 0.4 and 3.6
    assert s.p10 == pytest.approx(1.4)
    assert s.p90 == pytest.approx(4.6)
    assert s.iqr == pytest.approx(4.0 - 2.0)
    assert s.cv == pytest.approx(math.sqrt(2.5) / 3.0)
    assert s.relative_iqr == pytest.approx(2.0 / 3.0)


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
