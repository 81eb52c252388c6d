"""Dense retrieval over a whole corpus with an embedding model (bi-encoders, embedding APIs).

Documents are embedded once through the model's own ``encode`` (which caches every distinct text in SQLite),
held as one float32 matrix, and searched exactly by default: queries times documents in blocks of rows, the
top k of each row chosen with ``argpartition`` and ordered with followir's tie rule (score, then document id,
descending). Cosine models have both sides L2-normalised first, so the product is the cosine; dot-product
models are searched as they are. ``approximate=HNSWSettings(...)`` searches an HNSW graph instead (faiss),
for corpora where the exact product is too slow.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from followir.models.base import NoProgress, Progress
from followir.records import Run
from followir.retrieval.topk import id_ranks, top_k

if TYPE_CHECKING:
    from followir.models.embedding import EmbeddingReranker
    from followir.retrieval.approximate import HNSWSettings

log = logging.getLogger(__name__)

BLOCK_ELEMENTS = 1 << 24  # scores held at once in exact search (64 MiB of float32)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def exact_search(queries: np.ndarray, documents: np.ndarray, k: int, ranks: np.ndarray,
                 block_elements: int = BLOCK_ELEMENTS) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each query row, the indices of its top ``k`` documents by inner product and their scores.

    Ties are broken by document id, descending (``ranks`` from ``id_ranks``). Query rows are processed in
    blocks so that at most ``block_elements`` scores exist at once.
    """
    if queries.ndim != 2 or documents.ndim != 2 or queries.shape[1] != documents.shape[1]:
        raise ValueError(f"shapes do not match: queries {queries.shape}, documents {documents.shape}")
    rows = max(1, block_elements // max(documents.shape[0], 1))
    out = []
    for start in range(0, queries.shape[0], rows):
        block = queries[start:start + rows] @ documents.T
        for row in block:
            best = top_k(row, k, ranks)
            out.append((best, row[best]))
    return out


class DenseIndex:
    """An embedding model's vectors of ``texts`` (aligned with ``doc_ids``); ``search`` returns a ``Run``."""

    def __init__(self, model: EmbeddingReranker, doc_ids: Sequence[str], texts: Sequence[str], *,
                 approximate: HNSWSettings | None = None, progress: Progress | None = None):
        if len(doc_ids) != len(texts):
            raise ValueError(f"{len(doc_ids)} document ids but {len(texts)} texts")
        if not doc_ids:
            raise ValueError("cannot index an empty corpus")
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("document ids must be unique")
        self.model = model
        self.doc_ids = list(doc_ids)
        self._ranks = id_ranks(self.doc_ids)
        start = time.perf_counter()
        _, vectors = model.encode_queries_and_documents([], list(texts), progress)
        self.similarity = model.resolved_similarity()
        matrix = np.stack([np.asarray(vectors[t], dtype=np.float32) for t in texts])
        self.matrix = normalize(matrix) if self.similarity == "cosine" else matrix
        self.encode_seconds = time.perf_counter() - start
        self.approximate = approximate
        self._hnsw = None
        if approximate is not None:
            from followir.retrieval.approximate import HNSWIndex

            start = time.perf_counter()
            self._hnsw = HNSWIndex(self.matrix, approximate)
            self.build_seconds = time.perf_counter() - start

    def describe(self) -> dict:
        out = {"index": "exact" if self._hnsw is None else "hnsw", "similarity": self.similarity,
               "documents": len(self.doc_ids), "dimensions": int(self.matrix.shape[1])}
        if self._hnsw is not None:
            out.update(self._hnsw.describe())
        return out

    def query_vectors(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        vectors, _ = self.model.encode_queries_and_documents(list(texts), [], progress)
        matrix = np.stack([np.asarray(vectors[t], dtype=np.float32) for t in texts])
        return normalize(matrix) if self.similarity == "cosine" else matrix

    def search(self, queries: Mapping[str, str], k: int, progress: Progress | None = None,
               name: str = "dense") -> Run:
        """The top ``k`` documents of every query (``queries``: query id -> the text the model embeds)."""
        if not queries:
            return Run({}, name=name)
        qids = list(queries)
        vectors = self.query_vectors([queries[q] for q in qids], progress or NoProgress())
        if self._hnsw is None:
            found = exact_search(vectors, self.matrix, k, self._ranks)
        else:
            found = self._hnsw.search(vectors, k, self._ranks)
        scores = {qid: {self.doc_ids[i]: float(s) for i, s in zip(idx.tolist(), vals.tolist())}
                  for qid, (idx, vals) in zip(qids, found)}
        return Run(scores, name=name)
