"""p-MRR, the FollowIR paper's pairwise instruction-following metric (its equation 1).

For every document whose relevance the changed instruction removes, compare its 1-based rank under the
og instruction (``R_og``) with its rank under the changed one (``R_new``)::

    RR_og / RR_new - 1    if R_og >= R_new   (it rose or stayed: bad, in [-1, 0])
    1 - RR_new / RR_og    otherwise          (it fell: good, in (0, 1))

Scores are averaged within a query, then over queries (queries with no changed documents are left out).
Ranks break score ties by document id, descending, so input order never matters; a document missing
from a run ranks ``len(run) + 1``.
"""

from __future__ import annotations

from typing import Mapping

from followir.records import rank_documents


def rank_change_score(og_rank: int, new_rank: int) -> float:
    """Per-document p-MRR term.

    >>> rank_change_score(4, 1)
    -0.75
    >>> rank_change_score(1, 4)
    0.75
    >>> rank_change_score(3, 3)
    0.0
    """
    if og_rank >= new_rank:
        return (1.0 / og_rank) / (1.0 / new_rank) - 1.0
    return 1.0 - (1.0 / new_rank) / (1.0 / og_rank)


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1-based rank of every document (ties by document id, descending)."""
    return {doc: i for i, doc in enumerate(rank_documents(scores), start=1)}


def p_mrr_per_query(
    run_og: Mapping[str, Mapping[str, float]],
    run_changed: Mapping[str, Mapping[str, float]],
    changed_documents: Mapping[str, frozenset[str] | set[str] | list[str]],
) -> dict[str, float]:
    """p-MRR of each query that has at least one changed document."""
    out: dict[str, float] = {}
    for qid, docs in changed_documents.items():
        if not docs:
            continue
        og_scores = run_og.get(qid, {})
        new_scores = run_changed.get(qid, {})
        og_ranks, new_ranks = ranks(og_scores), ranks(new_scores)
        og_absent, new_absent = len(og_scores) + 1, len(new_scores) + 1
        terms = [rank_change_score(og_ranks.get(d, og_absent), new_ranks.get(d, new_absent)) for d in docs]
        out[qid] = sum(terms) / len(terms)
    return out


def p_mrr(
    run_og: Mapping[str, Mapping[str, float]],
    run_changed: Mapping[str, Mapping[str, float]],
    changed_documents: Mapping[str, frozenset[str] | set[str] | list[str]],
) -> float:
    """Macro-averaged p-MRR in [-1, 1]; ``nan`` when no query has a changed document."""
    per_query = p_mrr_per_query(run_og, run_changed, changed_documents)
    return sum(per_query.values()) / len(per_query) if per_query else float("nan")
