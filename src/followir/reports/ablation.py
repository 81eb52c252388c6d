"""The instruction-length ablation (the paper's Figure 3) as a report reads it from results files.

The length-ablation analysis writes a top-level ``ablation`` key into results.json::

    {task: {"main_metric": m, "variants": {"none": s, "keywords": s, "short": s, "full": s},
            "delta": {"keywords": d, "short": d, "full": d}, "intervals": {...},
            "per_query": {variant: {qid: value}}}}

Each change against no instruction gets a 95% bootstrap interval over the per-query differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from followir.errors import DataFormatError
from followir.metrics.uncertainty import DEFAULT_RESAMPLES, bootstrap_interval
from followir.reports.collect import ModelRow

VARIANTS = ("none", "keywords", "short", "full")
CHANGES = ("keywords", "short", "full")
VARIANT_LABELS = {"none": "No instruction", "keywords": "Keywords", "short": "Short instruction",
                  "full": "Full instruction"}
SHORT_LABELS = {"none": "None", "keywords": "Keywords", "short": "Short", "full": "Full"}


@dataclass(frozen=True)
class AblationEntry:
    model: str
    task: str
    main_metric: str
    scores: Mapping[str, float]  # variant -> raw score
    deltas: Mapping[str, float]  # change -> raw score difference against "none"
    intervals: Mapping[str, tuple[float, float]]  # change -> interval of the difference (nan when unknown)


def ablation_entries(rows: Sequence[ModelRow], resamples: int = DEFAULT_RESAMPLES) -> list[AblationEntry]:
    """One entry per (model, task) that has an ablation, in row order then task order."""
    out = []
    for row in rows:
        for task, data in row.ablation.items():
            out.append(_entry(row, task, data, resamples))
    return out


def _entry(row: ModelRow, task: str, data: Mapping, resamples: int) -> AblationEntry:
    where = " or ".join(row.sources)
    if not isinstance(data, Mapping) or "variants" not in data:
        raise DataFormatError(where, None, f"the ablation of task {task!r} has no 'variants'",
                              "re-run the length ablation analysis")
    variants = data["variants"]
    missing = [v for v in VARIANTS if v not in variants]
    if missing:
        raise DataFormatError(where, None, f"the ablation of task {task!r} lacks variants {missing}",
                              f"give scores for all of {list(VARIANTS)}")
    scores = {v: float(variants[v]) for v in VARIANTS}
    given = data.get("delta") or {}
    deltas = {c: float(given[c]) if c in given else scores[c] - scores["none"] for c in CHANGES}
    per_query = data.get("per_query") or {}
    intervals = {}
    for change in CHANGES:
        base, other = per_query.get("none"), per_query.get(change)
        if base and other:
            diffs = {q: other[q] - base[q] for q in base if q in other}
            ci = bootstrap_interval(diffs, resamples=resamples)
            intervals[change] = (ci.low, ci.high)
        else:
            intervals[change] = _given_interval(data.get("intervals") or {}, change)
    return AblationEntry(row.label, task, str(data.get("main_metric", "")), scores, deltas, intervals)


def metric_label(metric: str) -> str:
    """``map_cut_1000`` -> ``MAP@1000``; unknown names as they are."""
    from followir.metrics.trec_measures import MEASURES

    return MEASURES[metric].label if metric in MEASURES else metric


def _given_interval(intervals: Mapping, change: str) -> tuple[float, float]:
    """An interval the analysis stored itself, under ``delta.<change>`` or ``<change>``, if any."""
    for key in (f"delta.{change}", f"delta_{change}", change):
        found = intervals.get(key)
        if isinstance(found, Mapping) and "low" in found and "high" in found:
            return float(found["low"]), float(found["high"])
    return math.nan, math.nan
