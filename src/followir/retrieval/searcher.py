"""A followir model as a search engine over a whole corpus: BM25 through bm25s, embedding models through
exact (or HNSW) dense search. Pair scorers (cross-encoders, seq2seq and causal-LM rerankers) cannot search a
collection and are refused with that reason.

Queries and documents are rendered with the model's input template (the same texts ``evaluate`` gives it), or
with a template passed in (the BEIR ablation passes each model's own BEIR prompt format).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from followir.models.base import Progress
from followir.models.templates import Template, get_template
from followir.records import Document, Run
from followir.retrieval.approximate import HNSWSettings

SEARCHING_FAMILIES = ("bm25", "bi-encoder", "api-embedder")


def cannot_search(name: str, family: str) -> str:
    """Why a pair scorer cannot be used here, and what to do instead."""
    return (f"model {name!r} ({family}) scores (query, document) pairs and cannot search a whole collection. "
            f"Fix: use a model of the {', '.join(SEARCHING_FAMILIES)} families here; rerank their results "
            "with 'followir evaluate' on candidate lists instead")


@dataclass(frozen=True)
class SearchRequest:
    """Search the collection for ``query`` under ``instruction`` (empty: the query alone)."""

    query_id: str
    query: str
    instruction: str = ""


class Searcher:
    """Index ``corpus`` for ``model`` once; ``search`` then returns the top k of each request as a ``Run``."""

    def __init__(self, model, corpus: Mapping[str, Document], *, template: Template | None = None,
                 approximate: HNSWSettings | None = None, bm25_method: str = "robertson",
                 progress: Progress | None = None):
        from followir.models.bm25 import BM25
        from followir.models.embedding import EmbeddingReranker

        self.model = model
        self.name = getattr(model, "name", "model")
        doc_ids = list(corpus)
        if isinstance(model, BM25):
            self.template = template or get_template("plain")
            texts = [self.template.render_passage(corpus[d]) for d in doc_ids]
            from followir.retrieval.lexical import LexicalIndex

            if approximate is not None:
                raise ValueError("--approximate applies to dense models; BM25 search is exact and fast")
            self.index = LexicalIndex(doc_ids, texts, k1=model.k1, b=model.b, method=bm25_method,
                                      analyzer=model.analyzer, progress=progress)
        elif isinstance(model, EmbeddingReranker):
            self.template = template or model.template
            texts = [self.template.render_passage(corpus[d]) for d in doc_ids]
            from followir.retrieval.dense import DenseIndex

            self.index = DenseIndex(model, doc_ids, texts, approximate=approximate, progress=progress)
        else:
            described = model.describe() if hasattr(model, "describe") else {}
            family = described.get("family", type(model).__name__)
            raise ValueError(cannot_search(self.name, family))
        self.documents = len(doc_ids)

    def render(self, query: str, instruction: str) -> str:
        """The query text the model sees for ``query`` under ``instruction``."""
        return self.template.render_query(query, instruction)

    def search(self, requests: Sequence[SearchRequest], k: int, progress: Progress | None = None) -> Run:
        if k < 1:
            raise ValueError(f"top-k={k}: must be at least 1")
        ids = [r.query_id for r in requests]
        if len(set(ids)) != len(ids):
            raise ValueError("each search request needs its own query id")
        texts = {r.query_id: self.render(r.query, r.instruction) for r in requests}
        start = time.perf_counter()
        run = self.index.search(texts, k, progress, name=self.name)
        self.last_search_seconds = time.perf_counter() - start
        return run

    def describe(self) -> dict:
        return {"model": self.name, "template": self.template.name, **self.index.describe()}
