"""Bi-encoders through sentence-transformers, with the query/passage formats of their templates.

Each distinct text is encoded once per run (documents are shared by og and changed queries and across
queries), embeddings are cached on disk keyed by model and exact text, and reruns or new instruction
variants reuse them. Texts are encoded in a fixed plan of length-sorted batches; what is encoded is committed
to the cache every ``commit_seconds`` (5 s) or every ``chunk_size`` texts, whichever comes first, so a run
killed at any moment loses at most a few seconds of work and resumes where it stopped. A non-finite vector is
never cached: the run stops naming the model, the query and the document.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np

from followir.cache import text_key
from followir.models.base import NoProgress, Progress
from followir.models.embedding import EmbeddingReranker
from followir.models.ray_engine import RayReplicable
from followir.models.runtime import dtype_key, open_cache, require, resolve_device
from followir.models.templates import get_template

log = logging.getLogger(__name__)


class BiEncoder(RayReplicable, EmbeddingReranker):
    name = "bi-encoder"

    def __init__(self, model_id: str, revision: str | None = None, template: str = "plain",
                 similarity: str | None = None, device: str | None = None, batch_size: int | None = None,
                 max_length: int | None = None, cache_path: str | None = None, trust_remote_code: bool = False,
                 chunk_size: int = 2048, commit_seconds: float = 5.0, engine: str = "transformers",
                 ray=None, dtype: str | None = None):
        from followir.models.ray_engine import as_settings
        from followir.models.vllm_engine import check_engine

        check_engine(engine, ("transformers", "vllm"))  # sentence-transformers, or vLLM's pooling mode
        self.engine, self.ray, self.dtype = engine, as_settings(ray), dtype
        self._embedder = None
        self.model_id, self.revision = model_id, revision
        self.template = get_template(template)
        if similarity not in (None, "cosine", "dot"):
            raise ValueError(f"similarity={similarity!r}: use 'cosine' or 'dot'")
        self.similarity = similarity
        self.device = device
        self.batch_size = batch_size or 32
        self.max_length = max_length
        self.cache_path = cache_path
        self.trust_remote_code = trust_remote_code
        self.chunk_size = chunk_size
        self.commit_seconds = commit_seconds
        self._model = None
        self.last_stats: dict[str, int] = {}

    def load(self) -> None:
        """Load the weights now rather than at the first text to encode."""
        if self.ray is not None:
            return  # the replicas load their own weights
        _ = self.embedder.llm if self.engine == "vllm" else self.model

    @property
    def embedder(self):
        """vLLM's pooling runner for this model (``engine="vllm"``)."""
        if self._embedder is None:
            from followir.models.vllm_engine import VLLMEmbedder

            self._embedder = VLLMEmbedder(self.model_id, revision=self.revision, max_length=self.max_length,
                                          trust_remote_code=self.trust_remote_code, dtype=self.dtype)
        return self._embedder

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim) for one batch, by the configured engine (what a Ray actor runs)."""
        if self.engine == "vllm":
            return self.embedder.encode(texts)
        return self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                 show_progress_bar=False).astype(np.float32)

    @property
    def model(self):
        if self._model is None:
            st = require("sentence_transformers", "sentence-transformers")
            device = resolve_device(self.device)
            log.info("loading %s on %s", self.model_id, device)
            self._model = st.SentenceTransformer(self.model_id, revision=self.revision, device=device,
                                                 trust_remote_code=self.trust_remote_code)
            if self.max_length:
                self._model.max_seq_length = self.max_length
            if self.similarity is None:
                name = getattr(self._model, "similarity_fn_name", None) or "cosine"
                self.similarity = "dot" if name in ("dot", "dot_product") else "cosine"
        return self._model

    def describe(self) -> dict:
        return {"family": "bi-encoder", "settings": {
            "model_id": self.model_id, "revision": self.revision, "template": self.template.name,
            "query_format": self.template.query_format, "document_format": self.template.document_format,
            "similarity": self.similarity, "max_length": self.max_length,
            **({"engine": self.engine} if self.engine != "transformers" else {})}}

    def _cache_description(self) -> dict:
        d = self.describe()["settings"]
        return {"family": "bi-encoder", "model_id": d["model_id"], "revision": d["revision"],
                "max_length": d["max_length"], "normalized": False,
                **({"engine": self.engine, "dtype": dtype_key(self.device, self.dtype, "vllm")}
                   if self.engine != "transformers" else {})}

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> dict[str, np.ndarray]:
        """Embeddings of distinct texts, from the cache where stored, else computed and stored."""
        progress = progress or NoProgress()
        unique = sorted(set(texts), key=lambda t: (len(t), t))
        keys = {t: text_key(t) for t in unique}
        cache = open_cache(self._cache_description(), self.cache_path)
        stored = cache.get_embeddings(list(keys.values())) if cache else {}
        out = {t: stored[k] for t, k in keys.items() if k in stored}
        missing = len(unique) - len(out)
        progress.start(missing, "texts")
        pending: dict[str, np.ndarray] = {}
        last_commit = time.monotonic()

        def commit() -> None:
            nonlocal last_commit
            if cache and pending:  # non-finite vectors stay out of the cache (``rerank`` names them)
                cache.put_embeddings({keys[t]: v for t, v in pending.items() if np.isfinite(v).all()})
            pending.clear()
            last_commit = time.monotonic()

        batches = [unique[start:start + self.batch_size] for start in range(0, len(unique), self.batch_size)]
        todo = [batch for batch in batches if not all(t in out for t in batch)]
        if self.ray is not None and todo:
            from followir.models.ray_engine import map_on_ray

            finished = map_on_ray(self, "encode_batch", todo, self.ray)
        else:
            finished = ((n, self.encode_batch(batch)) for n, batch in enumerate(todo))
        try:
            for n, vectors in finished:
                batch = todo[n]
                fresh = dict(zip(batch, np.asarray(vectors, dtype=np.float32)))
                pending.update((t, v) for t, v in fresh.items() if t not in out)
                out.update(fresh)
                progress.advance(len(batch))
                if len(pending) >= self.chunk_size or time.monotonic() - last_commit >= self.commit_seconds:
                    commit()
        finally:
            commit()  # an error or an interrupt keeps what was encoded
        self.last_stats = {"texts": len(texts), "unique": len(unique), "cached": len(unique) - missing,
                           "computed": missing}
        return out

    def resolved_similarity(self) -> str:
        if self.similarity is None and (self.engine == "vllm" or self.ray is not None):
            self.similarity = self._configured_similarity()  # without loading the weights here
        _ = self.model if self.similarity is None else None  # resolves the model's similarity
        return self.similarity

    def _configured_similarity(self) -> str:
        """The model's similarity from ``config_sentence_transformers.json`` (cosine when it names none)."""
        import json
        from pathlib import Path

        from followir.models.vllm_engine import VLLMEmbedder

        try:
            config = VLLMEmbedder(self.model_id, revision=self.revision)._folder() / \
                "config_sentence_transformers.json"
            name = json.loads(config.read_text()).get("similarity_fn_name") if Path(config).is_file() else None
        except Exception:  # noqa: BLE001 - no config file: sentence-transformers' default
            name = None
        return "dot" if name in ("dot", "dot_product") else "cosine"
