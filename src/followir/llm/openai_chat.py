"""Any OpenAI-compatible ``/chat/completions`` endpoint: OpenAI, vLLM, Ollama, TGI, llama.cpp's server.

- ``base_url`` is the argument, else ``$OPENAI_BASE_URL``, else https://api.openai.com/v1. The key comes from
  ``$OPENAI_API_KEY`` (or ``api_key_env``); self-hosted servers may run without one.
- Requests run on a bounded thread pool (``concurrency``) and are spaced by ``requests_per_minute``.
- 429, 5xx, timeouts and lost connections are retried with exponential backoff and jitter, honouring
  Retry-After, at most ``max_retries`` times; other errors stop the run with what to fix.
- Each answer is cached as it arrives (``followir.llm.chat_cache``): a rerun sends nothing already answered.
  An answer whose content is not text (``null``) is retried as a server fault, then fails; it is never cached.
- Error messages and log lines never show the API key (``followir.redaction``).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from urllib.parse import urlparse

from followir.errors import APIError
from followir.llm.base import CachedChatModel, GenerationOptions
from followir.llm.chat_cache import Completion
from followir.llm.cost import PRICES
from followir.llm.limits import RateLimiter, Retryable, bearer_client, retry_after, with_retries
from followir.models.runtime import require

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"


class OpenAIChat(CachedChatModel):
    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 options: GenerationOptions | None = None, concurrency: int = 4,
                 requests_per_minute: float | None = None, max_retries: int = 6, timeout: float = 120.0,
                 backoff: float = 1.0, cache_path: str | None = None,
                 prices: tuple[float, float] | None = None):
        super().__init__(options, cache_path)
        if not model:
            raise ValueError("model is empty: give the served model name, e.g. openai:gpt-3.5-turbo-1106")
        if concurrency < 1:
            raise ValueError(f"concurrency={concurrency}: use at least 1")
        url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        if urlparse(url).scheme not in ("http", "https"):
            raise ValueError(f"base_url={url!r}: use an http(s) URL such as http://localhost:8000/v1")
        self.model, self.base_url, self.api_key_env = model, url, api_key_env
        self.name = f"openai:{model}"
        self.concurrency = concurrency
        self.limiter = RateLimiter(requests_per_minute)
        self.max_retries, self.timeout, self.backoff = max_retries, timeout, backoff
        self.prices = prices if prices is not None else PRICES.get(model)
        self._client = None
        self._client_lock = threading.Lock()

    @property
    def hosted(self) -> bool:
        return urlparse(self.base_url).hostname == "api.openai.com"

    @property
    def paid(self) -> bool:
        return self.hosted

    def describe(self) -> dict:
        return {"kind": "openai-chat", "base_url": self.base_url, "model": self.model}

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _api_key(self) -> str | None:
        key = os.environ.get(self.api_key_env) or None
        if key is None and self.hosted:
            raise APIError(f"no API key for {self.url}: ${self.api_key_env} is not set. Fix: export "
                           f"{self.api_key_env}=<your key>, or pass --base-url for a self-hosted server")
        return key

    def _http(self):
        with self._client_lock:
            return self._make_client()

    def _make_client(self):
        if self._client is None:
            self._client = bearer_client(self._api_key(), self.timeout, self.concurrency)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> "OpenAIChat":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------------------------------
    def _run(self, missing, checked, opts, keys, answers, progress) -> None:
        if self.concurrency == 1 or len(missing) == 1:
            return super()._run(missing, checked, opts, keys, answers, progress)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="followir-chat")
        try:
            futures = {pool.submit(self._ask, checked[i], opts[i], keys[i]): i for i in missing}
            for future in as_completed(futures):  # the first failure stops the run; answers so far are cached
                answers[futures[future]] = future.result()
                progress.advance(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _generate(self, messages: list[dict[str, str]], options: GenerationOptions) -> Completion:
        httpx = require("httpx", "api")
        client = self._http()
        payload: dict[str, object] = {"model": self.model, "messages": messages,
                                      "temperature": options.temperature, "max_tokens": options.max_tokens}
        if options.seed is not None:
            payload["seed"] = options.seed
        if options.top_p is not None:
            payload["top_p"] = options.top_p

        def send() -> Completion:
            self.limiter.acquire()
            try:
                response = client.post(self.url, json=payload)
            except httpx.TransportError as e:  # timeouts, refused or dropped connections
                raise Retryable(f"{type(e).__name__}: {e}") from e
            status = response.status_code
            if status == 429 or status >= 500:
                raise Retryable(f"HTTP {status} {response.text[:200]}", retry_after(response.headers))
            if status >= 400:
                fix = {401: f"check the key in ${self.api_key_env}", 403: f"check the key in ${self.api_key_env}",
                       404: f"check the model name {self.model!r} and base_url {self.base_url}"}.get(
                    status, "check the model name and the generation options")
                raise APIError(f"{self.url} rejected the request (HTTP {status}): {response.text[:500]}. Fix: {fix}")
            try:
                data = response.json()
                choice = data["choices"][0]
                text = choice["message"]["content"]
                usage = data.get("usage") or {}
            except (ValueError, KeyError, IndexError, TypeError) as e:
                raise APIError(f"{self.url} answered with no OpenAI chat completion ({e!r}: {response.text[:200]}). "
                               f"Fix: point base_url at an OpenAI-compatible API root (ending in /v1)") from None
            if not isinstance(text, str):  # null content (a refusal, a tool call, a server fault): never cached
                raise Retryable(f"{self.model} answered with {type(text).__name__ if text is not None else 'null'} "
                                f"message content (finish_reason {choice.get('finish_reason')!r}), not text")
            if not isinstance(usage, dict):
                usage = {}
            if choice.get("finish_reason") == "length":
                log.debug("%s: answer cut at max_tokens=%d", self.name, options.max_tokens)
            return Completion(text, usage.get("prompt_tokens"), usage.get("completion_tokens"))

        return with_retries(send, self.url, self.max_retries, self.backoff)
