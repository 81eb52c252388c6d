"""Staying within a service's limits: a requests-per-minute limiter and retries with backoff.

- ``RateLimiter`` spaces requests evenly (``60 / rpm`` seconds apart), across threads.
- ``with_retries`` retries ``Retryable`` failures (429, 5xx, timeouts, lost connections) with exponential
  backoff and jitter, honouring the server's Retry-After, at most ``max_retries`` times.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Mapping, TypeVar

from followir.errors import APIError
from followir.redaction import redact

__all__ = ["RateLimiter", "Retryable", "redact", "retry_after", "with_retries"]

log = logging.getLogger(__name__)

MAX_DELAY_S = 60.0  # longest wait between two attempts, Retry-After included
T = TypeVar("T")


def _sleep(seconds: float) -> None:  # tests replace it to record delays
    time.sleep(seconds)


class Retryable(Exception):
    """A failure worth another attempt (rate limit, server error, timeout, lost connection, a malformed or
    invalid answer). Its reason is kept with credentials masked."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(redact(reason))
        self.retry_after = retry_after


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait (``retry-after-ms``, or ``Retry-After`` in seconds or as a date).

    >>> retry_after({"retry-after": "2"}), retry_after({"retry-after-ms": "1500"}), retry_after({})
    (2.0, 1.5, None)
    """
    try:
        if headers.get("retry-after-ms") is not None:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return (when - datetime.now(timezone.utc)).total_seconds()
    except (TypeError, ValueError):
        return None


def with_retries(call: Callable[[], T], where: str, max_retries: int, backoff: float = 1.0) -> T:
    last: Retryable | None = None
    for attempt in range(max_retries + 1):
        try:
            return call()
        except Retryable as e:
            last = e
            if attempt == max_retries:
                break
            delay = e.retry_after if e.retry_after is not None else backoff * 2 ** attempt * random.uniform(0.5, 1.0)
            delay = min(max(delay, 0.0), MAX_DELAY_S)
            log.info("%s: %s; retry %d of %d in %.2fs", redact(where), e, attempt + 1, max_retries, delay)
            _sleep(delay)
    raise APIError(f"{where} failed {max_retries + 1} times; last error: {last}. Fix: check that the service is "
                   f"up and reachable, then rerun (finished requests are cached), or raise max_retries")


class RateLimiter:
    """At most ``requests_per_minute`` requests per minute, evenly spaced; ``None`` means no limit."""

    def __init__(self, requests_per_minute: float | None, clock: Callable[[], float] = time.monotonic):
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError(f"requests_per_minute={requests_per_minute}: give a positive number, or None for "
                             f"no limit")
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.clock = clock
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> float:
        """Wait for the next free slot; returns the seconds waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            _sleep(wait)
        return wait


def bearer_client(api_key: str | None, timeout: float, connections: int):
    """An ``httpx.Client`` for an OpenAI-compatible API: the key as a Bearer header (none for keyless servers),
    ``timeout`` seconds per request, at most ``connections`` at once."""
    from followir.models.runtime import require

    httpx = require("httpx", "api")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(timeout=timeout, headers=headers, limits=httpx.Limits(max_connections=connections))
