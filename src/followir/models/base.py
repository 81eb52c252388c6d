"""The one interface every model implements: rerank candidate lists for (query, instruction) requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

from followir.records import Document

# Called with the number of requests finished since the last call; drives progress bars.
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class RankRequest:
    """Rank ``candidates`` for ``query`` under ``instruction`` (empty for the no-instruction variant)."""

    query_id: str
    variant: str
    query: str
    instruction: str
    candidates: tuple[str, ...]

    @property
    def text(self) -> str:
        """``query + " " + instruction``: the paper's input for models without a special format."""
        return f"{self.query} {self.instruction}".strip()


class Reranker(Protocol):
    name: str

    def rerank(self, requests: Sequence[RankRequest], corpus: Mapping[str, Document],
               progress: ProgressCallback | None = None) -> list[dict[str, float]]:
        """One ``{doc_id: score}`` per request, covering every candidate; higher is better."""
        ...

    def describe(self) -> dict:
        """Settings that identify this model's outputs (recorded in results files)."""
        ...
