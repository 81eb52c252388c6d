"""p-MRR, the FollowIR paper's pairwise instruction-following metric (its equation 1).

For every document whose relevance the changed instruction removes, compare its 1-based rank under the
og instruction (``R_og``) with its rank under the changed one (``R_new``)::

    RR_og / RR_new - 1    if R_og >= R_new   (it rose or stayed: bad, in [-1, 0])
    1 - RR_new / RR_og    otherwise          (it fell: good, in (0, 1))

Scores are averaged within a query, then over queries (queries with no changed documents are left out).
Ranks break score ties by document id, descending, so input order never matters; a document missing
from a run that ranks its query ranks ``len(run) + 1``. A query ranked in only one of the two runs (or in
neither) has no p-MRR: it is left out, as MTEB does, with one warning that counts such queries.
Sums run in sorted order, so results do not depend on ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import logging
from typing import Mapping

from followir.records import rank_documents

log = logging.getLogger(__name__)


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
    """p-MRR of each query that has a changed document and a ranking in both runs (one warning counts
    the queries left out for lack of a ranking)."""
    out: dict[str, float] = {}
    skipped = skipped_queries(run_og, run_changed, changed_documents)
    if skipped:
        log.warning("p-MRR leaves out %d %s ranked in only one of the two runs, or in neither (as MTEB does): "
                    "%s", len(skipped), "query" if len(skipped) == 1 else "queries", ", ".join(skipped[:10])
                    + (", ..." if len(skipped) > 10 else ""))
    for qid, docs in changed_documents.items():
        if not docs or qid in skipped:
            continue
        og_scores, new_scores = run_og[qid], run_changed[qid]
        og_ranks, new_ranks = ranks(og_scores), ranks(new_scores)
        og_absent, new_absent = len(og_scores) + 1, len(new_scores) + 1
        terms = [rank_change_score(og_ranks.get(d, og_absent), new_ranks.get(d, new_absent)) for d in sorted(docs)]
        out[qid] = sum(terms) / len(terms)
    return out


def skipped_queries(
    run_og: Mapping[str, Mapping[str, float]],
    run_changed: Mapping[str, Mapping[str, float]],
    changed_documents: Mapping[str, frozenset[str] | set[str] | list[str]],
) -> list[str]:
    """Queries with changed documents that p-MRR leaves out: not ranked in both runs (sorted)."""
    return sorted(q for q, docs in changed_documents.items() if docs and not (run_og.get(q) and run_changed.get(q)))


def p_mrr(
    run_og: Mapping[str, Mapping[str, float]],
    run_changed: Mapping[str, Mapping[str, float]],
    changed_documents: Mapping[str, frozenset[str] | set[str] | list[str]],
) -> float:
    """Macro-averaged p-MRR in [-1, 1]; ``nan`` when no query has a changed document."""
    per_query = p_mrr_per_query(run_og, run_changed, changed_documents)
    return sum(per_query.values()) / len(per_query) if per_query else float("nan")
