"""Statistics for latency samples and rank correlations.

Latency protocols differ between papers: MobileOne reports the **minimum** of 1000 runs on the phone and the
**median** of 100 runs on the GPU (§3.5). We keep every sample's summary so that either can be read off, plus the
spread needed to judge whether a ranking is trustworthy on a noisy machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class LatencySummary:
    """Summary of n latency samples in milliseconds."""

    n: int
    min: float
    median: float
    mean: float
    p10: float
    p90: float
    iqr: float
    cv: float

    @property
    def relative_iqr(self) -> float:
        """IQR / median: the spread that decides whether two medians can be ranked."""
        return self.iqr / self.median if self.median > 0 else float("inf")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def summarize(samples_ms) -> LatencySummary:
    """Summarise latency samples (ms). Percentiles use linear interpolation (numpy's default).

    The coefficient of variation uses the sample standard deviation (ddof=1); it is 0 for a single sample.
    """
    values = np.asarray(samples_ms, dtype=float)
    if values.size == 0:
        raise ValueError("no latency samples to summarise")
    if not np.all(np.isfinite(values)):
        raise ValueError("latency samples must be finite")
    q10, q25, q50, q75, q90 = np.percentile(values, [10, 25, 50, 75, 90])
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return LatencySummary(
        n=int(values.size),
        min=float(values.min()),
        median=float(q50),
        mean=mean,
        p10=float(q10),
        p90=float(q90),
        iqr=float(q75 - q25),
        cv=std / mean if mean > 0 else 0.0,
    )


def median_of_round_means(samples_ms, rounds: int) -> float:
    """MobileNetV4's statistic (App. B): the mean of each round's runs, then the median of those means. The samples
    are in time order, `rounds` equal rounds of them."""
    values = np.asarray(samples_ms, dtype=float)
    if rounds < 1 or values.size == 0 or values.size % rounds:
        raise ValueError(f"{values.size} samples do not split into {rounds} equal rounds")
    return float(np.median(values.reshape(rounds, -1).mean(axis=1)))


@dataclass(frozen=True)
class Correlation:
    """A Spearman rank correlation with its percentile bootstrap confidence interval."""

    rho: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float
    resamples: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def spearman(x, y) -> float:
    """Spearman's rho (ties get average ranks); nan when either variable is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in shape: {x.shape} vs {y.shape}")
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(sps.spearmanr(x, y).statistic)


def spearman_with_ci(
    x, y, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Correlation:
    """Spearman's rho with a percentile bootstrap CI over the (x, y) pairs.

    Pairs are resampled with replacement; resamples in which a variable is constant (rho undefined) are dropped.
    The same seed always gives the same interval.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    if n < 3:
        raise ValueError(f"need at least 3 pairs for a rank correlation, got {n}")
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(resamples, n))
    boot = np.array([spearman(x[i], y[i]) for i in indices])
    boot = boot[np.isfinite(boot)]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha]) if boot.size else (float("nan"), float("nan"))
    return Correlation(
        rho=spearman(x, y),
        ci_low=float(low),
        ci_high=float(high),
        n=int(n),
        confidence=confidence,
        resamples=int(boot.size),
    )


def paired_difference_ci(
    x, y1, y2, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """rho(x, y1) - rho(x, y2) with a paired bootstrap CI (the same resampled models for both).

    Answers "does latency rank with MACs better than with params?" without treating the two
    correlations as independent.
    """
    x, y1, y2 = (np.asarray(v, dtype=float) for v in (x, y1, y2))
    n = x.size
    rng = np.random.default_rng(seed)
    diffs = []
    for i in rng.integers(0, n, size=(resamples, n)):
        d = spearman(x[i], y1[i]) - spearman(x[i], y2[i])
        if np.isfinite(d):
            diffs.append(d)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha]) if diffs else (float("nan"), float("nan"))
    return spearman(x, y1) - spearman(x, y2), float(low), float(high)


def mean_with_ci(values, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of `values` with a Student-t confidence interval (NaN bounds for fewer than two values).

    For paired differences across seeds: the t interval is honest about how little two or three seeds say.
    """
    from scipy import stats as scipy_stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if values.size else float("nan")
    if values.size < 2:
        return mean, float("nan"), float("nan")
    half = scipy_stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return mean, mean - float(half), mean + float(half)


def paired_by_seed(frame, metric: str, first: str, second: str) -> dict:
    """`first` minus `second` on `metric`, paired by seed (the same seed: the same initialisation and data order),
    from a frame of runs with `seed` and `arm` columns: the mean difference, its Student-t 95 % interval, the number
    of seeds both arms have, and the one-sample t-test p-value."""
    by_arm = frame.pivot_table(index="seed", columns="arm", values=metric)
    differences = (by_arm[first] - by_arm[second]).dropna().to_numpy()
    mean, low, high = mean_with_ci(differences)
    return {"seeds": len(differences), "difference": mean, "ci_low": low, "ci_high": high,
            "p_value": t_test_p(differences)}


def t_test_p(values) -> float:
    """Two-sided one-sample t-test p-value against a mean of zero (NaN for fewer than two values; 0 or 1 when the
    values do not vary)."""
    from scipy import stats as scipy_stats

    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float("nan")
    if values.std(ddof=1) == 0:
        return 0.0 if values.mean() != 0 else 1.0
    return float(scipy_stats.ttest_1samp(values, 0.0).pvalue)


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (e.g. an accuracy over n images), as fractions."""
    from scipy import stats as scipy_stats

    if n == 0:
        return float("nan"), float("nan")
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At 0 or n successes the bound is exactly 0 or 1; the formula leaves a rounding residue there.
    low = 0.0 if successes == 0 else max(float(centre - half), 0.0)
    high = 1.0 if successes == n else min(float(centre + half), 1.0)
    return low, high
