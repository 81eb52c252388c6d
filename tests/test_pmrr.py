"""p-MRR (the paper's equation 1) on hand-computed cases and randomized properties."""

import math
import random

import pytest

from followir.metrics.pmrr import p_mrr, p_mrr_per_query, rank_change_score, ranks


def _run(order):
    """Scores that rank ``order`` best first."""
    return {doc: float(len(order) - i) for i, doc in enumerate(order)}


def test_rank_4_to_1_is_minus_075():
    og = {"q": _run(["a", "b", "c", "x"])}
    changed = {"q": _run(["x", "a", "b", "c"])}
    assert p_mrr(og, changed, {"q": {"x"}}) == pytest.approx(-0.75)


def test_rank_1_to_4_is_plus_075():
    og = {"q": _run(["x", "a", "b", "c"])}
    changed = {"q": _run(["a", "b", "c", "x"])}
    assert p_mrr(og, changed, {"q": {"x"}}) == pytest.approx(0.75)


def test_identical_runs_give_zero():
    run = {"q": _run(["a", "b", "c", "d"])}
    assert p_mrr(run, run, {"q": {"b", "d"}}) == 0.0


def test_tied_scores_in_reversed_insertion_order_give_zero():
    og = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}
    changed = {"q": {"c": 1.0, "b": 1.0, "a": 1.0}}
    assert p_mrr(og, changed, {"q": {"a", "c"}}) == 0.0
    # ties are broken by document id, descending: c, b, a
    assert ranks(og["q"]) == {"c": 1, "b": 2, "a": 3}


def test_absent_document_ranks_after_the_run():
    og = {"q": _run(["x", "a"])}  # x at rank 1
    changed = {"q": _run(["a", "b", "c"])}  # x absent -> rank 4
    assert p_mrr(og, changed, {"q": {"x"}}) == pytest.approx(1 - 1 / 4)


def test_macro_average_within_then_over_queries():
    og = {"q1": _run(["x", "y", "a", "b"]), "q2": _run(["a", "b", "z", "c"])}
    changed = {"q1": _run(["a", "b", "x", "y"]), "q2": _run(["z", "a", "b", "c"])}
    # q1: x 1->3 gives 1 - 1/3; y 2->4 gives 1 - 2/4; q2: z 3->1 gives 1/3 - 1
    q1 = ((1 - 1 / 3) + (1 - 2 / 4)) / 2
    q2 = 1 / 3 - 1
    per_query = p_mrr_per_query(og, changed, {"q1": {"x", "y"}, "q2": {"z"}, "q3": set()})
    assert per_query == pytest.approx({"q1": q1, "q2": q2})  # q3 has no changed documents: left out
    assert p_mrr(og, changed, {"q1": {"x", "y"}, "q2": {"z"}}) == pytest.approx((q1 + q2) / 2)


def test_no_changed_documents_is_nan():
    assert math.isnan(p_mrr({"q": {"a": 1.0}}, {"q": {"a": 1.0}}, {"q": set()}))


@pytest.mark.parametrize("seed", range(20))
def test_random_runs_bounds_antisymmetry_and_order_independence(seed):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(30)]
    og = {"q": {d: float(rng.randint(0, 5)) for d in docs}}  # many ties
    new = {"q": {d: float(rng.randint(0, 5)) for d in docs}}
    changed_docs = {"q": set(rng.sample(docs, 5))}
    value = p_mrr(og, new, changed_docs)
    assert -1.0 <= value <= 1.0
    # swapping the runs negates the score (the per-document term is antisymmetric)
    assert p_mrr(new, og, changed_docs) == pytest.approx(-value)
    # shuffling insertion order never changes anything
    shuffled = {"q": dict(rng.sample(list(og["q"].items()), len(docs)))}
    assert p_mrr(shuffled, new, changed_docs) == value


def test_rank_change_score_matches_equation_1():
    for og_rank in range(1, 12):
        for new_rank in range(1, 12):
            rr_og, rr_new = 1 / og_rank, 1 / new_rank
            expected = rr_og / rr_new - 1 if og_rank >= new_rank else 1 - rr_new / rr_og
            assert rank_change_score(og_rank, new_rank) == pytest.approx(expected)
