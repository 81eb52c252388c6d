"""All FollowIR scores for one pair of runs: p-MRR, trec_eval measures for og and changed, intervals.

``to_dict`` is strict JSON: an undefined value (``nan`` in memory) is ``null``, with the reason in
``undefined``; queries p-MRR leaves out are counted in ``p-MRR_skipped``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from followir.metrics.pmrr import p_mrr_per_query, skipped_queries
from followir.metrics.trec_measures import DEFAULT_MEASURES, mean_measures, per_query_measures
from followir.metrics.uncertainty import Interval, bootstrap_interval


@dataclass(frozen=True)
class FollowIRScores:
    """Scores in raw units (p-MRR in [-1, 1], the others in [0, 1])."""

    main_metric: str
    p_mrr: float
    og: Mapping[str, float]
    changed: Mapping[str, float]
    per_query_og: Mapping[str, Mapping[str, float]]
    per_query_changed: Mapping[str, Mapping[str, float]]
    per_query_p_mrr: Mapping[str, float]
    intervals: Mapping[str, Interval] = field(default_factory=dict)
    p_mrr_skipped: tuple[str, ...] = ()  # queries with changed documents not ranked in both runs
    undefined: Mapping[str, str] = field(default_factory=dict)  # "p-MRR", "og", "changed" -> why nan

    @property
    def main_score(self) -> float:
        """The paper's standard score: the og run against the og qrels with the task's main metric."""
        return self.og[self.main_metric]

    def to_dict(self, per_query: bool = True) -> dict:
        """Strict-JSON-ready: undefined values are ``None`` and ``undefined`` says why."""
        out: dict = {
            "main_metric": self.main_metric,
            "main_score": finite_or_none(self.main_score),
            "p-MRR": finite_or_none(self.p_mrr),
            "p-MRR_skipped": {"count": len(self.p_mrr_skipped), "queries": list(self.p_mrr_skipped),
                              "reason": SKIPPED_REASON},
            "og": {k: finite_or_none(v) for k, v in self.og.items()},
            "changed": {k: finite_or_none(v) for k, v in self.changed.items()},
            "intervals": {k: {m: finite_or_none(x) for m, x in v.to_dict().items()}
                          for k, v in self.intervals.items()},
            "undefined": dict(self.undefined),
        }
        if per_query:
            out["per_query"] = {
                "og": {q: dict(v) for q, v in self.per_query_og.items()},
                "changed": {q: dict(v) for q, v in self.per_query_changed.items()},
                "p-MRR": dict(self.per_query_p_mrr),
            }
        return out


SKIPPED_REASON = "ranked in only one of the two runs, or in neither"


def finite_or_none(value: float) -> float | None:
    """``value``, or ``None`` when it is nan or infinite (strict JSON has no such numbers)."""
    return value if math.isfinite(value) else None


def score_followir(
    qrels_og: Mapping[str, Mapping[str, int]],
    qrels_changed: Mapping[str, Mapping[str, int]],
    run_og: Mapping[str, Mapping[str, float]],
    run_changed: Mapping[str, Mapping[str, float]],
    changed_documents: Mapping[str, frozenset[str] | set[str] | list[str]],
    main_metric: str = "map_cut_1000",
    measures: tuple[str, ...] = DEFAULT_MEASURES,
    resamples: int = 10_000,
) -> FollowIRScores:
    if main_metric not in measures:
        raise ValueError(f"main metric {main_metric!r} is not among the measures {measures}")
    pq_og = per_query_measures(qrels_og, run_og, measures)
    pq_changed = per_query_measures(qrels_changed, run_changed, measures)
    pq_pmrr = p_mrr_per_query(run_og, run_changed, changed_documents)
    pmrr = sum(pq_pmrr.values()) / len(pq_pmrr) if pq_pmrr else float("nan")
    undefined: dict[str, str] = {}
    if not pq_pmrr:
        undefined["p-MRR"] = ("no query has a changed document (a document relevant under the og qrels and not "
                              "under the changed qrels)" if not any(changed_documents.values()) else
                              "no query with a changed document is ranked in both runs")
    for variant, values in (("og", pq_og), ("changed", pq_changed)):
        if not values:
            undefined[variant] = (f"the {variant} qrels have no relevant document, so every {variant}-run "
                                  "measure is undefined")
    intervals = {
        "main_score": bootstrap_interval({q: v[main_metric] for q, v in pq_og.items()}, resamples=resamples),
        "p-MRR": bootstrap_interval(pq_pmrr, resamples=resamples),
    }
    for m in measures:
        intervals[f"og.{m}"] = bootstrap_interval({q: v[m] for q, v in pq_og.items()}, resamples=resamples)
        intervals[f"changed.{m}"] = bootstrap_interval({q: v[m] for q, v in pq_changed.items()},
                                                       resamples=resamples)
    return FollowIRScores(main_metric, pmrr, mean_measures(pq_og, measures), mean_measures(pq_changed, measures),
                          pq_og, pq_changed, pq_pmrr, intervals,
                          tuple(skipped_queries(run_og, run_changed, changed_documents)), undefined)
