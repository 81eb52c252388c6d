"""Cross-encoders (sentence-transformers CrossEncoder checkpoints, MonoBERT): one forward pass per
(query + instruction, passage) pair. Only the passage is truncated (``truncation="only_second"``); a query +
instruction that leaves no room for the passage within ``max_length`` stops the run (``InputTooLongError``,
naming the query, its length and the limit) before anything is scored.
A one-logit head scores with that logit; a two-logit head with log-softmax p(relevant), in float32."""

from __future__ import annotations

from typing import Mapping, Sequence

from followir.errors import InputTooLongError
from followir.models.base import Progress, RankRequest
from followir.models.pair_engine import score_requests
from followir.models.ray_engine import RayReplicable, as_settings
from followir.models.runtime import dtype_key, open_cache, require, resolve_device, resolve_dtype
from followir.models.templates import get_template
from followir.records import Document


class CrossEncoderReranker(RayReplicable):
    name = "cross-encoder"

    def __init__(self, model_id: str, revision: str | None = None, template: str = "cross-encoder",
                 device: str | None = None, dtype: str | None = None, batch_size: int | None = None,
                 max_length: int = 512, cache_path: str | None = None, trust_remote_code: bool = False, ray=None):
        self.ray = as_settings(ray)  # RaySettings: batches scored by Ray actors
        self.model_id, self.revision = model_id, revision
        self.template = get_template(template)
        if self.template.family != "cross-encoder":
            raise ValueError(f"template {template!r} is for {self.template.family}, not cross-encoder")
        self.device_name, self.dtype_name = device, dtype
        self.batch_size = batch_size or 32
        self.max_length = max_length
        self.cache_path = cache_path
        self.trust_remote_code = trust_remote_code
        self._model = None
        self.last_stats = None

    def load(self) -> None:
        """Load the tokenizer and the weights now rather than at the first pair to score."""
        if self._model is None:
            self._load()

    def _load(self) -> None:
        transformers = require("transformers", "transformers")
        self._torch = require("torch", "transformers")
        self._device = resolve_device(self.device_name)
        kwargs = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_id, **kwargs)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            self.model_id, dtype=resolve_dtype(self._device, self.dtype_name), **kwargs)
        self._model = model.to(self._device).eval()

    def describe(self) -> dict:
        return {"family": "cross-encoder", "settings": {
            "model_id": self.model_id, "revision": self.revision, "template": self.template.name,
            "query_format": self.template.query_format, "max_length": self.max_length,
            "dtype": dtype_key(self.device_name, self.dtype_name)}}

    def check_query(self, query: str) -> None:
        """Refuse a query + instruction too long to leave one passage token within ``max_length``."""
        if self._model is None:
            self._load()
        tokens = len(self._tokenizer(query, add_special_tokens=False, verbose=False)["input_ids"])
        special = self._tokenizer.num_special_tokens_to_add(pair=True)
        if tokens + special + 1 > self.max_length:
            raise InputTooLongError(
                f"the query and instruction are {tokens} tokens (+{special} special tokens), more than the "
                f"cross-encoder {self.model_id} can take with a passage (max_length={self.max_length}); only "
                f"passages are truncated. Fix: shorten the instruction, or use a model with a longer input")

    def length(self, query: str, document: str) -> int:
        return min((len(query) + len(document)) // 4 + 8, self.max_length)

    def encode(self, pairs: Sequence[tuple[str, str]]):
        """The model's input for (query text, passage) pairs: a padded batch, only the passage truncated."""
        if self._model is None:
            self._load()
        return self._tokenizer([q for q, _ in pairs], [d for _, d in pairs], padding=True,
                               truncation="only_second", max_length=self.max_length, return_tensors="pt")

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        batch = self.encode(pairs)
        torch = self._torch
        with torch.inference_mode():
            logits = self._model(**{k: v.to(self._device) for k, v in batch.items()}).logits.float()
        if logits.shape[-1] == 1:
            return logits[:, 0].tolist()
        return torch.log_softmax(logits, dim=-1)[:, -1].exp().tolist()

    def rerank(self, requests: Sequence[RankRequest], corpus: Mapping[str, Document],
               progress: Progress | None = None) -> list[dict[str, float]]:
        cache = open_cache(self.describe(), self.cache_path)
        results, self.last_stats = score_requests(
            requests, corpus, lambda r: self.template.render_query(r.query, r.instruction),
            lambda d: self.template.render_document(d.full_text), self, cache,
            self.batch_size * self.max_length, self.batch_size, progress)
        return results
