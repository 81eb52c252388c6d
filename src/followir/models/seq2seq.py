"""Seq2seq true/false rerankers (monoT5, FLAN-T5, TART-full): the template's prompt goes to the encoder,
the decoder takes one step from its start token, and the score is p(true) from a log-softmax over the
template's two answer tokens (``▁true``/``▁false`` or ``▁yes``/``▁no``) in float32. When the input is too
long, the paper's templates cut the prompt's end as the paper's tokenizer call did (``truncation="prompt-end"``,
orionw/FollowIR reranker_models.py L150-157: monoT5 then loses its "Relevant:" cue); ``truncation="document"``
cuts only the document, so query, instruction and answer cue stay whole."""

from __future__ import annotations

from typing import Mapping, Sequence

from followir.errors import InputTooLongError
from followir.models.base import Progress, RankRequest
from followir.models.pair_engine import score_requests
from followir.models.ray_engine import RayReplicable, as_settings
from followir.models.runtime import dtype_key, open_cache, require, resolve_device, resolve_dtype
from followir.models.templates import get_template
from followir.records import Document


class Seq2SeqReranker(RayReplicable):
    name = "seq2seq"

    def __init__(self, model_id: str, revision: str | None = None, template: str = "monot5",
                 device: str | None = None, dtype: str | None = None, batch_size: int | None = None,
                 max_length: int = 512, cache_path: str | None = None, trust_remote_code: bool = False,
                 truncation: str | None = None, ray=None):
        self.ray = as_settings(ray)  # RaySettings: batches scored by Ray actors
        self.model_id, self.revision = model_id, revision
        # "prompt-end" (the paper's, from the template): the tokenizer keeps the first max_length tokens, so a
        # long passage pushes monoT5's "Relevant:" cue out; "document": only the passage is cut
        self.truncation = truncation or get_template(template).truncation
        if self.truncation not in ("prompt-end", "document"):
            raise ValueError(f"truncation={truncation!r}: use 'prompt-end' (the paper's) or 'document'")
        self.template = get_template(template)
        if self.template.family != "seq2seq":
            raise ValueError(f"template {template!r} is for {self.template.family}, not seq2seq")
        self.device_name, self.dtype_name = device, dtype
        self.batch_size = batch_size or 16
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
        model = transformers.AutoModelForSeq2SeqLM.from_pretrained(
            self.model_id, dtype=resolve_dtype(self._device, self.dtype_name), **kwargs)
        self._model = model.to(self._device).eval()
        vocab = self._tokenizer.get_vocab()
        missing = [t for t in self.template.answer_tokens if t not in vocab]
        if missing:
            raise ValueError(f"answer tokens {missing} are not in the vocabulary of {self.model_id}")
        self.answer_ids = [vocab[t] for t in self.template.answer_tokens]

    def describe(self) -> dict:
        t = self.template
        return {"family": "seq2seq", "settings": {
            "model_id": self.model_id, "revision": self.revision, "template": t.name, "prompt": t.prompt,
            "query_format": t.query_format, "answer_tokens": list(t.answer_tokens), "max_length": self.max_length,
            "dtype": dtype_key(self.device_name, self.dtype_name), "truncation": self.truncation}}

    def check_query(self, query_text: str) -> None:
        """Refuse a query whose prompt, without any document, already fills ``max_length`` (with
        ``truncation="document"``; the paper's ``prompt-end`` truncation cuts whatever passes the limit)."""
        if getattr(self, "truncation", "document") == "prompt-end":
            return
        if self._model is None:
            self._load()
        tokens = len(self._tokenizer(self.template.prompt.format(query=query_text, document="", bos=""))["input_ids"])
        if tokens >= self.max_length:
            raise InputTooLongError(
                f"the prompt without its document is {tokens} tokens, more than max_length={self.max_length} "
                f"leaves for a document ({self.model_id}); only documents are truncated. Fix: shorten the "
                f"instruction, or raise max_length if the model allows")

    def encode(self, query_text: str, document: str) -> list[int]:
        tok = self._tokenizer
        render = lambda doc: self.template.prompt.format(query=query_text, document=doc, bos="")  # noqa: E731
        if self.truncation == "prompt-end":
            return tok(render(document), truncation=True, max_length=self.max_length)["input_ids"]
        ids = tok(render(document))["input_ids"]
        if len(ids) <= self.max_length:
            return ids
        doc_ids = tok(document, add_special_tokens=False)["input_ids"]
        keep = len(doc_ids) - (len(ids) - self.max_length)
        for _ in range(4):
            if keep <= 0:
                raise ValueError(f"the prompt without its document exceeds max_length={self.max_length}")
            ids = tok(render(tok.decode(doc_ids[:keep])))["input_ids"]
            if len(ids) <= self.max_length:
                return ids
            keep -= len(ids) - self.max_length
        raise RuntimeError("could not fit the prompt into max_length")

    def length(self, query: str, document: str) -> int:
        return min((len(query) + len(document)) // 4 + 16, self.max_length)

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if self._model is None:
            self._load()
        torch = self._torch
        encoded = [self.encode(q, d) for q, d in pairs]
        batch = self._tokenizer.pad({"input_ids": encoded}, return_tensors="pt")
        start = self._model.config.decoder_start_token_id
        decoder = torch.full((len(encoded), 1), start, dtype=torch.long)
        with torch.inference_mode():
            logits = self._model(input_ids=batch["input_ids"].to(self._device),
                                 attention_mask=batch["attention_mask"].to(self._device),
                                 decoder_input_ids=decoder.to(self._device)).logits
        pair_logits = logits[:, 0, self.answer_ids].float()
        return torch.log_softmax(pair_logits, dim=-1)[:, 0].exp().tolist()

    def rerank(self, requests: Sequence[RankRequest], corpus: Mapping[str, Document],
               progress: Progress | None = None) -> list[dict[str, float]]:
        cache = open_cache(self.describe(), self.cache_path)
        results, self.last_stats = score_requests(
            requests, corpus, lambda r: self.template.render_query(r.query, r.instruction),
            lambda d: d.full_text, self, cache, self.batch_size * self.max_length, self.batch_size, progress)
        return results
