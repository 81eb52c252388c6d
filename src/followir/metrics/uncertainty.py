"""How sure is a score? Bootstrap confidence intervals over queries and paired significance tests.

FollowIR sets have 20 to 52 topics, so differences of a point or two are often noise. Everything here
resamples *queries* (the unit the benchmark samples), with a fixed seed so reports are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    level: float = 0.95

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "level": self.level}


def bootstrap_interval(values: Mapping[str, float] | list[float], level: float = 0.95,
                       resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> Interval:
    """Percentile bootstrap interval of the mean over queries."""
    data = np.asarray(list(values.values()) if isinstance(values, Mapping) else values, dtype=float)
    if data.size == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, level)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(data.mean()), float(low), float(high), level)


@dataclass(frozen=True)
class PairedTest:
    """A paired test of system A against system B over the queries both were scored on."""

    mean_a: float
    mean_b: float
    difference: float  # mean(A - B)
    p_value: float
    queries: int
    method: str = "paired randomization (sign-flip), two-sided"

    def to_dict(self) -> dict[str, float | int | str]:
        return {"mean_a": self.mean_a, "mean_b": self.mean_b, "difference": self.difference,
                "p_value": self.p_value, "queries": self.queries, "method": self.method}


def paired_randomization_test(a: Mapping[str, float], b: Mapping[str, float],
                              resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> PairedTest:
    """Two-sided paired randomization test: randomly swap A and B per query and see how often the
    absolute mean difference is at least the observed one. The p-value includes the observed
    assignment, so it is never 0.
    """
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError("the two systems share no query; were they run on the same task?")
    diffs = np.array([a[q] - b[q] for q in common], dtype=float)
    observed = abs(diffs.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, diffs.size))
    permuted = np.abs((signs * diffs).mean(axis=1))
    p_value = (1 + int(np.sum(permuted >= observed - 1e-12))) / (resamples + 1)
    return PairedTest(float(np.mean([a[q] for q in common])), float(np.mean([b[q] for q in common])),
                      float(diffs.mean()), float(p_value), len(common))
