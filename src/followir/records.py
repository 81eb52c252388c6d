"""The records everything else passes around: documents, queries, judgements, runs and tasks.

og vs changed is an explicit ``Variant``, never an id suffix; ids with ``-og``/``-changed`` suffixes
are converted at the edge by the MTEB-layout reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

Variant = Literal["og", "changed"]
VARIANTS: tuple[Variant, Variant] = ("og", "changed")


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str = ""

    @property
    def full_text(self) -> str:
        """Title and text joined by a space, ends stripped: ``(title + " " + text).strip()``, the passage text
        MTEB gave every FollowIR model (mteb 1.7 ``RetrievalEvaluator.search_cross_encoder`` and ``DRESModel``)."""
        return f"{self.title} {self.text}".strip()


@dataclass(frozen=True)
class Query:
    """A FollowIR query: the query text with its original (og) and altered (changed) instruction."""

    id: str
    text: str
    instruction_og: str
    instruction_changed: str
    keywords: str | None = None
    short_instruction: str | None = None

    def instruction(self, variant: str) -> str:
        """The instruction text of a variant: og, changed, none (empty), keywords or short."""
        if variant == "og":
            return self.instruction_og
        if variant == "changed":
            return self.instruction_changed
        if variant == "none":
            return ""
        if variant == "keywords":
            return self.keywords or ""
        if variant == "short":
            return self.short_instruction or ""
        raise ValueError(f"unknown instruction variant {variant!r}; use og, changed, none, keywords or short")


@dataclass(frozen=True)
class Qrels:
    """Relevance judgements: query id -> document id -> integer relevance."""

    judgements: Mapping[str, Mapping[str, int]]

    def relevant(self, query_id: str) -> frozenset[str]:
        """Documents judged relevant (> 0) for a query."""
        return frozenset(d for d, r in self.judgements.get(query_id, {}).items() if r > 0)

    def query_ids(self) -> list[str]:
        return list(self.judgements)

    def __len__(self) -> int:
        return sum(len(d) for d in self.judgements.values())

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {q: dict(d) for q, d in self.judgements.items()}


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Document ids best first. Ties on score are broken by document id, descending (as trec_eval does).

    >>> rank_documents({"a": 1.0, "b": 1.0, "c": 2.0})
    ['c', 'b', 'a']
    """
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


@dataclass(frozen=True)
class Run:
    """A ranking per query: query id -> document id -> score (higher is better)."""

    scores: Mapping[str, Mapping[str, float]]
    name: str = "followir"

    def ranking(self, query_id: str) -> list[str]:
        return rank_documents(self.scores.get(query_id, {}))

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {q: dict(d) for q, d in self.scores.items()}


def derive_changed_documents(og: Qrels, changed: Qrels) -> dict[str, frozenset[str]]:
    """Documents relevant under the og qrels and not relevant (<= 0 or unjudged) under the changed qrels.

    >>> og = Qrels({"1": {"a": 1, "b": 2, "c": 0}})
    >>> ch = Qrels({"1": {"a": 1, "b": 0}})
    >>> sorted(derive_changed_documents(og, ch)["1"])
    ['b']
    """
    return {q: og.relevant(q) - changed.relevant(q) for q in og.judgements}


# The paper's main score per collection: MAP for Robust04 and Core17, nDCG@5 for News21.
MAIN_METRIC_MAP = "map_cut_1000"
MAIN_METRIC_NDCG5 = "ndcg_cut_5"


@dataclass(frozen=True)
class Task:
    """Everything needed to evaluate instruction following on one collection."""

    name: str
    queries: tuple[Query, ...]
    corpus: Mapping[str, Document]
    qrels_og: Qrels
    qrels_changed: Qrels
    candidates: Mapping[str, tuple[str, ...]]
    changed_documents: Mapping[str, frozenset[str]]
    main_metric: str = MAIN_METRIC_MAP
    source: str = ""
    revision: str | None = None
    missing_candidates: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)

    def query(self, query_id: str) -> Query:
        for q in self.queries:
            if q.id == query_id:
                return q
        raise KeyError(f"query {query_id!r} is not in task {self.name!r}")

    def qrels(self, variant: str) -> Qrels:
        return self.qrels_og if variant == "og" else self.qrels_changed
