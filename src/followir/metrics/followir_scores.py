"""All FollowIR scores for one pair of runs: p-MRR, trec_eval measures for og and changed, intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from followir.metrics.pmrr import p_mrr_per_query
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

    @property
    def main_score(self) -> float:
        """The paper's standard score: the og run against the og qrels with the task's main metric."""
        return self.og[self.main_metric]

    def to_dict(self, per_query: bool = True) -> dict:
        out: dict = {
            "main_metric": self.main_metric,
            "main_score": self.main_score,
            "p-MRR": self.p_mrr,
            "og": dict(self.og),
            "changed": dict(self.changed),
            "intervals": {k: v.to_dict() for k, v in self.intervals.items()},
        }
        if per_query:
            out["per_query"] = {
                "og": {q: dict(v) for q, v in self.per_query_og.items()},
                "changed": {q: dict(v) for q, v in self.per_query_changed.items()},
                "p-MRR": dict(self.per_query_p_mrr),
            }
        return out


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
    intervals = {
        "main_score": bootstrap_interval({q: v[main_metric] for q, v in pq_og.items()}, resamples=resamples),
        "p-MRR": bootstrap_interval(pq_pmrr, resamples=resamples),
    }
    for m in measures:
        intervals[f"og.{m}"] = bootstrap_interval({q: v[m] for q, v in pq_og.items()}, resamples=resamples)
        intervals[f"changed.{m}"] = bootstrap_interval({q: v[m] for q, v in pq_changed.items()},
                                                       resamples=resamples)
    return FollowIRScores(main_metric, pmrr, mean_measures(pq_og, measures), mean_measures(pq_changed, measures),
                          pq_og, pq_changed, pq_pmrr, intervals)
