"""WISE (Weighted Instruction Sensitivity Evaluation), InfoSearch's main metric.

For every positive document of a query (relevant under both the og and the instructed qrels), compare its
1-based rank in three runs: ``ori`` (og instruction), ``ins`` (instructed) and ``rev`` (reversed instruction).
Reference: EIT-NLP/InfoSearch ``mteb_infosearch/mteb/evaluation/evaluators/utils.py`` lines 383-401
(``WISE_score``) at commit 25179c19; ``sum_count`` (line 232) is the query's positive plus negative documents:

- reward, when ``ins <= ori < rev``: 1 if ``ins == 1`` and ``ori < sum_count``; else
  ``(1 - (ori - ins) / 20) / sqrt(ins)`` if ``ori <= 20``; else 0.01;
- penalty otherwise: ``(ori - ins) / ins`` if ``ori <= ins``; else ``(rev - ori) / ori`` (then ``rev <= ori``).

Per query the mean over its positive documents, then the mean over queries with a positive document
(lines 349-351). Ranks use followir's tie rule (score, then document id descending) where the reference keeps
insertion order; a document missing from a run ranks ``len(run) + 1`` in both.

>>> wise_document(ori=3, ins=1, rev=5, sum_count=4)
1.0
>>> round(wise_document(ori=5, ins=2, rev=9, sum_count=3), 4)
0.601
>>> wise_document(ori=2, ins=4, rev=9, sum_count=3)
-0.5
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from followir.metrics.pmrr import ranks

REWARD_DEPTH = 20


def wise_document(ori: int, ins: int, rev: int, sum_count: int) -> float:
    """WISE of one positive document from its ranks under the og, instructed and reversed instructions."""
    if ins <= ori < rev:
        if ori < sum_count and ins == 1:
            return 1.0
        if ori <= REWARD_DEPTH:
            return (1.0 - (ori - ins) / REWARD_DEPTH) * (1.0 / math.sqrt(ins))
        return 0.01
    if ori <= ins:
        return (ori - ins) / ins
    return (rev - ori) / ori  # here rev <= ori


def rank_lookup(scores: Mapping[str, float]):
    """``doc -> 1-based rank`` of one query's ranking; a document it lacks ranks ``len(scores) + 1``."""
    table = ranks(scores)
    absent = len(scores) + 1
    return lambda doc: table.get(doc, absent)


def wise_per_query(run_ori: Mapping[str, Mapping[str, float]], run_ins: Mapping[str, Mapping[str, float]],
                   run_rev: Mapping[str, Mapping[str, float]], positives: Mapping[str, Sequence[str]],
                   negatives: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Mean WISE over each query's positive documents, for queries that have one."""
    out: dict[str, float] = {}
    for qid in sorted(positives):
        docs = list(positives[qid])
        if not docs:
            continue
        sum_count = len(docs) + len(negatives.get(qid, ()))
        r_ori, r_ins, r_rev = (rank_lookup(run.get(qid, {})) for run in (run_ori, run_ins, run_rev))
        values = [wise_document(r_ori(d), r_ins(d), r_rev(d), sum_count) for d in sorted(docs)]
        out[qid] = math.fsum(values) / len(values)
    return out
