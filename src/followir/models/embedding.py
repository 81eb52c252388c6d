"""What the embedding families share (bi-encoders, embedding APIs): rank by query-document similarity.

A subclass sets ``template`` and ``similarity`` ('cosine' or 'dot') and implements
``encode(texts, progress) -> {text: vector}``; ``rerank`` renders the texts with the template, embeds every
distinct text once, and scores each candidate list.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from followir.errors import ModelOutputError
from followir.models.base import Progress, RankRequest
from followir.models.templates import Template
from followir.records import Document


class EmbeddingReranker:
    template: Template
    similarity: str | None = None

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def encode_queries_and_documents(self, queries: Sequence[str], documents: Sequence[str],
                                     progress: Progress | None = None
                                     ) -> tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]:
        """Vectors of the query texts and of the document texts (one ``encode`` call unless overridden)."""
        vectors = self.encode(list(queries) + list(documents), progress)
        return vectors, vectors

    def resolved_similarity(self) -> str:
        """The similarity to score with, once known (after encoding)."""
        return self.similarity or "cosine"

    def _model_label(self) -> str:
        return f"the {getattr(type(self), 'name', 'embedding')} model {getattr(self, 'model_id', '?')}"

    def _check_finite(self, requests, queries, doc_ids, doc_text, query_vectors, doc_vectors) -> None:
        """A non-finite vector (never cached) stops the run, naming the model, the query and the document."""
        def bad(vector) -> bool:
            v = np.asarray(vector, dtype=np.float32)
            return v.ndim != 1 or v.size == 0 or not np.isfinite(v).all()

        for request, query in zip(requests, queries):
            if bad(query_vectors[query]):
                raise ModelOutputError(f"{self._model_label()} gave a non-finite vector for query "
                                       f"{request.query_id} ({request.variant} instruction); it was not cached. "
                                       f"Fix: check the model's weights and dtype, then rerun")
        for d in doc_ids:
            if bad(doc_vectors[doc_text[d]]):
                users = [r for r in requests if d in r.candidates]
                who = f"query {users[0].query_id} ({users[0].variant} instruction)" if users else "no query"
                raise ModelOutputError(f"{self._model_label()} gave a non-finite vector for document {d} (a "
                                       f"candidate of {who}); it was not cached. Fix: check the model's weights "
                                       f"and dtype, then rerun")

    def rerank(self, requests: Sequence[RankRequest], corpus: Mapping[str, Document],
               progress: Progress | None = None) -> list[dict[str, float]]:
        queries = [self.template.render_query(r.query, r.instruction) for r in requests]
        doc_ids = list(dict.fromkeys(d for r in requests for d in r.candidates))
        doc_text = {d: self.template.render_passage(corpus[d]) for d in doc_ids}
        query_vectors, doc_vectors = self.encode_queries_and_documents(queries, list(doc_text.values()), progress)
        self._check_finite(requests, queries, doc_ids, doc_text, query_vectors, doc_vectors)
        similarity = self.resolved_similarity()
        docs = np.stack([doc_vectors[doc_text[d]] for d in doc_ids]) if doc_ids else np.zeros((0, 1), np.float32)
        if similarity == "cosine":
            docs = docs / np.maximum(np.linalg.norm(docs, axis=1, keepdims=True), 1e-12)
        row = {d: i for i, d in enumerate(doc_ids)}
        results = []
        for request, query in zip(requests, queries):
            q = query_vectors[query]
            if similarity == "cosine":
                q = q / max(float(np.linalg.norm(q)), 1e-12)
            idx = np.fromiter((row[d] for d in request.candidates), dtype=np.int64, count=len(request.candidates))
            scores = docs[idx] @ q
            if not np.isfinite(scores).all():
                bad = request.candidates[int(np.flatnonzero(~np.isfinite(scores))[0])]
                raise ModelOutputError(f"{self._model_label()} gave a non-finite score to query {request.query_id} "
                                       f"({request.variant} instruction) and document {bad} (its vectors overflow "
                                       f"float32). Fix: check the model's weights and dtype")
            results.append(dict(zip(request.candidates, scores.astype(np.float64).tolist())))
        return results
