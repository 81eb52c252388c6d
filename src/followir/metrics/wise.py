"""WISE (Weighted Instruction Sensitivity Evaluation), InfoSearch's main metric.

For every positive document of a query (relevant under both the og and the instructed qrels), compare its
1-based rank in three runs: ``ori`` (og instruction), ``ins`` (instructed) and ``rev`` (reversed instruction).
Reference: EIT-NLP/InfoSearch ``mteb_infosearch/mteb/evaluation/evaluators/utils.py`` lines 383-401
(``WISE_score``) at commit 25179c1905defcabe51a724bff79dc05bd3d8ae8 (2025-07-03, the repository's newest);
``sum_count`` (line 232) is the query's positive plus negative documents. Line by line:

- lines 386-392, reward, when ``ins <= ori < rev``: 1 if ``ori < sum_count`` and ``ins == 1`` (line 387);
  else ``(1 - sqrt(ori - ins) / 20) * (1 / sqrt(ins))`` if ``ori <= 20`` (line 390); else 0.01 (line 392);
- lines 393-401, otherwise: -1 if ``rev < ori < ins`` (lines 396-397: the instruction pushed it down *and*
  the reversed instruction lifted it); else ``(ori - ins) / ins`` if ``ori <= ins`` (line 399); else
  ``(rev - ori) / ori`` (line 401, where ``rev <= ori``).

An older revision of the same file (commit d0eae634, 2024-10-29) had ``(ori - ins) / 20`` without the square
root and no reachable -1 branch; followir follows the newest one above.

Per query the mean over its positive documents (lines 328-330), then the mean over queries with a positive
document (line 363). The reference ranks a document missing from a run ``len(run) + 1`` (lines 199-208), as
followir does; ties use followir's rule (score, then document id descending) where the reference keeps
insertion order (a stable sort on the score).

>>> wise_document(ori=3, ins=1, rev=5, sum_count=4)
1.0
>>> round(wise_document(ori=5, ins=2, rev=9, sum_count=3), 4)
0.6459
>>> wise_document(ori=2, ins=4, rev=9, sum_count=3)
-0.5
>>> wise_document(ori=3, ins=5, rev=2, sum_count=3)
-1.0
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
            return (1.0 - math.sqrt(ori - ins) / REWARD_DEPTH) * (1.0 / math.sqrt(ins))
        return 0.01
    if rev < ori < ins:
        return -1.0
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
