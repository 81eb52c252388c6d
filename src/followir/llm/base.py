"""The chat-model interface and what every implementation shares: generation options, the request cache,
statistics and the cost estimate.

An implementation provides ``describe()`` (what identifies its answers: provider, endpoint, model) and
``_generate(messages, options) -> Completion``; the base class looks every request up in the cache first and
stores each answer as it arrives, so a rerun sends nothing already answered.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Mapping, Protocol, Sequence

from followir.llm.chat_cache import ChatCache, Completion, request_key
from followir.llm.cost import CostEstimate, messages_tokens
from followir.models.base import NoProgress, Progress
from followir.models.runtime import default_cache_path

log = logging.getLogger(__name__)

Messages = Sequence[Mapping[str, str]]
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling settings of a request; all of them are part of the cache key."""

    temperature: float = 0.7
    max_tokens: int = 1024
    seed: int | None = None
    top_p: float | None = None

    def __post_init__(self):
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature}: use a value >= 0")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens}: use a positive number of tokens")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p}: use a value in (0, 1]")

    def with_seed(self, seed: int | None) -> "GenerationOptions":
        return replace(self, seed=seed)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChatStats:
    requests: int = 0  # conversations asked for
    cached: int = 0  # answered from the cache
    sent: int = 0  # answered by the model in this process
    prompt_tokens: int = 0  # reported by the model for sent requests (when it reports them)
    completion_tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"requests": self.requests, "cached": self.cached, "sent": self.sent,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


class ChatModel(Protocol):
    """Anything that answers chat conversations with text."""

    name: str
    options: GenerationOptions

    def complete(self, messages: Messages, options: GenerationOptions | None = None) -> str:
        """The answer to one conversation (``[{"role": ..., "content": ...}, ...]``)."""
        ...

    def complete_many(self, conversations: Sequence[Messages],
                      options: GenerationOptions | Sequence[GenerationOptions] | None = None,
                      progress: Progress | None = None) -> list[str]:
        """Answers to several conversations, in order."""
        ...

    def estimate_cost(self, conversations: Sequence[Messages],
                      options: GenerationOptions | Sequence[GenerationOptions] | None = None,
                      expected_output_tokens: int | None = None) -> CostEstimate:
        """Tokens and price of the conversations not yet cached."""
        ...

    def describe(self) -> dict:
        ...


def check_messages(messages: Messages) -> list[dict[str, str]]:
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or set(m) != {"role", "content"}:
            raise ValueError(f"message {i} must be {{'role': ..., 'content': ...}}, got {m!r}")
        if m["role"] not in ROLES or not isinstance(m["content"], str):
            raise ValueError(f"message {i}: role must be one of {ROLES} and content a string, got {m!r}")
        out.append({"role": m["role"], "content": m["content"]})
    if not out:
        raise ValueError("a conversation needs at least one message")
    return out


class CachedChatModel:
    """Base class: cache lookups, statistics, cost estimates; subclasses implement ``_generate``."""

    name = "chat"
    prices: tuple[float, float] | None = None

    def __init__(self, options: GenerationOptions | None = None, cache_path: str | None = None):
        self.options = options or GenerationOptions()
        self.cache_path = cache_path
        self.stats = ChatStats()
        self._cache: ChatCache | None = None
        self._cache_opened = False

    # -- to implement ------------------------------------------------------------------------------------
    def describe(self) -> dict:
        raise NotImplementedError

    def _generate(self, messages: list[dict[str, str]], options: GenerationOptions) -> Completion:
        raise NotImplementedError

    @property
    def paid(self) -> bool:
        """Whether requests cost money (a hosted API); decides whether the estimate is logged as a warning."""
        return False

    # -- cache ---------------------------------------------------------------------------------------------
    @property
    def cache(self) -> ChatCache | None:
        if not self._cache_opened:
            path = self.cache_path
            if path is None or str(path).lower() not in ("none", "off", ""):
                self._cache = ChatCache(path or default_cache_path(), self.describe())
            self._cache_opened = True
        return self._cache

    def _options_list(self, n: int, options) -> list[GenerationOptions]:
        if options is None or isinstance(options, GenerationOptions):
            return [options or self.options] * n
        options = list(options)
        if len(options) != n:
            raise ValueError(f"{len(options)} option sets for {n} conversations; give one per conversation")
        return options

    # -- asking --------------------------------------------------------------------------------------------
    def complete(self, messages: Messages, options: GenerationOptions | None = None) -> str:
        return self.complete_many([messages], options)[0]

    def complete_many(self, conversations: Sequence[Messages],
                      options: GenerationOptions | Sequence[GenerationOptions] | None = None,
                      progress: Progress | None = None) -> list[str]:
        progress = progress or NoProgress()
        opts = self._options_list(len(conversations), options)
        checked = [check_messages(m) for m in conversations]
        keys = [request_key(m, o.to_dict()) for m, o in zip(checked, opts)]
        answers: list[str | None] = [None] * len(checked)
        first: dict[str, int] = {}  # identical requests in one call are sent once
        cache = self.cache
        for i, key in enumerate(keys):
            if key in first:
                continue
            hit = cache.get(key) if cache else None
            if hit is not None:
                answers[i] = hit.text
            first[key] = i
        missing = [i for i in first.values() if answers[i] is None]
        with self.stats.lock:
            self.stats.requests += len(checked)
            self.stats.cached += len(first) - len(missing)
        progress.start(len(missing), "requests")
        if missing:
            self._run(missing, checked, opts, keys, answers, progress)
        return [answers[first[k]] or "" for k in keys]

    def _run(self, missing, checked, opts, keys, answers, progress) -> None:
        """Answer the missing requests (sequentially here; the HTTP client overrides with a thread pool)."""
        for i in missing:
            answers[i] = self._ask(checked[i], opts[i], keys[i])
            progress.advance(1)

    def _ask(self, messages: list[dict[str, str]], options: GenerationOptions, key: str) -> str:
        completion = self._generate(messages, options)
        if self.cache:
            self.cache.put(key, completion)
        with self.stats.lock:
            self.stats.sent += 1
            self.stats.prompt_tokens += completion.prompt_tokens or 0
            self.stats.completion_tokens += completion.completion_tokens or 0
        return completion.text

    # -- cost ----------------------------------------------------------------------------------------------
    def estimate_cost(self, conversations: Sequence[Messages],
                      options: GenerationOptions | Sequence[GenerationOptions] | None = None,
                      expected_output_tokens: int | None = None) -> CostEstimate:
        opts = self._options_list(len(conversations), options)
        checked = [check_messages(m) for m in conversations]
        keys = {request_key(m, o.to_dict()): (m, o) for m, o in zip(checked, opts)}
        stored = self.cache.contains(list(keys)) if self.cache else set()
        todo = [(m, o) for k, (m, o) in keys.items() if k not in stored]
        prompt = sum(messages_tokens(m) for m, _ in todo)
        output = sum(expected_output_tokens or o.max_tokens for _, o in todo)
        return CostEstimate(self.name, len(todo), prompt, output, self.prices)

    def log_estimate(self, estimate: CostEstimate) -> None:
        paid = self.paid or bool(estimate.cost)
        log.log(logging.WARNING if paid and estimate.requests else logging.INFO,
                "generator cost estimate: %s", estimate)
