"""Instruction-tuned causal LMs as yes/no rerankers (Mistral-Instruct, FollowIR-7B, any chat model).

The prompt comes from a template: a fixed prompt (FollowIR-7B's ``[INST] ... [/INST]``, Llama-2-chat's
system form) or the model's own chat template. The score is p(true) from a log-softmax over the
true/false token logits at the last position, in float32. Batches are left-padded. The paper's templates
(orionw/FollowIR reranker_models.py LlamaReranker.predict L248-255) are tokenized as the paper did: the
tokenizer adds its BOS to a prompt that already starts with a literal "<s>" (two BOS tokens), and a prompt
too long for ``max_length`` loses its end, answer cue included. Settings ``add_special_tokens=False``
(BOS once) and ``truncation="document"`` (only the document is cut) give the corrected inputs.
GGUF checkpoints load through transformers (``gguf_file=``); a LoRA adapter folder loads through peft.

Engines (``engine=``): ``transformers`` (default) runs the model here; ``vllm`` hands the same token ids to
vLLM (``followir.models.vllm_engine``: prefix caching, one restricted answer token); ``openai`` sends them to
a running vLLM or SGLang server (``followir.models.remote_engine``, ``base_url``). ``ray`` spreads the
batches of any engine over a Ray cluster (``followir.models.ray_engine``). Prompts, truncation and the score
are the same whatever the engine.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Mapping, Sequence

from followir.errors import InputTooLongError, OptionError
from followir.models.base import Progress, RankRequest
from followir.models.pair_engine import score_requests
from followir.models.ray_engine import RayReplicable
from followir.models.runtime import dtype_key, open_cache, require, resolve_device, resolve_dtype
from followir.models.templates import Template, get_template
from followir.records import Document

log = logging.getLogger(__name__)


class CausalLMReranker(RayReplicable):
    name = "causal-lm"

    def __init__(self, model_id: str, revision: str | None = None, template: str = "chat",
                 device: str | None = None, dtype: str | None = None, batch_size: int | None = None,
                 max_length: int = 2048, cache_path: str | None = None, trust_remote_code: bool = False,
                 gguf_file: str | None = None, adapter: str | None = None, token_budget: int | None = None,
                 fingerprint: str | None = None, truncation: str | None = None,
                 add_special_tokens: bool | None = None, engine: str = "transformers",
                 base_url: str | None = None, ray=None, timeout: float | None = None):
        from followir.models.ray_engine import as_settings
        from followir.models.vllm_engine import check_engine

        check_engine(engine)
        if base_url and engine != "openai":
            raise ValueError(f"--base-url {base_url} is for --engine openai (a running vLLM or SGLang server); "
                             f"the {engine} engine runs the model here. Fix: add --engine openai or drop --base-url")
        if engine == "openai" and not (base_url or os.environ.get("OPENAI_BASE_URL")):
            raise OptionError("--engine openai scores on a running server: give --base-url http://HOST:PORT/v1 "
                              "(a vLLM or SGLang server started with the same model)")
        self.engine, self.base_url, self.timeout = engine, base_url, timeout
        self.ray = as_settings(ray)
        self.model_id, self.revision = model_id, revision
        self.template: Template = get_template(template)
        # paper fidelity (defaults from the template): "prompt-end" cuts a long prompt's end as the paper's
        # tokenizer call did, answer cue included; "document" cuts only the passage. add_special_tokens:
        # the tokenizer adds BOS as in the paper (two BOS with a literal "<s>" prompt); False: BOS once.
        self.truncation = truncation or self.template.truncation
        if self.truncation not in ("prompt-end", "document"):
            raise ValueError(f"truncation={truncation!r}: use 'prompt-end' (the paper's) or 'document'")
        self.add_special_tokens = self.template.add_special_tokens if add_special_tokens is None \
            else add_special_tokens
        if self.template.family != "causal-lm":
            raise ValueError(f"template {template!r} is for {self.template.family}, not causal-lm")
        self.device_name, self.dtype_name = device, dtype
        # vLLM schedules its own batches: followir's batch is the unit that is cached (and sent to a Ray actor)
        self.batch_size = batch_size or {"transformers": 8, "vllm": 256, "openai": 64}[engine]
        self.max_length = max_length
        self.cache_path = cache_path
        self.trust_remote_code = trust_remote_code
        self.gguf_file, self.adapter = gguf_file, adapter
        self.fingerprint = fingerprint  # hash of trained weights at a local path (part of the cache key)
        self.token_budget = token_budget or self.batch_size * 512
        self._tokenizer = None
        self._model = None
        self._scorer = None  # the vllm or openai engine's scorer
        self.last_stats = None

    @property
    def groups_by_prefix(self) -> bool:
        """vLLM and servers cache prompt prefixes: the pair engine sends each query's pairs together."""
        return self.engine != "transformers"


    # -- loading -------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the tokenizer and the weights (or start the engine) now rather than at the first pair."""
        _ = self.tokenizer
        if self.ray is not None:
            return  # the replicas load their own weights
        if self.engine == "transformers":
            _ = self.model
        elif self.engine == "vllm":
            _ = self.scorer.llm

    @property
    def scorer(self):
        """The vllm or openai engine's scorer of token-id prompts (built on first use)."""
        if self._scorer is None:
            tok = self.tokenizer
            if self.engine == "vllm":
                from followir.models.vllm_engine import VLLMYesNoScorer, dequantized_folder

                path, revision = self.model_id, self.revision
                if self.gguf_file:
                    path, revision = dequantized_folder(self.model_id, self.gguf_file, self.revision,
                                                        self.trust_remote_code), None
                self._scorer = VLLMYesNoScorer(path, self.answer_ids, self.max_length, dtype=self.dtype_name,
                                               revision=revision, trust_remote_code=self.trust_remote_code,
                                               adapter=self.adapter)
            elif self.engine == "openai":
                from followir.models.remote_engine import OpenAICompletionsScorer

                self._scorer = OpenAICompletionsScorer(self.base_url, self.model_id, self.answer_ids, tok,
                                                       timeout=self.timeout or 120.0)
            else:
                raise ValueError("the transformers engine scores with .model, not a scorer")
        return self._scorer

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            transformers = require("transformers", "llm")
            kwargs = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
            if self.gguf_file:
                kwargs["gguf_file"] = self.gguf_file
            tok = transformers.AutoTokenizer.from_pretrained(self.model_id, **kwargs)
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token or tok.unk_token
            self._tokenizer = tok
            self.answer_ids = tuple(self._single_token_id(t) for t in self.template.answer_tokens)
        return self._tokenizer

    def _single_token_id(self, token: str) -> int:
        tok = self._tokenizer
        vocab = tok.get_vocab()
        if token in vocab:
            return vocab[token]
        ids = tok.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(f"answer token {token!r} is {len(ids)} tokens for {self.model_id}; "
                             f"pick a template whose answer tokens are single tokens")
        return ids[0]

    @property
    def model(self):
        if self._model is None:
            transformers = require("transformers", "llm")
            torch = require("torch", "llm")
            device = resolve_device(self.device_name)
            dtype = resolve_dtype(device, self.dtype_name)
            kwargs = {"revision": self.revision, "trust_remote_code": self.trust_remote_code, "dtype": dtype}
            if self.gguf_file:
                kwargs["gguf_file"] = self.gguf_file
            log.info("loading %s on %s (%s)", self.model_id, device, dtype)
            model = transformers.AutoModelForCausalLM.from_pretrained(self.model_id, **kwargs)
            if self.adapter:
                peft = require("peft", "train")
                from followir.models.library_warnings import peft_quietly

                with peft_quietly():
                    model = peft.PeftModel.from_pretrained(model, self.adapter)
            model.to(device).eval()
            self._model, self._device, self._torch = model, device, torch
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            parameters = inspect.signature(base.forward).parameters
            self._takes_position_ids = "position_ids" in parameters
            self._keeps_last_logits = "logits_to_keep" in parameters  # skip the LM head elsewhere
        return self._model

    def describe(self) -> dict:
        t = self.template
        return {"family": "causal-lm", "settings": {
            "model_id": self.model_id, "revision": self.revision, "gguf_file": self.gguf_file,
            "adapter": self.adapter, "template": t.name, "prompt": t.prompt, "system": t.system, "user": t.user,
            "query_format": t.query_format, "answer_tokens": list(t.answer_tokens or ()),
            "max_length": self.max_length, "dtype": dtype_key(self.device_name, self.dtype_name, self.engine),
            "truncation": self.truncation, "add_special_tokens": self.add_special_tokens,
            **({"fingerprint": self.fingerprint} if self.fingerprint else {}),
            **({"engine": self.engine} if self.engine != "transformers" else {})}}

    # -- prompts -------------------------------------------------------------------------------------
    def render(self, query_text: str, document: str) -> str:
        """The exact prompt text for one (rendered query, document) pair."""
        t = self.template
        if t.prompt is not None:
            return t.prompt.format(query=query_text, document=document, bos=self.tokenizer.bos_token or "")
        messages = []
        if t.system:
            messages.append({"role": "system", "content": t.system})
        messages.append({"role": "user", "content": t.user.format(query=query_text, document=document)})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def check_query(self, query_text: str) -> None:
        """Refuse a query whose prompt, without any document, already fills ``max_length``."""
        tokens = len(self.tokenizer(self.render(query_text, ""), add_special_tokens=False)["input_ids"])
        if tokens >= self.max_length:
            raise InputTooLongError(
                f"the prompt without its document is {tokens} tokens, more than max_length={self.max_length} "
                f"leaves for a document ({self.model_id}); only documents are truncated. Fix: shorten the "
                f"instruction, or raise max_length")

    def encode(self, query_text: str, document: str) -> list[int]:
        """Token ids of the prompt. Too long: ``truncation="prompt-end"`` keeps the first ``max_length``
        tokens (the paper's ``tokenizer(..., truncation=True)``); ``"document"`` cuts the document from its
        end until the prompt fits."""
        tok = self.tokenizer
        special = self.add_special_tokens
        if self.truncation == "prompt-end":
            return tok(self.render(query_text, document), add_special_tokens=special, truncation=True,
                       max_length=self.max_length)["input_ids"]
        ids = tok(self.render(query_text, document), add_special_tokens=special)["input_ids"]
        if len(ids) <= self.max_length:
            return ids
        doc_ids = tok(document, add_special_tokens=False)["input_ids"]
        keep = len(doc_ids) - (len(ids) - self.max_length)
        for _ in range(4):
            if keep <= 0:
                raise ValueError(f"the prompt without its document is {len(ids) - len(doc_ids)} tokens, more than "
                                 f"max_length={self.max_length}; raise max_length")
            ids = tok(self.render(query_text, tok.decode(doc_ids[:keep])), add_special_tokens=special)["input_ids"]
            if len(ids) <= self.max_length:
                return ids
            keep -= len(ids) - self.max_length
        raise RuntimeError("could not fit the prompt into max_length")

    # -- scoring -------------------------------------------------------------------------------------
    def length(self, query_text: str, document: str) -> int:
        return (len(query_text) + len(document)) // 4 + 64  # token estimate for batch planning

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """p(true) in [0, 1] for each (rendered query, document) pair, in order."""
        if self.engine != "transformers":
            return self.scorer.score_ids([self.encode(q, d) for q, d in pairs])
        model = self.model
        torch = self._torch
        encoded = [self.encode(q, d) for q, d in pairs]
        width = max(len(ids) for ids in encoded)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        attention = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):  # left padding: the answer position is the last column
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids):] = 1
        # positions count from each row's first real token, so padding moves no position (models with
        # absolute position embeddings, e.g. GPT-2, otherwise score a padded row differently)
        extra = {"position_ids": (attention.cumsum(-1) - 1).clamp(min=0).to(self._device)} \
            if self._takes_position_ids else {}
        if self._keeps_last_logits:
            extra["logits_to_keep"] = 1
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(self._device), attention_mask=attention.to(self._device),
                           **extra).logits
        pair_logits = logits[:, -1, list(self.answer_ids)].float()
        return torch.log_softmax(pair_logits, dim=-1)[:, 0].exp().tolist()

    def rerank(self, requests: Sequence[RankRequest], corpus: Mapping[str, Document],
               progress: Progress | None = None) -> list[dict[str, float]]:
        cache = open_cache(self.describe(), self.cache_path)
        results, self.last_stats = score_requests(
            requests, corpus, lambda r: self.template.render_query(r.query, r.instruction),
            lambda d: d.full_text, self, cache, self.token_budget, self.batch_size, progress)
        return results
