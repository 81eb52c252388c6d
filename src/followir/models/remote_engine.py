"""The causal-LM yes/no score from a running OpenAI-compatible server (vLLM, SGLang) via ``/completions``.

The prompt is sent as token ids (the completions API accepts a list of integers), tokenized locally exactly
as the transformers engine tokenizes it, so the server sees the same input token for token. One request per
pair asks for one generated token with the top ``top_logprobs`` (default 20) logprobs at that position;
keys come back as ``token_id:N`` where the server supports ``return_tokens_as_token_ids`` (vLLM), else as
token strings, matched through the local tokenizer. p(true) is the log-softmax over the two answer tokens:
both logprobs are raw log-probabilities over the whole vocabulary at the same position, so their difference
is the difference of the two logits, exactly what the transformers engine uses. When an answer token is not
in the top ``top_logprobs``, its logprob is read with a second request that appends it to the prompt and
asks for prompt logprobs (``echo``), so the score stays exact; the shared prefix is cached by the server.

Requests run on a bounded thread pool, spaced by ``requests_per_minute``; 429, 5xx, timeouts and lost
connections are retried with backoff (``followir.llm.limits``, the chat client's machinery); the API key is
never shown (``followir.redaction``).
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence
from urllib.parse import urlparse

from followir.errors import APIError, OptionError
from followir.llm.limits import RateLimiter, Retryable, bearer_client, retry_after, with_retries
from followir.models.runtime import require


class OpenAICompletionsScorer:
    def __init__(self, base_url: str | None, model: str, answer_ids: tuple[int, int], tokenizer,
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8, requests_per_minute: float | None = None,
                 max_retries: int = 6, timeout: float = 120.0, backoff: float = 1.0, top_logprobs: int = 20):
        url = (base_url or os.environ.get("OPENAI_BASE_URL") or "").rstrip("/")
        if not url:
            raise OptionError("--engine openai needs the server: give --base-url http://HOST:PORT/v1 "
                              "(a vLLM or SGLang server started with the same model)")
        if urlparse(url).scheme not in ("http", "https"):
            raise OptionError(f"--base-url {url!r}: use an http(s) URL such as http://localhost:8000/v1")
        if top_logprobs < 2:
            raise OptionError(f"top_logprobs={top_logprobs}: use at least 2")
        self.base_url, self.model, self.answer_ids = url, model, tuple(answer_ids)
        self.tokenizer, self.api_key_env = tokenizer, api_key_env
        self.concurrency, self.limiter = max(1, concurrency), RateLimiter(requests_per_minute)
        self.max_retries, self.timeout, self.backoff = max_retries, timeout, backoff
        self.top_logprobs = top_logprobs
        self._client = None
        self._lock = threading.Lock()
        self.echo_requests = 0  # second requests made because an answer token was not in the top logprobs

    @property
    def url(self) -> str:
        return f"{self.base_url}/completions"

    def _http(self):
        with self._lock:
            if self._client is None:
                self._client = bearer_client(os.environ.get(self.api_key_env) or None, self.timeout,
                                             self.concurrency)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __getstate__(self) -> dict:  # Ray replicas open their own connections
        state = dict(self.__dict__)
        state["_client"], state["_lock"] = None, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _post(self, payload: dict) -> dict:
        httpx = require("httpx", "api")
        client = self._http()

        def send() -> dict:
            self.limiter.acquire()
            try:
                response = client.post(self.url, json=payload)
            except httpx.TransportError as e:
                raise Retryable(f"{type(e).__name__}: {e}") from e
            status = response.status_code
            if status == 429 or status >= 500:
                raise Retryable(f"HTTP {status} {response.text[:200]}", retry_after(response.headers))
            if status >= 400:
                raise APIError(f"{self.url} rejected the request (HTTP {status}): {response.text[:500]}. Fix: check "
                               f"that the server serves {self.model!r} (the name given to --served-model-name, "
                               f"default the model id) and supports logprobs on /completions")
            try:
                return response.json()["choices"][0]["logprobs"]
            except (ValueError, KeyError, IndexError, TypeError) as e:
                raise APIError(f"{self.url} answered with no completion logprobs ({e!r}: {response.text[:200]}). "
                               f"Fix: point --base-url at an OpenAI-compatible API root (ending in /v1)") from None

        return with_retries(send, self.url, self.max_retries, self.backoff)

    def _token_keys(self, token_id: int) -> tuple[str, ...]:
        """Keys a server may use for ``token_id``: ``token_id:N``, the vocabulary entry, and its decoded text when
        no other token decodes to the same text (else an ambiguous key is not trusted: the echo request decides)."""
        tok = self.tokenizer
        keys = [f"token_id:{token_id}", tok.convert_ids_to_tokens(token_id)]
        decoded = tok.decode([token_id])
        if self._decoded_counts().get(decoded, 0) == 1:
            keys.append(decoded)
        return tuple(keys)

    def _decoded_counts(self) -> dict[str, int]:
        counts = getattr(self, "_decoded", None)
        if counts is None:
            from collections import Counter

            counts = self._decoded = dict(Counter(self.tokenizer.decode([i]) for i in range(len(self.tokenizer))))
        return counts

    def _lookup(self, top: dict, token_id: int) -> float | None:
        for key in self._token_keys(token_id):
            if key in top and top[key] is not None:
                return float(top[key])
        return None

    def _echo_logprob(self, ids: Sequence[int], token_id: int) -> float:
        """log p(token | prompt) from the prompt logprobs of prompt + token."""
        self.echo_requests += 1
        logprobs = self._post({"model": self.model, "prompt": list(ids) + [token_id], "max_tokens": 1,
                               "temperature": 0, "echo": True, "logprobs": 1, "return_tokens_as_token_ids": True})
        values = logprobs.get("token_logprobs") or []
        if len(values) <= len(ids) or values[len(ids)] is None:
            raise APIError(f"{self.url} returned no prompt logprobs with echo=true ({len(values)} values for "
                           f"{len(ids) + 1} prompt tokens). Fix: use a server that supports echo with logprobs "
                           f"(vLLM does), or raise top_logprobs so both answer tokens are in the top list")
        return float(values[len(ids)])

    def score_one(self, ids: Sequence[int]) -> float:
        logprobs = self._post({"model": self.model, "prompt": list(ids), "max_tokens": 1, "temperature": 0,
                               "logprobs": self.top_logprobs, "return_tokens_as_token_ids": True})
        tops = logprobs.get("top_logprobs") or []
        top = tops[0] if tops and isinstance(tops[0], dict) else {}
        values = []
        for token_id in self.answer_ids:
            value = self._lookup(top, token_id)
            values.append(value if value is not None else self._echo_logprob(ids, token_id))
        lt, lf = values
        peak = max(lt, lf)
        if not math.isfinite(peak):
            return float("nan")
        return math.exp(lt - peak) / (math.exp(lt - peak) + math.exp(lf - peak))

    def score_ids(self, prompts: Sequence[Sequence[int]]) -> list[float]:
        """p(true) in [0, 1] for each token-id prompt, in input order; requests run ``concurrency`` at a time."""
        if self.concurrency == 1 or len(prompts) == 1:
            return [self.score_one(ids) for ids in prompts]
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="followir-completions") as pool:
            return list(pool.map(self.score_one, prompts))
