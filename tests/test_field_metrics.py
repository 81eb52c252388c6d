"""The field's metrics against their references, on cases worked out by hand from each published definition.

- WISE and SICR: EIT-NLP/InfoSearch ``mteb_infosearch/mteb/evaluation/evaluators/utils.py`` lines 383-401 and
  418-455 (commit 25179c1905defcabe51a724bff79dc05bd3d8ae8), values worked out by hand in comments;
- paired accuracy: embeddings-benchmark/mteb ``mteb/_evaluators/retrieval_metrics.py`` ``paired_accuracy``
  and orionw/NevIR ``src/negations/evaluate.py``;
- MTEB's own values for paired accuracy, p-MRR, nDCG@20 and Robustness@10 on this file's inputs are frozen
  below (``MTEB_FROZEN``) and always checked; ``test_matches_live_mteb`` recomputes them with MTEB when it is
  installed (it is not in CI);
- IFIR nDCG@20: trec_eval's ``ndcg_cut.20`` per instruction, averaged per level as SighingSnow/IFIR
  ``src/offline_ndcg.py`` lines 60-75 does.
"""

from __future__ import annotations

import math

import pytest

from followir.metrics.ifir_levels import mean_by_level, ndcg20_per_instruction
from followir.metrics.paired_accuracy import paired_accuracy, paired_accuracy_per_pair, pairs_of, query_correct
from followir.metrics.pmrr import p_mrr, p_mrr_per_query
from followir.metrics.robustness import robustness_at_k
from followir.metrics.sicr import sicr_document, sicr_per_query
from followir.metrics.wise import wise_document, wise_per_query


# Every value below is worked out by hand from the reference (InfoSearch utils.py lines 383-401, commit 25179c19):
#   reward   (ins <= ori < rev): 1 if ori < sum_count and ins == 1 (l. 387);
#            else (1 - sqrt(ori - ins) / 20) * (1 / sqrt(ins)) if ori <= 20 (l. 390); else 0.01 (l. 392)
#   otherwise: -1 if rev < ori < ins (l. 396); else (ori - ins) / ins if ori <= ins (l. 399);
#            else (rev - ori) / ori (l. 401)
# The cases marked "old" gave a different value under followir's earlier formula (no sqrt, no -1 branch).
@pytest.mark.parametrize("ori, ins, rev, count, expected", [
    # reward, l. 387: 1 <= 3 < 5, ori 3 < sum_count 4 and ins == 1 -> 1
    (3, 1, 5, 4, 1.0),
    # reward, l. 390: ori 5 >= sum_count 4; (1 - sqrt(5 - 1) / 20) / sqrt(1) = 1 - 2/20 = 0.9  (old: 0.8)
    (5, 1, 6, 4, 0.9),
    # reward, l. 390: (1 - sqrt(3) / 20) / sqrt(2) = (1 - 1.7320508/20) / 1.4142136
    #                 = 0.9133975 / 1.4142136 = 0.6458695  (old: 0.85 / sqrt(2) = 0.6010408)
    (5, 2, 9, 3, 0.6458695),
    # reward, l. 390: (1 - sqrt(9) / 20) / sqrt(2) = 0.85 / 1.4142136 = 0.6010408  (old: 0.55 / sqrt(2) = 0.3889)
    (11, 2, 12, 3, 0.6010408),
    # reward, l. 390: stays at 20, still inside the depth; sqrt(0) = 0 -> 1 / sqrt(20) = 0.2236068
    (20, 20, 21, 3, 0.2236068),
    # reward, l. 392: ori 25 deeper than 20 -> 0.01
    (25, 3, 30, 3, 0.01),
    # l. 396: rev 2 < ori 3 < ins 5, pushed down and the reversed run lifted it -> -1  (old: (3 - 5) / 5 = -0.4)
    (3, 5, 2, 3, -1.0),
    # l. 396: rev 7 < ori 10 < ins 11 -> -1  (old: (10 - 11) / 11 = -0.0909)
    (10, 11, 7, 3, -1.0),
    # l. 399: not rev < ori (9 > 2); ori 2 <= ins 4 -> (2 - 4) / 4 = -0.5
    (2, 4, 9, 3, -0.5),
    # l. 399: rev == ori, so not rev < ori (strict); ori 3 <= ins 4 -> (3 - 4) / 4 = -0.25
    (3, 4, 3, 3, -0.25),
    # l. 399: ins == ori == 3 and rev 2 < 3, but not ori < ins (strict) -> (3 - 3) / 3 = 0
    (3, 3, 2, 3, 0.0),
    # l. 401: ins 2 <= ori 4 but not ori < rev 3; not ori <= ins -> (3 - 4) / 4 = -0.25
    (4, 2, 3, 4, -0.25),
])
def test_wise_document_branches(ori, ins, rev, count, expected):
    assert wise_document(ori, ins, rev, count) == pytest.approx(expected, abs=1e-7)


# one query, five documents; a and b positive (relevant under og and instructed), c negative
RUN_ORI = {"q": {"c": 5.0, "a": 4.0, "d": 3.0, "b": 2.0, "e": 1.0}}   # c1 a2 d3 b4 e5
RUN_INS = {"q": {"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0, "e": 1.0}}   # a1 b2 c3
RUN_REV = {"q": {"c": 5.0, "d": 4.0, "e": 3.0, "a": 2.0, "b": 1.0}}   # a4 b5
# WISE of q, by hand from the reference (sum_count = 2 positives + 1 negative = 3):
#   a: ori 2, ins 1, rev 4: 1 <= 2 < 4, ori 2 < 3 and ins 1 -> 1
#   b: ori 4, ins 2, rev 5: 2 <= 4 < 5, ori 4 >= 3 -> (1 - sqrt(2) / 20) / sqrt(2) = 1 / sqrt(2) - 1 / 20
#      = 0.7071068 - 0.05 = 0.6571068
#   mean: (1 + 0.6571068) / 2 = 0.8285534  (old formula: (1 + 0.9 / sqrt(2)) / 2 = 0.8181981)
WISE_Q = 0.8285534


def test_wise_per_query_by_hand():
    got = wise_per_query(RUN_ORI, RUN_INS, RUN_REV, {"q": ["a", "b"]}, {"q": ["c"]})
    assert got == {"q": pytest.approx(WISE_Q, abs=1e-7)}
    # the negative c is InfoSearch's p-MRR document: rank 1 -> 3 gives 1 - (1/3)/(1/1)
    assert p_mrr_per_query(RUN_ORI, RUN_INS, {"q": ["c"]}) == {"q": pytest.approx(2 / 3)}


def test_wise_per_query_minus_one_branch_and_missing_document():
    # q2: x ranks ori 2, ins 3, rev 1 -> rev 1 < ori 2 < ins 3 -> -1 (old formula: (2 - 3) / 3 = -0.3333)
    #     m is in no run: ranks len(run) + 1 = 4 in all three (reference lines 199-208); ins 4 <= ori 4 but
    #     not ori < rev 4, and not rev < ori; ori 4 <= ins 4 -> (4 - 4) / 4 = 0
    #     mean: (-1 + 0) / 2 = -0.5
    ori = {"q2": {"y": 0.9, "x": 0.8, "z": 0.1}}   # y1 x2 z3
    ins = {"q2": {"y": 0.9, "z": 0.8, "x": 0.1}}   # y1 z2 x3
    rev = {"q2": {"x": 0.9, "y": 0.8, "z": 0.1}}   # x1 y2 z3
    got = wise_per_query(ori, ins, rev, {"q2": ["x", "m"], "q3": []}, {"q2": ["y"]})
    assert got == {"q2": -0.5}   # q3 has no positive document and gets no value


def test_sicr_document_rules():
    assert sicr_document((3, 0.5), (1, 0.9), (7, 0.1)) == 1.0
    assert sicr_document((3, 0.5), (1, 0.4), (7, 0.1)) == 0.0   # rank rose but the score fell
    assert sicr_document((3, 0.5), (1, 0.9), (2, 0.6)) == 0.0   # the reversed run lifted it
    assert sicr_document((1, 0.5), (1, 0.5), (2, 0.4)) == 1.0   # already first: ties on the score allowed
    assert sicr_document((1, 0.5), (2, 0.6), (3, 0.4)) == 0.0   # already first and lost the top


def test_sicr_per_query_by_hand():
    runs = [dict(RUN_ORI), dict(RUN_INS), dict(RUN_REV)]
    # q2: its one positive is first everywhere and its instructed score falls (0.7 < 0.9): not compliant
    runs[0]["q2"] = {"x": 0.9, "y": 0.1}
    runs[1]["q2"] = {"x": 0.7, "y": 0.1}
    runs[2]["q2"] = {"y": 0.5, "x": 0.2}
    got = sicr_per_query(*runs, {"q": ["a", "b"], "q2": ["x"]})
    assert got == {"q": 1.0, "q2": 0.0}   # a and b both rise, with rising scores, and sink under rev


def test_sicr_averages_every_positive():
    # a complies, b does not (its instructed score is not above its og score). The paper's definition
    # averages the two: 0.5. (The reference code resets its counter inside the loop, line 433, and would count
    # only b, the last one: 0 / 2.)
    ins = {"q": {"a": 5.0, "b": 1.5, "c": 3.0, "d": 2.0, "e": 1.0}}   # a1 c2 d3 b4: b not lifted
    assert sicr_per_query(RUN_ORI, ins, RUN_REV, {"q": ["a", "b"]}) == {"q": 0.5}


NEVIR_QRELS = {"1_q1": {"d1a": 1, "d1b": 0}, "1_q2": {"d1a": 0, "d1b": 1},
               "2_q1": {"d2a": 1, "d2b": 0}, "2_q2": {"d2a": 0, "d2b": 1},
               "3_q1": {"d3a": 1, "d3b": 0}, "3_q2": {"d3a": 0, "d3b": 1}}
NEVIR_RUN = {"1_q1": {"d1a": 0.9, "d1b": 0.1}, "1_q2": {"d1a": 0.8, "d1b": 0.2},   # pair 1: q2 wrong
             "2_q1": {"d2a": 0.7, "d2b": 0.3}, "2_q2": {"d2a": 0.4, "d2b": 0.6},   # pair 2: both right
             "3_q1": {"d3a": 0.5, "d3b": 0.5}, "3_q2": {"d3a": 0.5, "d3b": 0.5}}   # tie: d3b first (id desc)


def test_paired_accuracy_by_hand():
    assert paired_accuracy_per_pair(NEVIR_RUN, NEVIR_QRELS) == {"1": 0.0, "2": 1.0, "3": 0.0}
    assert paired_accuracy(NEVIR_RUN, NEVIR_QRELS) == pytest.approx(1 / 3)
    assert [query_correct(NEVIR_RUN[q], NEVIR_QRELS[q]) for q in sorted(NEVIR_QRELS)] == \
        [True, False, True, True, False, True]


def test_a_model_that_always_prefers_one_passage_scores_zero():
    # it is right on one query of every pair (50% per query) and wrong on every pair
    run = {q: {d: (1.0 if d.endswith("a") else 0.0) for d in docs} for q, docs in NEVIR_QRELS.items()}
    assert paired_accuracy(run, NEVIR_QRELS) == 0.0


def test_pairs_need_both_members():
    with pytest.raises(ValueError, match="no partner"):
        pairs_of(["1_q1", "1_q2", "2_q1"])
    with pytest.raises(ValueError, match="neither '_q1' nor '_q2'"):
        pairs_of(["1_q3"])


_OTHERS = {f"x{i:02d}": 0.5 - i / 100 for i in range(24)}          # 24 irrelevant documents below 0.5
IFIR_RUN = {"i1": {"a": 1.0, "x": 0.9, "b": 0.8, **_OTHERS},       # a at 1, b at 3
            "i2": {"a": 1.0, **{f"y{i:02d}": 0.9 - i / 100 for i in range(19)}, "z": 0.01, **_OTHERS},  # z at 21
            "i3": {"x": 1.0, "a": 0.9, **_OTHERS}}                 # a at 2
IFIR_QRELS = {"i1": {"a": 1, "b": 1}, "i2": {"z": 1}, "i3": {"a": 1}}


def test_ifir_ndcg20_per_level_by_hand():
    run, qrels = IFIR_RUN, IFIR_QRELS
    got = ndcg20_per_instruction(qrels, run)
    i1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    i3 = 1 / math.log2(3)
    assert got == {"i1": pytest.approx(i1), "i2": 0.0, "i3": pytest.approx(i3)}
    levels = mean_by_level(got, {"i1": 1, "i2": 1, "i3": 2})
    assert levels == {"all": pytest.approx((i1 + i3) / 3), "level.1": pytest.approx(i1 / 2),
                      "level.2": pytest.approx(i3)}
    # an instruction the run does not rank counts 0, as trec_eval -c does
    assert ndcg20_per_instruction({"i9": {"a": 1}}, run) == {"i9": 0.0}


# p-MRR (FollowIR, mFollowIR): two queries, with score ties that the tie rule (document id, descending) settles
PMRR_OG = {"q1": {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0},          # a1 c2 b3 d4 (c before b: id descending)
           "q2": {"e": 1.0, "f": 1.0, "g": 0.5}}                      # f1 e2 g3
PMRR_CHANGED = {"q1": {"a": 1.0, "b": 2.0, "c": 3.0, "d": 0.5},     # c1 b2 a3 d4
                "q2": {"e": 0.2, "f": 0.9, "g": 0.9}}                 # g1 f2 e3
PMRR_DOCS = {"q1": ["a", "b"], "q2": ["f", "e"]}
# Robustness@10 (InstructIR): base queries 1 and 2, two instructions each
ROBUST_QRELS = {"1_1": {"a": 1}, "1_2": {"b": 1}, "2_1": {"c": 1}, "2_2": {"c": 1, "d": 1}}
ROBUST_RUN = {"1_1": {"a": 0.9, "b": 0.5, "x": 0.1}, "1_2": {"a": 0.9, "x": 0.5, "b": 0.1},
              "2_1": {"c": 0.9, "d": 0.1}, "2_2": {"d": 0.9, "x": 0.5, "c": 0.1}}


# MTEB's values on the inputs above, frozen so that CI (without mteb) still checks followir against MTEB.
# Produced on 2026-11-30 with mteb 2.26.24 (pip-installed into /tmp/mteb_pkg) and pytrec_eval 0.5.11, by calling
# mteb._evaluators.retrieval_metrics directly (the code of ``test_matches_live_mteb``, printed with repr):
# - paired_accuracy(NEVIR_QRELS, NEVIR_RUN, pytrec_eval recall.1 scores)
# - calculate_pmrr (the p-MRR of evaluate_p_mrr_change, used by FollowIR and mFollowIR), run keys suffixed -og and
#   -changed: on RUN_ORI/RUN_INS over {"q": ["c"]}, on PMRR_OG/PMRR_CHANGED over PMRR_DOCS, and per query
# - calculate_retrieval_scores(IFIR_RUN, IFIR_QRELS, [20]).all_scores[...]["ndcg_cut_20"]
# - robustness_at_10(ROBUST_QRELS, ROBUST_RUN, calculate_retrieval_scores(..., [10]).all_scores)
MTEB_FROZEN = {
    "paired_accuracy": 0.3333333333333333,
    "p-MRR infosearch": 0.6666666666666667,
    "p-MRR": 0.2916666666666667,
    "p-MRR q1": 0.16666666666666669,
    "p-MRR q2": 0.4166666666666667,
    "ndcg_cut_20": {"i1": 0.9197207891481876, "i2": 0.0, "i3": 0.6309297535714575},
    "robustness@10": 0.7098603945740938,
}


def followir_values() -> dict:
    per_query = p_mrr_per_query(PMRR_OG, PMRR_CHANGED, PMRR_DOCS)
    return {
        "paired_accuracy": paired_accuracy(NEVIR_RUN, NEVIR_QRELS),
        "p-MRR infosearch": p_mrr(RUN_ORI, RUN_INS, {"q": ["c"]}),
        "p-MRR": p_mrr(PMRR_OG, PMRR_CHANGED, PMRR_DOCS),
        "p-MRR q1": per_query["q1"],
        "p-MRR q2": per_query["q2"],
        "ndcg_cut_20": ndcg20_per_instruction(IFIR_QRELS, IFIR_RUN),
        "robustness@10": robustness_at_k(ROBUST_QRELS, ROBUST_RUN, 10),
    }


def test_matches_frozen_mteb_values():
    # by hand, for the p-MRR case: q1: a 1 -> 3: 1 - (1/3)/(1/1) = 2/3; b 3 -> 2: (1/3)/(1/2) - 1 = -1/3; mean 1/6
    # q2: f 1 -> 2: 1 - 1/2 = 1/2; e 2 -> 3: 1 - (1/3)/(1/2) = 1/3; mean 5/12; both queries: (1/6 + 5/12) / 2 = 7/24
    # (with ties settled by id ascending, b would rank 2 under og and q1 would differ)
    assert MTEB_FROZEN["p-MRR"] == pytest.approx(7 / 24)
    # Robustness@10 by hand: 1_1 a at 1: 1; 1_2 b at 3: 1 / log2(4) = 0.5; 2_1 c at 1: 1; 2_2 d at 1, c at 3:
    # (1 + 1 / log2(4)) / (1 + 1 / log2(3)) = 1.5 / 1.6309298 = 0.9197208; mean of the minima (0.5 + 0.9197208) / 2
    assert MTEB_FROZEN["robustness@10"] == pytest.approx((0.5 + 1.5 / (1 + 1 / math.log2(3))) / 2)
    assert followir_values() == {k: pytest.approx(v, abs=1e-12) if not isinstance(v, dict) else
                                 {q: pytest.approx(x, abs=1e-12) for q, x in v.items()}
                                 for k, v in MTEB_FROZEN.items()}


def mteb_values(retrieval_metrics) -> dict:
    import pytrec_eval

    def pmrr(og, changed, docs):
        return float(retrieval_metrics.calculate_pmrr({f"{q}-og": r for q, r in og.items()},
                                                      {f"{q}-changed": r for q, r in changed.items()}, docs))

    recall1 = pytrec_eval.RelevanceEvaluator(NEVIR_QRELS, {"recall.1"}).evaluate(NEVIR_RUN)
    ndcg20 = retrieval_metrics.calculate_retrieval_scores(IFIR_RUN, IFIR_QRELS, [20]).all_scores
    ndcg10 = retrieval_metrics.calculate_retrieval_scores(ROBUST_RUN, ROBUST_QRELS, [10]).all_scores
    return {
        "paired_accuracy": retrieval_metrics.paired_accuracy(NEVIR_QRELS, NEVIR_RUN, recall1),
        "p-MRR infosearch": pmrr(RUN_ORI, RUN_INS, {"q": ["c"]}),
        "p-MRR": pmrr(PMRR_OG, PMRR_CHANGED, PMRR_DOCS),
        **{f"p-MRR {q}": pmrr({q: PMRR_OG[q]}, {q: PMRR_CHANGED[q]}, {q: PMRR_DOCS[q]}) for q in PMRR_DOCS},
        "ndcg_cut_20": {q: v["ndcg_cut_20"] for q, v in ndcg20.items()},
        "robustness@10": retrieval_metrics.robustness_at_10(ROBUST_QRELS, ROBUST_RUN, ndcg10),
    }


def test_matches_live_mteb():
    """The optional live cross-check: runs only where mteb is installed, and also checks the frozen values."""
    retrieval_metrics = pytest.importorskip("mteb._evaluators.retrieval_metrics",
                                            reason="mteb is not installed (pip install mteb)")
    live = mteb_values(retrieval_metrics)
    ours = followir_values()
    for key, value in live.items():
        if isinstance(value, dict):
            assert ours[key] == {q: pytest.approx(x) for q, x in value.items()}, key
            assert MTEB_FROZEN[key] == {q: pytest.approx(x) for q, x in value.items()}, key
        else:
            assert ours[key] == pytest.approx(value), key
            assert MTEB_FROZEN[key] == pytest.approx(value), key
