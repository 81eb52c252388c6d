"""NevIR's paired accuracy: a pair of queries (one negates the other, each with its own document) counts only
when *both* queries rank their own document first.

A model that always prefers one of the two passages gets every pair half right and scores 0 here, which is why
NevIR (Weller et al., 2023) scores pairs. Reference: embeddings-benchmark/mteb
``mteb/_evaluators/retrieval_metrics.py`` ``paired_accuracy`` (lines 369-402 at commit a905523d): queries
``<key>_q1`` and ``<key>_q2`` form a pair, and a query is right when its recall@1 is 1 (its one relevant
document is ranked first); and orionw/NevIR ``src/negations/evaluate.py`` line 159 (``score == 1.0``).
Ties break by document id, descending, as trec_eval (and so MTEB's recall@1) does.

>>> query_correct({"d1": 0.9, "d2": 0.1}, {"d1": 1, "d2": 0})
True
>>> pairs_of(["7_q1", "7_q2", "8_q1", "8_q2"])
{'7': ('7_q1', '7_q2'), '8': ('8_q1', '8_q2')}
"""

from __future__ import annotations

from typing import Iterable, Mapping

from followir.records import rank_documents

PAIR_SUFFIXES = ("_q1", "_q2")


def query_correct(scores: Mapping[str, float], judgements: Mapping[str, int]) -> bool:
    """True when the query's only relevant document is ranked first (recall@1 == 1)."""
    relevant = {d for d, r in judgements.items() if r > 0}
    ranking = rank_documents(scores)
    return len(relevant) == 1 and bool(ranking) and ranking[0] in relevant


def pairs_of(query_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Group ``<key>_q1``/``<key>_q2`` ids by key; raises ``ValueError`` naming an id without its partner."""
    found: dict[str, dict[str, str]] = {}
    for qid in query_ids:
        for suffix in PAIR_SUFFIXES:
            if qid.endswith(suffix):
                found.setdefault(qid[: -len(suffix)], {})[suffix] = qid
                break
        else:
            raise ValueError(f"query id {qid!r} ends in neither '_q1' nor '_q2'; NevIR pairs queries as "
                             "'<key>_q1' and '<key>_q2'")
    out = {}
    for key, members in sorted(found.items()):
        if len(members) != 2:
            have = next(iter(members.values()))
            raise ValueError(f"query {have!r} has no partner; give every pair both '{key}_q1' and '{key}_q2'")
        out[key] = (members["_q1"], members["_q2"])
    return out


def paired_accuracy_per_pair(run: Mapping[str, Mapping[str, float]],
                             qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """1.0 or 0.0 per pair key, over the pairs of the queries in ``qrels``."""
    return {key: 1.0 if all(query_correct(run.get(q, {}), qrels[q]) for q in pair) else 0.0
            for key, pair in pairs_of(qrels).items()}


def paired_accuracy(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]) -> float:
    """Share of pairs whose two queries both rank their own document first; ``nan`` without pairs."""
    per_pair = paired_accuracy_per_pair(run, qrels)
    return sum(per_pair.values()) / len(per_pair) if per_pair else float("nan")
