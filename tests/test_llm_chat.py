"""The generator-LLM layer: prompts as validated data, the OpenAI-compatible client against a real HTTP server on
127.0.0.1 (retries, Retry-After, concurrency, rate limit, cache, cost estimate), and a local SmolLM2 model both
directly (``LocalChat``) and behind the server."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from chat_server import serve
from followir.errors import APIError, UnknownNameError
from followir.llm import limits
from followir.llm.base import GenerationOptions
from followir.llm.chat import LocalChat, OpenAIChat, load_chat_model
from followir.llm.cost import CostEstimate, estimate_tokens, messages_tokens
from followir.llm.limits import RateLimiter, retry_after
from followir.llm.prompts import PromptError, get_prompt, load_prompts, parse_prompts

PAPER = Path(__file__).resolve().parents[1] / ".." / "shared" / "paper" / "followir-paper.txt"


def echo(messages, options) -> str:
    """A deterministic 'model': the last user message's first words, the seed and the temperature."""
    words = messages[-1]["content"].split()[:3]
    return f"echo {' '.join(words)} seed={options['seed']} t={options['temperature']}"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOLLOWIR_CACHE", str(tmp_path / "default-cache.sqlite"))


@pytest.fixture
def delays(monkeypatch):
    """Waits between attempts and rate-limit waits, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(limits, "_sleep", recorded.append)
    return recorded


# -- prompts ------------------------------------------------------------------------------------------------

def test_the_three_paper_prompts_load_with_their_placeholders():
    prompts = load_prompts()
    assert set(prompts) == {"synthetic-documents", "keywords", "short-instruction"}
    assert prompts["synthetic-documents"].placeholders == ("query", "instruction")
    assert prompts["keywords"].placeholders == ("instruction",)
    messages = get_prompt("synthetic-documents").messages(query="Q-TEXT", instruction="N-TEXT")
    assert messages == [{"role": "user", "content": messages[0]["content"]}]
    assert "Search: Q-TEXT\nInstructions: N-TEXT\n" in messages[0]["content"]
    assert messages[0]["content"].endswith("your irrelevant document should be slightly off topic:")
    with pytest.raises(PromptError, match="missing"):
        get_prompt("keywords").messages()
    with pytest.raises(UnknownNameError, match="synthetic-documents"):
        get_prompt("nope")


@pytest.mark.parametrize("entry, message", [
    ({"description": "d", "placeholders": ["query"], "user": "{query}", "extra": 1}, "unknown keys"),
    ({"description": "d", "placeholders": ["title"], "user": "{title}"}, "unknown placeholders"),
    ({"description": "d", "placeholders": ["query"], "user": "{query} {instruction}"}, "not declared"),
    ({"description": "d", "placeholders": ["query", "instruction"], "user": "{query}"}, "never uses"),
    ({"description": "d", "placeholders": [], "user": "a { b"}, "literal braces"),
    ({"placeholders": [], "user": "x"}, "lacks"),
])
def test_prompt_validation_names_the_problem(entry, message):
    with pytest.raises(PromptError, match=message):
        parse_prompts(__import__("yaml").safe_dump({"bad": entry}), "test.yaml")


def _paper_section(text: str, start: str, end: str | None) -> str:
    i = text.index(start) + len(start)
    j = text.index(end, i) if end else len(text)
    return " ".join(text[i:j].split())


@pytest.mark.realdata
def test_prompts_are_the_papers_appendix_h_word_for_word():
    if not PAPER.exists():
        pytest.skip(f"paper text not found at {PAPER}")
    paper = PAPER.read_text(encoding="utf-8")
    appendix = paper[paper.index("Synthetic Document Creation"):]
    sections = {
        "synthetic-documents": ("Synthetic Document Creation", "Short Instructions to Keywords"),
        "keywords": ("Short Instructions to Keywords", "Full Instructions to Short Instructions"),
        "short-instruction": ("Full Instructions to Short Instructions", None),
    }
    markers = {"synthetic-documents": {"query": "TITLE_HERE", "instruction": "NARRATIVE_HERE"},
               "keywords": {"instruction": "FILL_TEXT_HERE"}, "short-instruction": {"instruction": "FILL_TEXT_HERE"}}
    for name, (start, end) in sections.items():
        ours = get_prompt(name).messages(**markers[name])[0]["content"]
        assert " ".join(ours.split()) == _paper_section(appendix, start, end), name


# -- small parts --------------------------------------------------------------------------------------------

def test_rate_limiter_spaces_requests_evenly():
    now = [100.0]
    waits = []
    limiter = RateLimiter(120, clock=lambda: now[0])  # one request every 0.5 s
    original = limits._sleep
    limits._sleep = waits.append
    try:
        got = [limiter.acquire() for _ in range(4)]
        now[0] += 10.0  # after a pause, the next request goes at once
        got.append(limiter.acquire())
    finally:
        limits._sleep = original
    assert got == [0.0, 0.5, 1.0, 1.5, 0.0]
    assert waits == [0.5, 1.0, 1.5]
    assert RateLimiter(None).acquire() == 0.0
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


def test_retry_after_forms():
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_cost_estimate_by_hand():
    messages = user("x" * 400)  # 100 tokens of content + 4 of framing
    assert estimate_tokens("abcde") == 2 and messages_tokens(messages) == 104
    est = CostEstimate("m", 2, 208, 1000, prices=(1.0, 2.0))
    assert est.cost == pytest.approx((208 * 1.0 + 1000 * 2.0) / 1e6)
    assert "price unknown" in str(CostEstimate("m", 1, 1, 1))


def test_generation_options_and_specs_are_checked():
    with pytest.raises(ValueError, match="temperature"):
        GenerationOptions(temperature=-1)
    with pytest.raises(ValueError, match="max_tokens"):
        GenerationOptions(max_tokens=0)
    with pytest.raises(UnknownNameError, match="openai:MODEL"):
        load_chat_model("gpt-4o")
    with pytest.raises(UnknownNameError, match="unknown"):
        load_chat_model("anthropic:claude")
    with pytest.raises(ValueError, match="not a causal LM"):
        load_chat_model("local:bm25")
    chat = load_chat_model("local:smollm2-135m-instruct")
    assert isinstance(chat, LocalChat) and chat.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_hosted_openai_without_a_key_says_how_to_fix(tmp_path):
    chat = OpenAIChat("gpt-4o-mini", cache_path=str(tmp_path / "c.sqlite"))
    assert chat.paid and chat.prices == (0.15, 0.60)
    with pytest.raises(APIError, match="OPENAI_API_KEY"):
        chat.complete(user("hi"))


# -- the HTTP client against a real loopback server ---------------------------------------------------------

def test_request_payload_answer_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    with serve(echo) as server:
        chat = OpenAIChat("served-model", base_url=server.url, api_key_env="MY_KEY",
                          cache_path=str(tmp_path / "c.sqlite"))
        answer = chat.complete([{"role": "system", "content": "be brief"}, *user("tell me about cats")],
                               GenerationOptions(temperature=0.3, max_tokens=7, seed=5, top_p=0.9))
    assert answer == "echo tell me about seed=5 t=0.3"
    (entry,) = server.log
    assert entry["model"] == "served-model" and entry["auth"] == "Bearer sk-test"
    assert entry["options"] == {"temperature": 0.3, "max_tokens": 7, "seed": 5, "top_p": 0.9}
    assert entry["messages"][0] == {"role": "system", "content": "be brief"}
    assert chat.stats.to_dict() == {"requests": 1, "cached": 0, "sent": 1, "prompt_tokens": 6,
                                    "completion_tokens": len(answer) // 4}


def test_429_and_500_are_retried_honouring_retry_after(tmp_path, delays):
    with serve(echo) as server:
        server.script = [(429, {"Retry-After": "7"}, '{"error": "slow down"}'),
                         (500, {}, '{"error": "oops"}'),
                         (429, {"retry-after-ms": "1500"}, "{}")]
        chat = OpenAIChat("m", base_url=server.url, cache_path="none", backoff=0.01)
        assert chat.complete(user("hello there")).startswith("echo hello there")
    assert [r["status"] for r in server.log] == [429, 500, 429, 200]
    assert delays[0] == 7.0 and delays[2] == 1.5  # Retry-After honoured
    assert 0.0 < delays[1] <= 0.02  # exponential backoff with jitter: 0.01 * 2**1 * [0.5, 1]


def test_persistent_failure_stops_with_the_fix_and_4xx_is_not_retried(tmp_path, delays):
    with serve(echo) as server:
        server.script = [(503, {}, "{}")] * 3
        chat = OpenAIChat("m", base_url=server.url, cache_path="none", max_retries=2, backoff=0.01)
        with pytest.raises(APIError, match="failed 3 times"):
            chat.complete(user("a"))
        server.script = [(404, {}, '{"error": "no such model"}')]
        with pytest.raises(APIError, match="check the model name 'm'"):
            chat.complete(user("b"))
    assert [r["status"] for r in server.log] == [503, 503, 503, 404]


def test_second_run_sends_nothing_and_options_are_part_of_the_key(tmp_path):
    cache = str(tmp_path / "chat.sqlite")
    conversations = [user(f"question number {i}") for i in range(5)]
    with serve(echo) as server:
        first = OpenAIChat("m", base_url=server.url, cache_path=cache, concurrency=2)
        answers = first.complete_many(conversations + [conversations[0]])  # a duplicate is sent once
        assert len(server.log) == 5 and answers[5] == answers[0]
        again = OpenAIChat("m", base_url=server.url, cache_path=cache, concurrency=2)
        assert again.complete_many(conversations) == answers[:5]
        assert len(server.log) == 5 and again.stats.sent == 0 and again.stats.cached == 5
        assert again.estimate_cost(conversations).requests == 0
        other_seed = again.complete(conversations[0], GenerationOptions(seed=1))
        other_model = OpenAIChat("m2", base_url=server.url, cache_path=cache).complete(conversations[0])
    assert len(server.log) == 7
    assert other_seed.endswith("seed=1 t=0.7") and answers[0].endswith("seed=None t=0.7")
    assert other_model == answers[0]  # same echo, but asked: the model name is part of the key


def test_concurrency_is_bounded_and_answers_keep_their_order(tmp_path):
    def slow_echo(messages, options):
        time.sleep(0.15)
        return echo(messages, options)

    conversations = [user(f"item {i} please") for i in range(9)]
    with serve(slow_echo) as server:
        chat = OpenAIChat("m", base_url=server.url, cache_path="none", concurrency=3)
        started = time.perf_counter()
        answers = chat.complete_many(conversations)
        elapsed = time.perf_counter() - started
    assert answers == [echo(c, {"seed": None, "temperature": 0.7}) for c in conversations]
    assert server.max_in_flight == 3
    assert elapsed < 9 * 0.15  # really concurrent


def test_requests_per_minute_spaces_the_requests(tmp_path):
    with serve(echo) as server:
        chat = OpenAIChat("m", base_url=server.url, cache_path="none", concurrency=4, requests_per_minute=600)
        chat.complete_many([user(f"q {i}") for i in range(4)])
    starts = sorted(r["started"] for r in server.log)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) > 0.07  # 600 per minute: one every 0.1 s (some slack for scheduling)


def test_cost_estimate_counts_only_what_is_not_cached(tmp_path, caplog):
    with serve(echo) as server:
        chat = OpenAIChat("gpt-4o-mini", base_url=server.url, cache_path=str(tmp_path / "c.sqlite"))
        conversations = [user("x" * 40), user("y" * 80)]
        est = chat.estimate_cost(conversations, GenerationOptions(max_tokens=100))
        assert (est.requests, est.prompt_tokens, est.output_tokens) == (2, 14 + 24, 200)
        assert est.cost == pytest.approx((38 * 0.15 + 200 * 0.60) / 1e6)
        chat.complete(conversations[0], GenerationOptions(max_tokens=100))
        assert chat.estimate_cost(conversations, GenerationOptions(max_tokens=100)).requests == 1
        with caplog.at_level("INFO"):
            chat.log_estimate(est)
        assert "generator cost estimate" in caplog.text and "$" in caplog.text


# -- a real local model: SmolLM2-135M-Instruct --------------------------------------------------------------

@pytest.fixture(scope="module")
def smollm():
    chat = LocalChat.from_name("smollm2-135m-instruct", cache_path="none")
    try:
        chat._load()
    except Exception as e:  # pragma: no cover - the weights package is missing
        pytest.skip(f"SmolLM2 weights not available: {e}")
    return chat


@pytest.mark.slow
def test_local_chat_answers_deterministically_and_caches(smollm, tmp_path):
    conversation = user("Name a fruit.")
    greedy = GenerationOptions(temperature=0.0, max_tokens=6)
    a = smollm.complete(conversation, greedy)
    assert a and a == smollm.complete(conversation, greedy)
    sampled = GenerationOptions(temperature=1.0, max_tokens=6, seed=3)
    assert smollm.complete(conversation, sampled) == smollm.complete(conversation, sampled)

    cached = LocalChat.from_name("smollm2-135m-instruct", cache_path=str(tmp_path / "local.sqlite"))
    cached._model, cached._tokenizer = smollm._model, smollm._tokenizer  # share the loaded weights
    cached._device, cached._torch = smollm._device, smollm._torch
    assert cached.complete(conversation, greedy) == a and cached.stats.sent == 1
    fresh = LocalChat.from_name("smollm2-135m-instruct", cache_path=str(tmp_path / "local.sqlite"))
    assert fresh.complete(conversation, greedy) == a and fresh.stats.sent == 0 and fresh._model is None


@pytest.mark.slow
def test_openai_client_through_a_server_backed_by_smollm(smollm, tmp_path, delays):
    """The HTTP path returns exactly what the model answers directly, retries included."""
    def model(messages, options):
        return smollm.complete(messages, GenerationOptions(temperature=options["temperature"],
                                                           max_tokens=options["max_tokens"], seed=options["seed"]))

    options = GenerationOptions(temperature=0.7, max_tokens=6, seed=11)
    conversations = [user("Say hello."), user("Name a colour.")]
    with serve(model) as server:
        server.script = [(500, {}, "{}")]
        chat = OpenAIChat("smollm2", base_url=server.url, cache_path=str(tmp_path / "c.sqlite"), concurrency=2)
        via_http = chat.complete_many(conversations, options)
        assert [r["status"] for r in server.log].count(500) == 1
        rerun = OpenAIChat("smollm2", base_url=server.url, cache_path=str(tmp_path / "c.sqlite"))
        assert rerun.complete_many(conversations, options) == via_http and rerun.stats.sent == 0
    assert via_http == [smollm.complete(c, options) for c in conversations]
    assert all(re.search(r"\w", a) for a in via_http)
    assert len(server.answered()) == 2
    assert threading.active_count() < 50
