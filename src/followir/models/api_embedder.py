"""Embedding APIs as rerankers: OpenAI and OpenAI-compatible servers over HTTP, Cohere and Google via SDKs.

- OpenAI-compatible: ``POST {base_url}/embeddings`` with httpx. ``base_url`` is the argument, else
  ``$OPENAI_BASE_URL``, else https://api.openai.com/v1 (vLLM and TEI servers speak the same protocol). The
  key comes from ``$OPENAI_API_KEY`` (or ``api_key_env``); self-hosted servers may run without one.
- Cohere and Google through their SDKs, with their query/document input types (cached separately).
- Requests respect provider limits: inputs per request, an estimated token budget per request, and texts
  truncated to the model's input limit (tokens are estimated as characters / 4).
- 429, 5xx, timeouts and connection errors are retried with exponential backoff and jitter, honouring
  Retry-After, at most ``max_retries`` times; other errors stop the run with what to fix.
- Every answer is validated before it is cached: one vector per input, each a non-empty list of finite
  numbers of one dimension (``dimensions`` when given, else the dimension already cached for the model). A
  wrong count, a ``null`` or NaN vector or a wrong dimension is retried as a server fault, then fails
  clearly; it never enters the cache. Error messages never show the API key (``followir.redaction``).
- Each request's embeddings are cached (``followir.cache``) as they arrive: a rerun sends no request and an
  interrupted run resumes. The estimated cost of what is not cached is logged before anything is sent.
- Scoring is the bi-encoders' (``EmbeddingReranker``), by cosine similarity.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence
from urllib.parse import urlparse

import numpy as np

from followir.cache import Cache, text_key
from followir.errors import APIError
from followir.llm.limits import Retryable, retry_after, with_retries
from followir.models.base import NoProgress, Progress
from followir.models.embedding import EmbeddingReranker
from followir.models.runtime import open_cache, require
from followir.models.templates import get_template

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
CHARS_PER_TOKEN = 4  # token estimate for batching, truncation and cost


@dataclass(frozen=True)
class ProviderLimits:
    max_inputs: int  # texts per request
    max_request_tokens: int  # estimated tokens per request
    max_input_tokens: int  # estimated tokens per text; longer texts are truncated
    key_env: str  # where the API key is read from by default


PROVIDERS: dict[str, ProviderLimits] = {
    "openai": ProviderLimits(2048, 300_000, 8191, "OPENAI_API_KEY"),
    "cohere": ProviderLimits(96, 96 * 512, 512, "CO_API_KEY"),
    "google": ProviderLimits(100, 100 * 2048, 2048, "GOOGLE_API_KEY"),
}

# Input types of the providers whose embeddings differ for queries and documents.
INPUT_TYPES: dict[str, dict[str, str]] = {
    "cohere": {"query": "search_query", "document": "search_document"},
    "google": {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"},
}

# US$ per 1M input tokens, as published by the providers; pass price_per_million_tokens when it changed.
PRICES: dict[str, float] = {
    "text-embedding-3-large": 0.13,
    "text-embedding-3-small": 0.02,
    "text-embedding-ada-002": 0.10,
    "embed-english-v3.0": 0.10,
    "embed-multilingual-v3.0": 0.10,
    "embed-english-light-v3.0": 0.10,
    "embed-multilingual-light-v3.0": 0.10,
    "text-embedding-004": 0.0,  # free of charge on the Gemini API
    "gemini-embedding-001": 0.15,
}


@dataclass(frozen=True)
class CostEstimate:
    """What a run would send: distinct texts not yet cached, their estimated tokens, and the price."""

    model_id: str
    texts: int
    tokens: int
    price_per_million_tokens: float | None  # None: price unknown

    @property
    def cost(self) -> float | None:
        if self.price_per_million_tokens is None:
            return None
        return self.tokens / 1e6 * self.price_per_million_tokens

    def __str__(self) -> str:
        head = f"{self.model_id}: {self.texts:,} texts to embed, ~{self.tokens:,} tokens (estimated)"
        if self.cost is None:
            return f"{head}, price unknown (pass price_per_million_tokens to estimate the cost)"
        return f"{head}, ~${self.cost:.4f} at ${self.price_per_million_tokens:g} per 1M tokens"


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def plan_requests(tokens: Sequence[int], max_inputs: int, max_tokens: int) -> list[list[int]]:
    """Consecutive indices grouped into requests of at most ``max_inputs`` texts and ``max_tokens`` tokens.

    >>> plan_requests([3, 3, 3, 5, 1], max_inputs=2, max_tokens=7)
    [[0, 1], [2], [3, 4]]
    """
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, n in enumerate(tokens):
        if current and (len(current) >= max_inputs or total + n > max_tokens):
            batches.append(current)
            current, total = [], 0
        current.append(i)
        total += n
    if current:
        batches.append(current)
    return batches


Sender = Callable[[Sequence[str], "str | None"], list]


class APIEmbedder(EmbeddingReranker):
    name = "api-embedder"
    similarity = "cosine"

    def __init__(self, model_id: str, provider: str = "openai", base_url: str | None = None,
                 api_key_env: str | None = None, template: str = "plain", batch_size: int | None = None,
                 max_retries: int = 6, timeout: float = 60.0, cache_path: str | None = None,
                 dimensions: int | None = None, price_per_million_tokens: float | None = None,
                 yes: bool = True, backoff: float = 1.0):
        if provider not in PROVIDERS:
            raise ValueError(f"provider={provider!r}: use one of {', '.join(PROVIDERS)}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: use a positive number of texts per request")
        if max_retries < 0:
            raise ValueError(f"max_retries={max_retries}: use 0 or more")
        self.model_id, self.provider = model_id, provider
        self.limits = PROVIDERS[provider]
        if provider == "openai":
            url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
            if urlparse(url).scheme not in ("http", "https"):
                raise ValueError(f"--base-url (base_url) {url!r} is not an http(s) URL. Fix: give the server's API "
                                 f"root, such as http://localhost:8000/v1")
            self.base_url: str | None = url
        elif base_url:
            raise ValueError(f"base_url applies to OpenAI-compatible servers (provider='openai'), not {provider}")
        else:
            self.base_url = None
        self.api_key_env = api_key_env or self.limits.key_env
        self.template = get_template(template)
        self.batch_size = min(batch_size or self.limits.max_inputs, self.limits.max_inputs)
        self.max_retries, self.timeout, self.backoff = max_retries, timeout, backoff
        self.cache_path = cache_path
        self.dimensions = dimensions
        self.price_per_million_tokens = (price_per_million_tokens if price_per_million_tokens is not None
                                         else PRICES.get(model_id))
        self.yes = yes
        self.last_stats: dict[str, int] = {}

    @property
    def hosted(self) -> bool:
        """The provider's own (paid) service, as opposed to a self-hosted OpenAI-compatible server."""
        return self.provider != "openai" or urlparse(self.base_url).hostname == "api.openai.com"

    def describe(self) -> dict:
        return {"family": "api-embedder", "settings": {
            "provider": self.provider, "model_id": self.model_id, "base_url": self.base_url,
            "template": self.template.name, "query_format": self.template.query_format,
            "document_format": self.template.document_format, "dimensions": self.dimensions,
            "similarity": "cosine", "max_input_tokens": self.limits.max_input_tokens}}

    def _cache_description(self, role: str | None) -> dict:
        d = {"family": "api-embedder", "provider": self.provider, "base_url": self.base_url,
             "model_id": self.model_id, "dimensions": self.dimensions}
        if role is not None:
            d["input_type"] = INPUT_TYPES[self.provider][role]
        return d

    def _role(self, role: str | None) -> str | None:
        """``query`` or ``document`` for providers with input types; None (one embedding per text) otherwise."""
        if self.provider not in INPUT_TYPES:
            return None
        if role not in ("query", "document"):
            raise ValueError(f"role={role!r}: use 'query' or 'document'")
        return role

    def _truncate(self, text: str) -> str:
        return text[:self.limits.max_input_tokens * CHARS_PER_TOKEN] or " "  # APIs reject empty inputs

    # -- the EmbeddingReranker contract ------------------------------------------------------------------

    def encode(self, texts: Sequence[str], progress: Progress | None = None,
               role: str | None = "document") -> dict[str, np.ndarray]:
        """Embeddings of distinct texts, from the cache where stored, else requested and stored."""
        role = self._role(role)
        return self._embed({role: texts}, progress)[role]

    def encode_queries_and_documents(self, queries, documents, progress=None):
        if self.provider not in INPUT_TYPES:
            return super().encode_queries_and_documents(queries, documents, progress)
        out = self._embed({"query": queries, "document": documents}, progress)
        return out["query"], out["document"]

    def estimate_cost(self, texts: Sequence[str], role: str | None = "document") -> CostEstimate:
        """The cost of embedding ``texts``, counting only the distinct texts not already cached."""
        role = self._role(role)
        _, _, _, missing = self._lookup(role, texts)
        return self._estimate(missing)

    # -- embedding with cache, batching and retries ------------------------------------------------------

    def _lookup(self, role: str | None, texts: Sequence[str]
                ) -> tuple[Cache | None, dict[str, str], dict[str, np.ndarray], list[str]]:
        unique = sorted(set(texts), key=lambda t: (len(t), t))
        keys = {t: text_key(t) for t in unique}
        cache = open_cache(self._cache_description(role), self.cache_path)
        stored = cache.get_embeddings(list(keys.values())) if cache else {}
        found = {t: stored[keys[t]] for t in unique if keys[t] in stored}
        return cache, keys, found, [t for t in unique if t not in found]

    def _estimate(self, missing: Sequence[str]) -> CostEstimate:
        tokens = sum(estimate_tokens(self._truncate(t)) for t in missing)
        return CostEstimate(self.model_id, len(missing), tokens, self.price_per_million_tokens)

    def _embed(self, groups: Mapping[str | None, Sequence[str]],
               progress: Progress | None) -> dict[str | None, dict[str, np.ndarray]]:
        progress = progress or NoProgress()
        plans = {role: self._lookup(role, texts) for role, texts in groups.items()}
        out = {role: dict(found) for role, (_, _, found, _) in plans.items()}
        missing_all = [t for (_, _, _, missing) in plans.values() for t in missing]
        progress.start(len(missing_all), "texts")
        requests = 0
        dims: dict[str | None, int | None] = {}  # the dimension each role's vectors must have
        if missing_all:
            with self._session() as send:
                estimate = self._estimate(missing_all)
                paid = self.hosted or bool(estimate.cost)
                log.log(logging.WARNING if paid else logging.INFO, "embedding API cost estimate: %s", estimate)
                if paid and not self.yes:
                    raise APIError(f"not sending a paid run without confirmation ({estimate}). "
                                   f"Fix: pass yes=True to proceed")
                for role, (cache, keys, _, missing) in plans.items():
                    tokens = [estimate_tokens(self._truncate(t)) for t in missing]
                    for batch in plan_requests(tokens, self.batch_size, self.limits.max_request_tokens):
                        chunk = [missing[i] for i in batch]
                        inputs = [self._truncate(t) for t in chunk]
                        if role not in dims:
                            dims[role] = self.dimensions or (cache.embedding_dim() if cache else None)
                        vectors = self._with_retries(lambda inputs=inputs, role=role: self._validated(
                            send(inputs, role), len(inputs), dims, role))
                        fresh = dict(zip(chunk, vectors))
                        if cache:
                            cache.put_embeddings({keys[t]: v for t, v in fresh.items()})
                        out[role].update(fresh)
                        progress.advance(len(chunk))
                        requests += 1
        texts = sum(len(t) for t in groups.values())
        unique = sum(len(keys) for (_, keys, _, _) in plans.values())
        self.last_stats = {"texts": texts, "unique": unique, "cached": unique - len(missing_all),
                           "computed": len(missing_all), "requests": requests}
        return out

    def _validated(self, vectors: object, count: int, dims: dict, role: str | None) -> list[np.ndarray]:
        """The answer as float32 vectors, or ``Retryable`` (a server fault) when it cannot be right: a wrong
        number of vectors, a vector that is null, empty, not numbers or not finite, or of a dimension other
        than the expected one (``dimensions``, the cached vectors', else the answer's first vector's)."""
        fix = f"check that {self._where()} serves embeddings for {self.model_id!r}"
        if not isinstance(vectors, (list, tuple)) or len(vectors) != count:
            n = len(vectors) if isinstance(vectors, (list, tuple)) else type(vectors).__name__
            raise Retryable(f"{self._where()} returned {n} embeddings for {count} inputs ({fix})")
        out = []
        expected = dims.get(role)
        for i, v in enumerate(vectors):
            try:
                if v is None or isinstance(v, (str, bytes, dict)):
                    raise TypeError(type(v).__name__)
                arr = np.asarray(v, dtype=np.float32)
            except (TypeError, ValueError) as e:
                raise Retryable(f"{self._where()} returned embedding {i} that is not a list of numbers ({e}); "
                                f"{fix}") from None
            if arr.ndim != 1 or arr.size == 0:
                raise Retryable(f"{self._where()} returned embedding {i} of shape {arr.shape}, not a non-empty "
                                f"vector; {fix}")
            if not np.isfinite(arr).all():
                raise Retryable(f"{self._where()} returned embedding {i} with "
                                f"{int(arr.size - np.isfinite(arr).sum())} non-finite value(s) (NaN/inf); {fix}")
            if expected is None:
                expected = arr.size
            if arr.size != expected:
                source = ("dimensions=" + str(self.dimensions)) if self.dimensions else \
                    f"the other embeddings of {self.model_id!r} (in this answer or in the cache)"
                raise Retryable(f"{self._where()} returned embedding {i} of dimension {arr.size}, but "
                                f"{source} have dimension {expected}; if the served model changed, use another "
                                f"--cache (or clear this one)")
            out.append(arr)
        dims[role] = expected  # only a valid answer sets the dimension
        return out

    def _with_retries(self, call: Callable[[], list]) -> list:
        return with_retries(call, self._where(), self.max_retries, self.backoff)

    def _where(self) -> str:
        return f"{self.base_url}/embeddings" if self.provider == "openai" else f"{self.provider} embed API"

    def _api_key(self) -> str | None:
        key = os.environ.get(self.api_key_env) or None
        if key is None and self.hosted:
            extra = (" or point base_url ($OPENAI_BASE_URL) at a self-hosted OpenAI-compatible server"
                     if self.provider == "openai" else "")
            raise APIError(f"no API key for {self._where()}: ${self.api_key_env} is not set. "
                           f"Fix: export {self.api_key_env}=<your key>{extra}")
        return key

    @contextmanager
    def _session(self) -> Iterator[Sender]:
        """A function that embeds one request's texts; raises ``_Retry`` for failures worth retrying."""
        if self.provider == "openai":
            with self._openai() as send:
                yield send
        elif self.provider == "cohere":
            yield self._cohere()
        else:
            yield self._google()

    # -- OpenAI-compatible HTTP --------------------------------------------------------------------------

    @contextmanager
    def _openai(self) -> Iterator[Sender]:
        httpx = require("httpx", "api")
        key = self._api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"{self.base_url}/embeddings"

        def send(texts: Sequence[str], role: str | None) -> list:
            payload: dict[str, object] = {"model": self.model_id, "input": list(texts)}
            if self.dimensions:
                payload["dimensions"] = self.dimensions
            try:
                response = client.post(url, json=payload)
            except httpx.TransportError as e:  # timeouts, refused or dropped connections
                raise Retryable(f"{type(e).__name__}: {e}") from e
            status = response.status_code
            if status == 429 or status >= 500:
                raise Retryable(f"HTTP {status} {response.text[:200]}", retry_after(response.headers))
            if status >= 400:
                fix = {401: f"check the key in ${self.api_key_env}", 403: f"check the key in ${self.api_key_env}",
                       404: f"check the model id {self.model_id!r} and base_url {self.base_url}"}.get(
                    status, "check the model id, dimensions and inputs")
                raise APIError(f"{url} rejected the request (HTTP {status}): {response.text[:500]}. Fix: {fix}")
            try:
                data = sorted(response.json()["data"], key=lambda d: d["index"])
                return [d["embedding"] for d in data]
            except (ValueError, KeyError, TypeError) as e:
                raise APIError(f"{url} answered with no OpenAI embeddings ({e!r}: {response.text[:200]}). "
                               f"Fix: point base_url at an OpenAI-compatible API root (ending in /v1)") from None

        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            yield send

    # -- SDK providers (not testable offline; kept small) ------------------------------------------------

    def _sdk_call(self, call: Callable[[], object]) -> object:
        """Runs an SDK call, turning its rate-limit, server and connection errors into ``_Retry``."""
        httpx = require("httpx", "api")
        try:
            return call()
        except httpx.TransportError as e:
            raise Retryable(f"{type(e).__name__}: {e}") from e
        except Exception as e:
            status = getattr(e, "status_code", None) or getattr(e, "code", None)
            if isinstance(status, int) and (status == 429 or status >= 500):
                raise Retryable(f"HTTP {status}: {e}") from e
            if isinstance(status, int):
                raise APIError(f"{self._where()} rejected the request (HTTP {status}): {e}. "
                               f"Fix: check ${self.api_key_env} and the model id {self.model_id!r}") from e
            raise

    def _cohere(self) -> Sender:
        cohere = require("cohere", pip="cohere")
        client = cohere.ClientV2(api_key=self._api_key(), timeout=self.timeout)

        def send(texts: Sequence[str], role: str | None) -> list:
            extra = {"output_dimension": self.dimensions} if self.dimensions else {}
            response = self._sdk_call(lambda: client.embed(
                texts=list(texts), model=self.model_id, input_type=INPUT_TYPES["cohere"][role],
                embedding_types=["float"], truncate="END", **extra))
            return list(response.embeddings.float_)

        return send

    def _google(self) -> Sender:
        genai = require("google.genai", pip="google-genai")
        types = require("google.genai.types", pip="google-genai")
        client = genai.Client(api_key=self._api_key(),
                              http_options=types.HttpOptions(timeout=int(self.timeout * 1000)))

        def send(texts: Sequence[str], role: str | None) -> list:
            config = types.EmbedContentConfig(task_type=INPUT_TYPES["google"][role],
                                              output_dimensionality=self.dimensions)
            response = self._sdk_call(lambda: client.models.embed_content(
                model=self.model_id, contents=list(texts), config=config))
            return [e.values for e in response.embeddings]

        return send
