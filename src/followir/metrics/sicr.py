"""SICR (Strict Instruction Compliance Ratio), InfoSearch's strict metric.

A positive document (relevant under both the og and the instructed qrels) complies when the instructed run
lifts it and the reversed run sinks it, in rank *and* in score. Reference: EIT-NLP/InfoSearch
``mteb_infosearch/mteb/evaluation/evaluators/utils.py`` lines 418-455 (``SICR_score``) at commit 25179c19,
and the paper's equations 4-5 (arXiv 2410.23841):

- ``ori > 1``: ``ins < ori < rev`` and ``S_ins > S_ori > S_rev``;
- ``ori == 1`` (it cannot rise): ``ins == 1``, ``rev > 1`` and ``S_ins >= S_ori > S_rev``.

Per query the share of its positive documents that comply, then the mean over queries with a positive
document. With one positive per query (the paper's setting) this is exactly equation 5. The reference code
resets its counter inside the loop over positives (line 433), so with several positives it counts only the last
one (divided by their number); followir averages them all, as the paper's definition reads.

>>> sicr_document(ori=(3, 0.5), ins=(1, 0.9), rev=(7, 0.1))
1.0
>>> sicr_document(ori=(1, 0.5), ins=(1, 0.5), rev=(2, 0.4))
1.0
>>> sicr_document(ori=(3, 0.5), ins=(1, 0.4), rev=(7, 0.1))
0.0
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from followir.metrics.pmrr import ranks


def sicr_document(ori: tuple[int, float], ins: tuple[int, float], rev: tuple[int, float]) -> float:
    """1.0 when one positive document complies strictly, else 0.0; each argument is ``(rank, score)``."""
    (r_ori, s_ori), (r_ins, s_ins), (r_rev, s_rev) = ori, ins, rev
    if r_ori > 1:
        ok = r_ori > r_ins and r_rev > r_ori and s_ins > s_ori and s_ori > s_rev
    else:
        ok = r_ins == 1 and r_rev > r_ori and s_ins >= s_ori and s_ori > s_rev
    return 1.0 if ok else 0.0


def _rank_score(scores: Mapping[str, float]):
    table = ranks(scores)
    absent = len(scores) + 1
    return lambda doc: (table.get(doc, absent), float(scores.get(doc, 0.0)))


def sicr_per_query(run_ori: Mapping[str, Mapping[str, float]], run_ins: Mapping[str, Mapping[str, float]],
                   run_rev: Mapping[str, Mapping[str, float]],
                   positives: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Share of each query's positive documents that comply, for queries that have one."""
    out: dict[str, float] = {}
    for qid in sorted(positives):
        docs = sorted(positives[qid])
        if not docs:
            continue
        o, i, r = (_rank_score(run.get(qid, {})) for run in (run_ori, run_ins, run_rev))
        out[qid] = math.fsum(sicr_document(o(d), i(d), r(d)) for d in docs) / len(docs)
    return out
