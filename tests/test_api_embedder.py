"""The API embedder against a real OpenAI-compatible HTTP server on 127.0.0.1 (no network beyond loopback).

The server returns a hashed bag-of-words vector per input and can be scripted to fail (429 with Retry-After,
5xx, 4xx) before answering; its request log shows what the client sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from typer.testing import CliRunner

from followir.cli import app
from followir.errors import APIError, MissingDependencyError
from followir.llm import limits
from followir.models.api_embedder import APIEmbedder, ProviderLimits, plan_requests
from followir.models.base import RankRequest
from followir.models.bi_encoder import BiEncoder
from followir.models.embedding import EmbeddingReranker
from followir.models.registry import load_model
from followir.records import Document

DIM = 32


def bow_vector(text: str) -> list[float]:
    """Deterministic embedding: counts of hashed lower-cased words, plus a constant component."""
    v = [0.0] * DIM
    v[0] = 0.5
    for word in re.findall(r"\w+", text.lower()):
        v[1 + int(hashlib.md5(word.encode()).hexdigest(), 16) % (DIM - 1)] += 1.0
    return v


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.log: list[dict] = []  # one entry per request, in arrival order
        self.script: list[tuple[int, dict, str]] = []  # failures to answer before succeeding
        self.fail_always: int | None = None
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"

    def successes(self) -> list[dict]:
        return [r for r in self.log if r["status"] == 200]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def _answer(self, status: int, body: str, headers: dict | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        server: _Server = self.server
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with server.lock:
            if self.path != "/v1/embeddings":
                status, headers, text = 404, {}, '{"error": "not found"}'
            elif server.fail_always:
                status, headers, text = server.fail_always, {}, '{"error": "down"}'
            elif server.script:
                status, headers, text = server.script.pop(0)
            else:
                status, headers, text = 200, {}, ""
            server.log.append({"status": status, "inputs": body.get("input"), "model": body.get("model"),
                               "dimensions": body.get("dimensions"),
                               "auth": self.headers.get("Authorization")})
        if status == 200:
            data = [{"object": "embedding", "index": i, "embedding": bow_vector(t)[:body.get("dimensions") or DIM]}
                    for i, t in enumerate(body["input"])]  # honours "dimensions", as OpenAI does
            text = json.dumps({"object": "list", "model": body["model"], "data": data[::-1],  # out of order
                               "usage": {"prompt_tokens": 0, "total_tokens": 0}})
        self._answer(status, text, headers)


@pytest.fixture
def server():
    httpd = _Server()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "CO_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOLLOWIR_CACHE", str(tmp_path / "default-cache.sqlite"))


@pytest.fixture
def delays(monkeypatch):
    """Waits between attempts, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(limits, "_sleep", recorded.append)
    return recorded


def _embedder(server, **kwargs) -> APIEmbedder:
    kwargs.setdefault("cache_path", "none")
    kwargs.setdefault("backoff", 0.01)
    return APIEmbedder(kwargs.pop("model_id", "bow-embed"), base_url=server.url, **kwargs)


def test_retries_429_then_500_then_succeeds(server, delays):
    server.script = [(429, {"Retry-After": "0"}, '{"error": "slow down"}'), (500, {}, '{"error": "oops"}')]
    texts = ["the cat sat", "a dog ran far", "the cat sat"]
    emb = _embedder(server)
    out = emb.encode(texts)
    assert [r["status"] for r in server.log] == [429, 500, 200]
    assert sorted(server.log[-1]["inputs"]) == sorted(set(texts))
    assert set(out) == set(texts)
    for t in texts:
        assert out[t].dtype == np.float32
        np.testing.assert_allclose(out[t], bow_vector(t))  # ordered by data[i].index, not response order
    assert delays[0] == 0.0  # Retry-After: 0 honoured
    assert 0.01 * 2 * 0.5 <= delays[1] <= 0.01 * 2  # exponential backoff with jitter, second attempt
    assert emb.last_stats == {"texts": 3, "unique": 2, "cached": 0, "computed": 2, "requests": 1}


def test_retry_after_seconds_are_honoured(server, delays):
    server.script = [(429, {"Retry-After": "7"}, "{}"), (503, {"retry-after-ms": "250"}, "{}")]
    _embedder(server).encode(["x"])
    assert delays == [7.0, 0.25]


def test_batches_respect_batch_size(server, delays):
    texts = [f"text number {i}" for i in range(10)]
    emb = _embedder(server, batch_size=3)
    out = emb.encode(texts)
    sizes = [len(r["inputs"]) for r in server.successes()]
    assert len(sizes) == math.ceil(10 / 3) and max(sizes) <= 3
    assert sorted(t for r in server.successes() for t in r["inputs"]) == sorted(texts)
    assert len(out) == 10 and emb.last_stats["requests"] == 4


def test_batches_respect_token_budget_and_truncate_long_texts(server, delays):
    emb = _embedder(server)
    emb.limits = ProviderLimits(max_inputs=2048, max_request_tokens=250, max_input_tokens=8191, key_env="X")
    texts = [c * 400 for c in "abcde"]  # 100 estimated tokens each: two per request
    emb.encode(texts)
    assert [len(r["inputs"]) for r in server.successes()] == [2, 2, 1]

    server.log.clear()
    long = "word " * 10_000
    out = _embedder(server).encode([long, ""])
    sent = server.successes()[0]["inputs"]
    assert max(len(t) for t in sent) == 8191 * 4 and " " in sent  # truncated; empty input sent as a space
    assert set(out) == {long, ""}
    assert plan_requests([3, 3, 3, 5, 1], max_inputs=2, max_tokens=7) == [[0, 1], [2], [3, 4]]


def test_cache_makes_reruns_free(server, tmp_path, delays):
    cache = str(tmp_path / "cache.sqlite")
    texts = ["alpha beta", "gamma delta", "epsilon"]
    first = _embedder(server, cache_path=cache).encode(texts)
    assert len(server.successes()) == 1
    again = _embedder(server, cache_path=cache)
    second = again.encode(texts)
    assert len(server.log) == 1  # zero requests
    assert again.last_stats["cached"] == 3 and again.last_stats["requests"] == 0
    for t in texts:
        np.testing.assert_array_equal(first[t], second[t])
    assert again.estimate_cost(texts + ["new text"]).texts == 1
    # dimensions are part of the model fingerprint: another configuration asks again
    _embedder(server, cache_path=cache, dimensions=16).encode(texts)
    assert len(server.log) == 2 and server.log[-1]["dimensions"] == 16


def test_exhausted_retries_raise_a_clear_error(server, delays):
    server.fail_always = 503
    with pytest.raises(APIError, match=r"failed 3 times.*HTTP 503.*Fix:"):
        _embedder(server, max_retries=2).encode(["x"])
    assert len(server.log) == 3 and len(delays) == 2


def test_connection_errors_are_retried(delays):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    emb = APIEmbedder("bow-embed", base_url=f"http://127.0.0.1:{port}/v1", cache_path="none", max_retries=1,
                      backoff=0.01, timeout=5.0)
    with pytest.raises(APIError, match=r"failed 2 times.*ConnectError"):
        emb.encode(["x"])
    assert len(delays) == 1


def test_client_errors_are_not_retried(server, delays):
    server.script = [(400, {}, '{"error": {"message": "bad dimensions"}}')]
    with pytest.raises(APIError, match=r"HTTP 400.*bad dimensions"):
        _embedder(server).encode(["x"])
    assert len(server.log) == 1 and delays == []


def test_official_url_needs_a_key_and_self_hosted_does_not(server, monkeypatch, delays):
    with pytest.raises(APIError, match=r"\$OPENAI_API_KEY is not set.*Fix: export OPENAI_API_KEY"):
        APIEmbedder("text-embedding-3-small", cache_path="none").encode(["x"])
    with pytest.raises(APIError, match="MY_OPENAI_KEY"):
        APIEmbedder("text-embedding-3-small", api_key_env="MY_OPENAI_KEY", cache_path="none").encode(["x"])
    _embedder(server).encode(["no key"])
    assert server.log[-1]["auth"] is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    _embedder(server).encode(["with key"])
    assert server.log[-1]["auth"] == "Bearer sk-test"


def test_base_url_from_environment(server, monkeypatch, delays):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/")
    emb = APIEmbedder("bow-embed", cache_path="none")
    assert emb.base_url == server.url and not emb.hosted
    emb.encode(["from env"])
    assert len(server.successes()) == 1
    assert APIEmbedder("m", base_url="https://api.openai.com/v1/").hosted


def test_cost_estimate_is_logged_and_returned(server, tmp_path, caplog, delays):
    cache = str(tmp_path / "cache.sqlite")
    emb = _embedder(server, model_id="text-embedding-3-large", cache_path=cache)
    estimate = emb.estimate_cost(["a" * 400, "b" * 400, "a" * 400])
    assert (estimate.texts, estimate.tokens, estimate.price_per_million_tokens) == (2, 200, 0.13)
    assert estimate.cost == pytest.approx(200 / 1e6 * 0.13)
    assert "$0.13 per 1M tokens" in str(estimate)
    assert "price unknown" in str(_embedder(server).estimate_cost(["x"]))
    assert _embedder(server, model_id="text-embedding-3-small").estimate_cost(["x"]).price_per_million_tokens == 0.02

    with caplog.at_level(logging.WARNING, logger="followir.models.api_embedder"):
        emb.encode(["a" * 400])
    assert any(r.levelno == logging.WARNING and "cost estimate" in r.getMessage() and "1 texts" in r.getMessage()
               for r in caplog.records)
    assert emb.estimate_cost(["a" * 400, "b" * 400]).texts == 1  # only what is not cached

    asked = len(server.log)
    with pytest.raises(APIError, match="yes=True"):
        _embedder(server, price_per_million_tokens=0.5, yes=False).encode(["paid text"])
    assert len(server.log) == asked  # nothing sent


def test_rerank_shares_the_bi_encoder_cosine_scoring(server, delays):
    assert APIEmbedder.rerank is BiEncoder.rerank is EmbeddingReranker.rerank
    corpus = {"d1": Document("d1", "the cat sat on the mat"), "d2": Document("d2", "stock markets fell", "News"),
              "d3": Document("d3", "cats and dogs")}
    requests = [RankRequest("1", "og", "cat", "on a mat", ("d1", "d2", "d3")),
                RankRequest("2", "changed", "markets", "", ("d2", "d3"))]
    emb = _embedder(server)
    results = emb.rerank(requests, corpus)

    def cosine(a, b):
        a, b = np.asarray(bow_vector(a)), np.asarray(bow_vector(b))
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    for request, scores in zip(requests, results):
        assert set(scores) == set(request.candidates)
        for d in request.candidates:
            assert scores[d] == pytest.approx(cosine(request.text, corpus[d].full_text), rel=1e-5)
    assert max(results[0], key=results[0].get) == "d1"
    assert len(server.successes()) == 1  # queries and documents in one request
    assert emb.describe()["settings"]["similarity"] == "cosine"


def test_sdk_providers_need_their_sdk_and_have_input_types(monkeypatch):
    with pytest.raises(ValueError, match="provider='azure'"):
        APIEmbedder("m", provider="azure")
    with pytest.raises(ValueError, match="base_url applies"):
        APIEmbedder("embed-english-v3.0", provider="cohere", base_url="http://localhost:1/v1")
    cohere = APIEmbedder("embed-english-v3.0", provider="cohere", cache_path="none")
    assert cohere._cache_description("query")["input_type"] == "search_query"
    assert cohere._cache_description("document")["input_type"] == "search_document"
    google = APIEmbedder("text-embedding-004", provider="google", cache_path="none")
    assert google._cache_description("query")["input_type"] == "RETRIEVAL_QUERY"
    assert google.estimate_cost(["x"]).cost == 0.0
    monkeypatch.setenv("CO_API_KEY", "k")
    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    try:
        import cohere as _  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="pip install cohere"):
            cohere.encode(["x"], role="query")
    try:
        import google.genai as _  # noqa: F401,F811
    except ImportError:
        with pytest.raises(MissingDependencyError, match="pip install google-genai"):
            google.encode(["x"])


def test_registry_builds_api_embedders():
    model = load_model("openai-v3-large", cache_path="none")
    assert isinstance(model, APIEmbedder) and model.name == "openai-v3-large"
    assert (model.provider, model.model_id, model.base_url) == ("openai", "text-embedding-3-large",
                                                                 "https://api.openai.com/v1")
    assert load_model("cohere-v3-english").provider == "cohere"
    with pytest.raises(ValueError, match="--device does not apply"):
        load_model("some-model", family="api-embedder", device="cpu")


def test_cli_evaluate_against_loopback_server(server, tmp_path, monkeypatch, delays):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    server.script = [(429, {"Retry-After": "0"}, "{}")]
    cache = str(tmp_path / "cache.sqlite")
    runner = CliRunner()
    args = ["evaluate", "--model", "bow-embed", "--family", "api-embedder", "--task", "followir-mini",
            "--cache", cache, "--resamples", "100", "--json"]
    first = runner.invoke(app, args + ["--output", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert server.log[0]["status"] == 429 and server.successes()
    assert all(r["model"] == "bow-embed" and r["auth"] == "Bearer sk-loopback" for r in server.log)
    data = json.loads((tmp_path / "a" / "results.json").read_text())
    assert data["model"]["name"] == "bow-embed" and data["model"]["family"] == "api-embedder"
    assert data["model"]["settings"]["base_url"] == server.url
    scores = data["tasks"]["followir-mini"]["scores"]
    assert 0 < scores["main_score"] <= 1 and -1 <= scores["p-MRR"] <= 1

    # the same server through --base-url: same fingerprint, everything cached, zero requests
    monkeypatch.delenv("OPENAI_BASE_URL")
    asked = len(server.log)
    second = runner.invoke(app, args + ["--output", str(tmp_path / "b"), "--base-url", server.url])
    assert second.exit_code == 0, second.output
    assert len(server.log) == asked
    again = json.loads((tmp_path / "b" / "results.json").read_text())["tasks"]["followir-mini"]["scores"]
    assert (again["main_score"], again["p-MRR"]) == (scores["main_score"], scores["p-MRR"])
