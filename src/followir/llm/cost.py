"""Token and cost estimates for chat requests, logged before a paid run.

Tokens are estimated as characters / 4 for prompts; output tokens are what the caller expects per request
(by default the request's ``max_tokens``, an upper bound). Prices are US$ per 1M tokens (input, output) as the
providers published them when this table was written; pass ``prices=`` when they changed or for other models.

>>> str(CostEstimate("gpt-4o-mini", requests=10, prompt_tokens=1000, output_tokens=2000, prices=(0.15, 0.6)))
'gpt-4o-mini: 10 requests, ~1,000 prompt tokens + ~2,000 output tokens (estimated), ~$0.0014'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHARS_PER_TOKEN = 4

# US$ per 1M tokens: (input, output).
PRICES: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo-1106": (1.00, 2.00),  # the paper's generator
    "gpt-3.5-turbo-0125": (0.50, 1.50),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4-1106-preview": (10.00, 30.00),  # the paper's keyword/short-instruction generator (GPT-4-Turbo-1106)
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def messages_tokens(messages: list[dict[str, str]]) -> int:
    """Estimated prompt tokens of a conversation (content plus a few tokens of framing per message)."""
    return sum(estimate_tokens(m["content"]) + 4 for m in messages)


@dataclass(frozen=True)
class CostEstimate:
    """What a run would send: requests not yet cached, their estimated tokens, and the price if known."""

    model: str
    requests: int
    prompt_tokens: int
    output_tokens: int
    prices: tuple[float, float] | None = None  # None: price unknown

    @property
    def cost(self) -> float | None:
        if self.prices is None:
            return None
        return (self.prompt_tokens * self.prices[0] + self.output_tokens * self.prices[1]) / 1e6

    def to_dict(self) -> dict:
        return {"model": self.model, "requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "output_tokens": self.output_tokens, "prices_per_million": list(self.prices) if self.prices else None,
                "cost_usd": self.cost}

    def __str__(self) -> str:
        head = (f"{self.model}: {self.requests:,} requests, ~{self.prompt_tokens:,} prompt tokens + "
                f"~{self.output_tokens:,} output tokens (estimated)")
        if self.cost is None:
            return f"{head}, price unknown (pass prices=(input, output) per 1M tokens to estimate the cost)"
        return f"{head}, ~${self.cost:.4f}"
