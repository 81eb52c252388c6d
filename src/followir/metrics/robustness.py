"""Robustness@k for InstructIR-style data: for each base query, the worst nDCG@k over its instructions.

Instruction query ids are grouped by base query (InstructIR writes them ``<qid>_<k>``); the metric is the
mean over base queries of the minimum per-instruction nDCG@k.
"""

from __future__ import annotations

from typing import Callable, Mapping

from followir.metrics.trec_measures import per_query_measures


def base_query_id(instruction_query_id: str) -> str:
    """``'1078446_3'`` -> ``'1078446'`` (ids without an underscore are their own base).

    >>> base_query_id("1078446_3")
    '1078446'
    """
    return instruction_query_id.rsplit("_", 1)[0] if "_" in instruction_query_id else instruction_query_id


def robustness_per_query(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    k: int = 10,
    group: Callable[[str], str] = base_query_id,
) -> dict[str, float]:
    measure = f"ndcg_cut_{k}"
    if k not in (5, 10):
        raise ValueError(f"Robustness@{k} is not available; use k=5 or k=10")
    values = per_query_measures(qrels, run, (measure,))
    worst: dict[str, float] = {}
    for qid, measured in values.items():
        base = group(qid)
        worst[base] = min(worst.get(base, float("inf")), measured[measure])
    return worst


def robustness_at_k(qrels, run, k: int = 10, group: Callable[[str], str] = base_query_id) -> float:
    worst = robustness_per_query(qrels, run, k, group)
    return sum(worst.values()) / len(worst) if worst else float("nan")
