"""The one interface every model implements: rerank candidate lists for (query, instruction) requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from followir.records import Document


class Progress(Protocol):
    """Where a model reports its progress (the CLI draws a bar with items per second and ETA)."""

    def start(self, total: int, unit: str) -> None: ...

    def advance(self, n: int) -> None: ...


class NoProgress:
    def start(self, total: int, unit: str) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


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
               progress: Progress | None = None) -> list[dict[str, float]]:
        """One ``{doc_id: score}`` per request, covering every candidate; higher is better."""
        ...

    def describe(self) -> dict:
        """Settings that identify this model's outputs (recorded in results files)."""
        ...
