"""trec_eval measures through pytrec_eval: MAP@1000, nDCG@5/10/20, MRR, Recall@k, P@k.

The arithmetic is trec_eval's own (pytrec_eval binds its C code); this module only names the
measures, runs the evaluator and averages. Queries in the qrels that have relevant documents but no
ranking count as 0, like ``trec_eval -c``, so a model cannot gain by skipping queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from followir.errors import MissingDependencyError


@dataclass(frozen=True)
class Measure:
    """One trec_eval measure: ``key`` is pytrec_eval's result key, ``label`` the name tables show."""

    key: str
    label: str
    description: str


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure("map", "MAP", "mean average precision over the whole ranking"),
        Measure("map_cut_1000", "MAP@1000", "mean average precision over the top 1000"),
        Measure("ndcg_cut_5", "nDCG@5", "normalised discounted cumulative gain at 5"),
        Measure("ndcg_cut_10", "nDCG@10", "normalised discounted cumulative gain at 10"),
        Measure("ndcg_cut_20", "nDCG@20", "normalised discounted cumulative gain at 20 (mFollowIR, IFIR)"),
        Measure("recip_rank", "MRR", "reciprocal rank of the first relevant document"),
        Measure("P_5", "P@5", "precision at 5"),
        Measure("P_10", "P@10", "precision at 10"),
        Measure("recall_10", "R@10", "recall at 10"),
        Measure("recall_100", "R@100", "recall at 100"),
        Measure("recall_1000", "R@1000", "recall at 1000"),
    )
}
DEFAULT_MEASURES = tuple(MEASURES)
_TREC_EVAL_NAMES = {"map", "map_cut.1000", "ndcg_cut.5,10,20", "recip_rank", "P.5,10", "recall.10,100,1000"}


def _pytrec_eval():
    try:
        import pytrec_eval
    except ImportError:  # pragma: no cover - it is a core dependency
        raise MissingDependencyError("pytrec_eval is missing: pip install pytrec-eval-terrier") from None
    return pytrec_eval


def per_query_measures(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    measures: tuple[str, ...] = DEFAULT_MEASURES,
) -> dict[str, dict[str, float]]:
    """Per-query values for every query of ``qrels`` that has a relevant document."""
    pytrec_eval = _pytrec_eval()
    judged = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()
              if any(r > 0 for r in docs.values())}
    ranked = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judged and docs}
    evaluator = pytrec_eval.RelevanceEvaluator(judged, _TREC_EVAL_NAMES)
    computed = evaluator.evaluate(ranked) if ranked else {}
    out: dict[str, dict[str, float]] = {}
    for qid in judged:
        values = computed.get(qid, {})
        out[qid] = {m: float(values.get(m, 0.0)) for m in measures}
    return out


def mean_measures(per_query: Mapping[str, Mapping[str, float]],
                  measures: tuple[str, ...] = DEFAULT_MEASURES) -> dict[str, float]:
    if not per_query:
        return {m: float("nan") for m in measures}
    return {m: sum(v[m] for v in per_query.values()) / len(per_query) for m in measures}
