"""A local transformers causal LM as a chat model, through its own chat template (e.g. SmolLM2-Instruct).

``LocalChat.from_name`` accepts a registered causal-LM name (``smollm2-135m-instruct``: its folder and GGUF file
come from the registry), a local folder or a hub id. Generation is greedy at temperature 0, otherwise sampled
with ``torch.manual_seed(seed)`` (seed 0 when none is given) so that an answer depends only on the request.
Requests are answered one at a time (a lock serialises threads); answers are cached like the HTTP client's.
"""

from __future__ import annotations

import logging
import threading

from followir.llm.base import CachedChatModel, GenerationOptions
from followir.llm.chat_cache import Completion
from followir.models.runtime import require, resolve_device, resolve_dtype

log = logging.getLogger(__name__)


class LocalChat(CachedChatModel):
    def __init__(self, model_id: str, gguf_file: str | None = None, revision: str | None = None,
                 device: str | None = None, dtype: str | None = None, trust_remote_code: bool = False,
                 options: GenerationOptions | None = None, cache_path: str | None = None,
                 name: str | None = None):
        super().__init__(options, cache_path)
        self.model_id, self.gguf_file, self.revision = model_id, gguf_file, revision
        self.device_name, self.dtype_name = device, dtype
        self.trust_remote_code = trust_remote_code
        self.name = f"local:{name or model_id}"
        self._lock = threading.Lock()
        self._model = None
        self._tokenizer = None

    @classmethod
    def from_name(cls, name: str, **kwargs) -> "LocalChat":
        """A registered causal-LM name (its folder and settings from the registry), a local folder or hub id."""
        from followir.models.registry import MODELS, resolve_model_id

        spec = MODELS.get(name)
        if spec is not None:
            if spec.family != "causal-lm" or spec.model_id is None:
                raise ValueError(f"{name!r} is a registered {spec.family} model, not a causal LM; give a "
                                 f"causal-LM name (e.g. smollm2-135m-instruct), a local folder or a hub id")
            kwargs.setdefault("gguf_file", spec.settings.get("gguf_file"))
            if spec.revision:
                kwargs.setdefault("revision", spec.revision)
            return cls(resolve_model_id(spec.model_id), name=name, **kwargs)
        return cls(name, **kwargs)

    def describe(self) -> dict:
        return {"kind": "local-chat", "model_id": self.model_id, "revision": self.revision,
                "gguf_file": self.gguf_file, "dtype": self.dtype_name or "auto"}

    def _load(self):
        if self._model is None:
            transformers = require("transformers", "llm")
            torch = require("torch", "llm")
            device = resolve_device(self.device_name)
            kwargs = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
            if self.gguf_file:
                kwargs["gguf_file"] = self.gguf_file
            log.info("loading %s on %s", self.model_id, device)
            tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_id, **kwargs)
            if tokenizer.chat_template is None:
                raise ValueError(f"{self.model_id} has no chat template; use an instruction-tuned (chat) model")
            model = transformers.AutoModelForCausalLM.from_pretrained(
                self.model_id, dtype=resolve_dtype(device, self.dtype_name), **kwargs)
            model.to(device).eval()
            self._tokenizer, self._model, self._device, self._torch = tokenizer, model, device, torch
        return self._model

    def _generate(self, messages: list[dict[str, str]], options: GenerationOptions) -> Completion:
        with self._lock:
            model = self._load()
            tok, torch = self._tokenizer, self._torch
            inputs = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                             return_dict=True, return_tensors="pt").to(self._device)
            kwargs: dict[str, object] = {"max_new_tokens": options.max_tokens,
                                         "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None
                                         else tok.eos_token_id}
            if options.temperature > 0:
                kwargs.update(do_sample=True, temperature=options.temperature, top_p=options.top_p or 1.0)
                torch.manual_seed(options.seed if options.seed is not None else 0)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            with torch.inference_mode():
                output = model.generate(**inputs, **kwargs)
            prompt_length = inputs["input_ids"].shape[1]
            new = output[0, prompt_length:]
            text = tok.decode(new, skip_special_tokens=True).strip()
            return Completion(text, int(prompt_length), int(new.shape[0]))
