"""trec_eval measures through pytrec_eval, checked on a two-query case computed by hand."""

import math

import pytest

from followir.metrics.trec_measures import mean_measures, per_query_measures

QRELS = {
    "1": {"a": 1, "b": 0, "c": 1, "z": 1},  # z is never retrieved
    "2": {"d": 2, "e": 0},
    "3": {"f": 0},  # no relevant document: not evaluated
}
RUN = {
    "1": {"a": 0.9, "b": 0.8, "c": 0.7, "x": 0.1},
    "2": {"e": 0.5, "d": 0.4},
}


def test_two_query_case_by_hand():
    pq = per_query_measures(QRELS, RUN)
    assert set(pq) == {"1", "2"}
    # query 1: relevant at ranks 1 and 3 out of 3 relevant -> AP = (1/1 + 2/3) / 3
    assert pq["1"]["map"] == pytest.approx((1 + 2 / 3) / 3)
    assert pq["1"]["recip_rank"] == 1.0
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert pq["1"]["ndcg_cut_5"] == pytest.approx(dcg / idcg)
    assert pq["1"]["P_5"] == pytest.approx(2 / 5)
    assert pq["1"]["recall_10"] == pytest.approx(2 / 3)
    # query 2: the grade-2 document at rank 2
    assert pq["2"]["map"] == pytest.approx(0.5)
    assert pq["2"]["recip_rank"] == 0.5
    assert pq["2"]["ndcg_cut_5"] == pytest.approx((2 / math.log2(3)) / (2 / math.log2(2)))
    means = mean_measures(pq)
    assert means["map"] == pytest.approx(((1 + 2 / 3) / 3 + 0.5) / 2)


def test_query_without_ranking_counts_zero():
    pq = per_query_measures(QRELS, {"1": RUN["1"]})
    assert pq["2"]["map"] == 0.0 and pq["2"]["ndcg_cut_10"] == 0.0


def test_ties_broken_by_doc_id_descending_like_trec_eval():
    qrels = {"1": {"a": 1, "b": 0}}
    # equal scores: trec_eval ranks b before a (doc id descending)
    pq = per_query_measures(qrels, {"1": {"a": 1.0, "b": 1.0}})
    assert pq["1"]["recip_rank"] == 0.5
