"""Shared machinery of the pair scorers (cross-encoders, seq2seq and causal-LM rerankers).

- Every identical (query text, document text) pair is scored once per run, whatever the number of
  queries, variants and reruns that ask for it.
- Pairs are sorted by length so batches hold texts of similar length (little padding); batches are cut by
  a token budget, so short pairs go in large batches and long ones in small batches.
- The batch plan depends only on the set of pairs, and each batch is written to the cache in one
  transaction: a run killed at any moment and started again skips every stored batch and recomputes the
  others exactly as the first run would have.
- A backend that serves prompts with a shared head from a prefix cache (vLLM, a vLLM/SGLang server) sets
  ``groups_by_prefix``: its pairs are ordered by query text, so a query's candidates go out together and
  reuse the cached prompt head, and batches are cut by count.
- A backend with ``ray`` set (``followir.models.ray_engine.RaySettings``) has its batches scored by Ray actors,
  one model replica each; batches are cached in the order they finish, so the guarantees above still hold.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

from followir.cache import Cache, text_key
from followir.errors import InputTooLongError, ModelOutputError
from followir.models.base import NoProgress, Progress, RankRequest
from followir.records import Document

log = logging.getLogger(__name__)


class PairBackend(Protocol):
    def length(self, query: str, document: str) -> int:
        """Cost of a pair for batching (tokens, or characters as an estimate)."""

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Scores of a batch of (query text, document text) pairs."""

    # Optional: ``check_query(query) -> None`` raises ``InputTooLongError`` (without the query id, which the
    # engine adds) when the query text leaves no room for any document within the model's max_length.


@dataclass
class PairStats:
    requested: int = 0  # pairs asked for, over all requests
    unique: int = 0  # distinct (query text, document text) pairs
    cached: int = 0  # of those, found in the cache
    computed: int = 0  # scored by the model in this run
    batches: int = 0


def model_name(backend: object) -> str:
    """How an error names the model: its id (hub id or path) and family."""
    family = getattr(type(backend), "name", None) or type(backend).__name__  # the instance's is the model name
    return f"the {family} model {getattr(backend, 'model_id', '?')}"


def plan_batches(lengths: Sequence[int], token_budget: int, max_batch: int) -> list[list[int]]:
    """Indices grouped into batches, longest first, each within ``token_budget`` padded tokens.

    >>> plan_batches([5, 50, 10, 48], token_budget=100, max_batch=8)
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        new_width = max(width, lengths[i], 1)
        if current and (new_width * (len(current) + 1) > token_budget or len(current) >= max_batch):
            batches.append(current)
            current, width = [], 0
            new_width = max(lengths[i], 1)
        current.append(i)
        width = new_width
    if current:
        batches.append(current)
    return batches


def plan_prefix_batches(queries: Sequence[str], lengths: Sequence[int], max_batch: int) -> list[list[int]]:
    """Indices grouped by query text (then longest first), cut into batches of at most ``max_batch``.

    >>> plan_prefix_batches(["b", "a", "b", "a"], [1, 2, 3, 4], max_batch=3)
    [[3, 1, 2], [0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (queries[i], -lengths[i], i))
    step = max(1, max_batch)
    return [order[start:start + step] for start in range(0, len(order), step)]


def score_requests(
    requests: Sequence[RankRequest],
    corpus: Mapping[str, Document],
    render_query: Callable[[RankRequest], str],
    render_document: Callable[[Document], str],
    backend: PairBackend,
    cache: Cache | None,
    token_budget: int,
    max_batch: int,
    progress: Progress | None = None,
) -> tuple[list[dict[str, float]], PairStats]:
    stats = PairStats()
    pair_of_request: list[list[str]] = []
    pairs: dict[str, tuple[str, str]] = {}
    origin: dict[str, tuple[RankRequest, str]] = {}  # first (request, document id) asking for each pair
    doc_texts: dict[str, str] = {}
    checked: set[str] = set()
    check_query = getattr(backend, "check_query", None)
    for request in requests:
        query = render_query(request)
        if check_query is not None and query not in checked and request.candidates:
            try:
                check_query(query)
            except InputTooLongError as e:
                raise InputTooLongError(f"query {request.query_id} ({request.variant} instruction): {e}") from None
            checked.add(query)
        keys = []
        for doc_id in request.candidates:
            text = doc_texts.get(doc_id)
            if text is None:
                text = doc_texts[doc_id] = render_document(corpus[doc_id])
            key = text_key(query, text)
            pairs.setdefault(key, (query, text))
            origin.setdefault(key, (request, doc_id))
            keys.append(key)
        pair_of_request.append(keys)
        stats.requested += len(keys)
    stats.unique = len(pairs)
    keys = list(pairs)
    scores: dict[str, float] = cache.get_scores(keys) if cache else {}
    stats.cached = len(scores)
    progress = progress or NoProgress()
    progress.start(stats.unique - stats.cached, "pairs")
    lengths = [backend.length(*pairs[k]) for k in keys]
    if getattr(backend, "groups_by_prefix", False):
        plan = plan_prefix_batches([pairs[k][0] for k in keys], lengths, max_batch)
    else:
        plan = plan_batches(lengths, token_budget, max_batch)
    todo = [[keys[i] for i in batch] for batch in plan if not all(keys[i] in scores for i in batch)]
    ray_settings = getattr(backend, "ray", None)
    if ray_settings is not None and todo:
        from followir.models.ray_engine import map_on_ray

        finished = map_on_ray(backend, "score", [[pairs[k] for k in batch] for batch in todo], ray_settings)
    else:
        finished = ((n, backend.score([pairs[k] for k in batch])) for n, batch in enumerate(todo))
    for n, values in finished:
        batch_keys = todo[n]
        fresh = dict(zip(batch_keys, (float(v) for v in values), strict=True))
        for key, value in fresh.items():
            if not math.isfinite(value):
                request, doc_id = origin[key]
                raise ModelOutputError(
                    f"{model_name(backend)} gave a non-finite score ({value}) to query {request.query_id} "
                    f"({request.variant} instruction) and document {doc_id}; it was not cached. Fix: check the "
                    f"model's weights and dtype (float16 overflows give inf/nan: load it in float32 or "
                    f"bfloat16), then rerun; pairs scored so far are cached")
        if cache:
            cache.put_scores(fresh)
        scores.update(fresh)
        stats.computed += len(fresh)
        stats.batches += 1
        progress.advance(len(batch_keys))
    results = [{doc: scores[key] for doc, key in zip(r.candidates, ks)} for r, ks in zip(requests, pair_of_request)]
    log.info("pairs: %d requested, %d unique, %d from cache, %d computed in %d batches",
             stats.requested, stats.unique, stats.cached, stats.computed, stats.batches)
    return results, stats
