"""Agreement between two sets of binary judgements: Cohen's kappa and raw agreement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Agreement:
    items: int
    agreement: float  # observed proportion of equal labels
    kappa: float      # Cohen's kappa; nan when undefined (no items, or chance agreement is 1)


def cohen_kappa(a: Mapping, b: Mapping) -> Agreement:
    """Kappa over the keys both judged: (p_o - p_e) / (1 - p_e), p_e from each side's label proportions.

    >>> round(cohen_kappa({1: 1, 2: 1, 3: 0, 4: 0}, {1: 1, 2: 0, 3: 0, 4: 0}).kappa, 4)
    0.5
    """
    keys = [k for k in a if k in b]
    n = len(keys)
    if not n:
        return Agreement(0, float("nan"), float("nan"))
    x = [1 if a[k] > 0 else 0 for k in keys]
    y = [1 if b[k] > 0 else 0 for k in keys]
    observed = sum(1 for i, j in zip(x, y) if i == j) / n
    pa, pb = sum(x) / n, sum(y) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    kappa = float("nan") if expected == 1 else (observed - expected) / (1 - expected)
    return Agreement(n, observed, kappa)
