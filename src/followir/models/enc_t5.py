"""Encoder-only T5 sequence classifiers (TART-full), scored as the FollowIR paper's code scored them.

The reference (orionw/FollowIR ``models/rerankers/reranker_models.py`` ``TARTFullReranker``, L388-442, with
``modeling_enc_t5.py`` and ``tokenization_enc_t5.py``) loads ``facebook/tart-full-flan-t5-xl`` as
``EncT5ForSequenceClassification``: the T5 encoder stack, the hidden state of the first token, a linear
classifier; the score is ``softmax(logits)[1]``. Its tokenizer (``EncT5Tokenizer``) builds a pair as
``<s> A </s> B </s>`` (``build_inputs_with_special_tokens``, L87-112), where A is
``query + " [SEP] " + instruction`` (the generic "Retrieve news paper paragraph to answer this question"
when the instruction is empty: the ``tart-full`` template) and B the passage; ``truncation="only_second"``
with ``max_length=1024`` cuts only the passage.

Here the encoder is ``transformers.T5EncoderModel`` and the classifier's two tensors
(``classifier.weight``/``classifier.bias``) are read from the same checkpoint. ``<s>`` is not in T5's
SentencePiece vocabulary: as ``EncT5Tokenizer(bos_token="<s>")`` does under transformers >= 4.34, it becomes
an added special token (the first id after the vocabulary).
"""

from __future__ import annotations

import json
import os
from typing import Mapping, Sequence

from followir.errors import InputTooLongError
from followir.models.base import Progress, RankRequest
from followir.models.pair_engine import score_requests
from followir.models.ray_engine import RayReplicable, as_settings
from followir.models.runtime import dtype_key, open_cache, require, resolve_device, resolve_dtype
from followir.models.templates import get_template
from followir.records import Document

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
CLASSIFIER_KEYS = ("classifier.weight", "classifier.bias")


def pair_ids(first: list[int], second: list[int], bos: int, eos: int, max_length: int) -> list[int]:
    """``<s> A </s> B </s>`` with only B cut to fit ``max_length`` (``truncation="only_second"``).

    >>> pair_ids([5, 6], [7, 8, 9], bos=100, eos=1, max_length=7)
    [100, 5, 6, 1, 7, 8, 1]
    """
    room = max_length - len(first) - 3
    if room < 0:
        raise InputTooLongError(f"the query and instruction are {len(first)} tokens, more than max_length="
                                f"{max_length} leaves for a passage; only passages are truncated")
    return [bos, *first, eos, *second[:room], eos]


class EncT5Reranker(RayReplicable):
    name = "enc-t5"

    def __init__(self, model_id: str, revision: str | None = None, template: str = "tart-full",
                 device: str | None = None, dtype: str | None = None, batch_size: int | None = None,
                 max_length: int = 1024, cache_path: str | None = None, trust_remote_code: bool = False, ray=None):
        self.ray = as_settings(ray)  # RaySettings: batches scored by Ray actors
        self.model_id, self.revision = model_id, revision
        self.template = get_template(template)
        if self.template.family != "cross-encoder":
            raise ValueError(f"template {template!r} is for {self.template.family}; enc-t5 takes (query, passage) "
                             f"pair templates (cross-encoder)")
        self.device_name, self.dtype_name = device, dtype
        self.batch_size = batch_size or 16
        self.max_length = max_length
        self.cache_path = cache_path
        self.trust_remote_code = trust_remote_code
        self._model = None
        self.last_stats = None

    def load(self) -> None:
        if self._model is None:
            self._load()

    def _load(self) -> None:
        transformers = require("transformers", "transformers")
        torch = self._torch = require("torch", "transformers")
        self._device = resolve_device(self.device_name)
        kwargs = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        tok = transformers.AutoTokenizer.from_pretrained(self.model_id, **kwargs)
        if "<s>" not in tok.get_vocab():
            tok.add_special_tokens({"bos_token": "<s>"})
        self._tokenizer, self._bos, self._eos = tok, tok.convert_tokens_to_ids("<s>"), tok.eos_token_id
        dtype = resolve_dtype(self._device, self.dtype_name)
        encoder = transformers.T5EncoderModel.from_pretrained(self.model_id, dtype=dtype, **kwargs)
        state = _classifier_state(self.model_id, self.revision)
        weight = state["classifier.weight"]
        classifier = torch.nn.Linear(weight.shape[1], weight.shape[0])
        classifier.load_state_dict({"weight": weight, "bias": state["classifier.bias"]})
        self._encoder = encoder.to(self._device).eval()
        self._classifier = classifier.to(self._device, dtype=encoder.dtype).eval()
        self._model = encoder

    def describe(self) -> dict:
        t = self.template
        return {"family": "enc-t5", "settings": {
            "model_id": self.model_id, "revision": self.revision, "template": t.name,
            "query_format": t.query_format, "empty_instruction": t.empty_instruction,
            "max_length": self.max_length, "dtype": dtype_key(self.device_name, self.dtype_name)}}

    def encode(self, query_text: str, passage: str) -> list[int]:
        """The token ids the reference's EncT5Tokenizer gives the pair."""
        if self._model is None:
            self._load()
        tok = self._tokenizer
        first = tok(query_text, add_special_tokens=False)["input_ids"]
        second = tok(passage, add_special_tokens=False)["input_ids"]
        return pair_ids(first, second, self._bos, self._eos, self.max_length)

    def check_query(self, query_text: str) -> None:
        self.encode(query_text, "")

    def length(self, query: str, document: str) -> int:
        return min((len(query) + len(document)) // 4 + 8, self.max_length)

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        encoded = [self.encode(q, d) for q, d in pairs]
        torch = self._torch
        batch = self._tokenizer.pad({"input_ids": encoded}, return_tensors="pt")
        with torch.inference_mode():
            hidden = self._encoder(input_ids=batch["input_ids"].to(self._device),
                                   attention_mask=batch["attention_mask"].to(self._device)).last_hidden_state
            logits = self._classifier(hidden[:, 0, :]).float()  # the first (<s>) token, as EncT5
        return torch.softmax(logits, dim=-1)[:, 1].tolist()

    def rerank(self, requests: Sequence[RankRequest], corpus: Mapping[str, Document],
               progress: Progress | None = None) -> list[dict[str, float]]:
        cache = open_cache(self.describe(), self.cache_path)
        results, self.last_stats = score_requests(
            requests, corpus, lambda r: self.template.render_query(r.query, r.instruction),
            lambda d: self.template.render_passage(d), self, cache,
            self.batch_size * self.max_length, self.batch_size, progress)
        return results


def _classifier_state(model_id: str, revision: str | None) -> dict:
    """``classifier.weight`` and ``classifier.bias`` from the checkpoint (single file or sharded)."""
    def fetch(name: str) -> str | None:
        if os.path.isdir(model_id):
            path = os.path.join(model_id, name)
            return path if os.path.exists(path) else None
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download(model_id, name, revision=revision)
        except Exception:  # absent from the repository
            return None

    files: list[str] = []
    for name in INDEX_FILES:
        index = fetch(name)
        if index:
            weight_map = json.loads(open(index, encoding="utf-8").read())["weight_map"]
            files = [f for f in dict.fromkeys(weight_map[k] for k in CLASSIFIER_KEYS if k in weight_map)]
            break
    else:
        files = list(WEIGHT_FILES)
    state: dict = {}
    for name in files:
        path = fetch(name)
        if path is None:
            continue
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            tensors = load_file(path)
        else:
            torch = require("torch", "transformers")
            tensors = torch.load(path, map_location="cpu", weights_only=True)
        state.update({k: tensors[k] for k in CLASSIFIER_KEYS if k in tensors})
        if len(state) == len(CLASSIFIER_KEYS):
            return state
    raise ValueError(f"{model_id} has no classifier.weight/classifier.bias: not an EncT5 sequence classifier "
                     f"checkpoint (TART-full)")
