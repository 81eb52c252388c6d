"""Robustness@k: mean over base queries of the worst nDCG@k over their instructions."""

import math

import pytest

from followir.metrics.robustness import robustness_at_k, robustness_per_query


def test_robustness_by_hand():
    qrels = {"1_1": {"a": 1}, "1_2": {"b": 1}, "2_1": {"c": 1}}
    run = {
        "1_1": {"a": 2.0, "b": 1.0},  # nDCG@10 = 1
        "1_2": {"a": 2.0, "b": 1.0},  # b at rank 2: 1/log2(3)
        "2_1": {"c": 1.0},  # 1
    }
    worst = robustness_per_query(qrels, run)
    assert worst == pytest.approx({"1": 1 / math.log2(3), "2": 1.0})
    assert robustness_at_k(qrels, run) == pytest.approx((1 / math.log2(3) + 1.0) / 2)


def test_unsupported_cutoff():
    with pytest.raises(ValueError, match="k=5 or k=10"):
        robustness_at_k({"1_1": {"a": 1}}, {"1_1": {"a": 1.0}}, k=3)
