"""Which causal LM to fine-tune: a registry name, a hub id, a local folder or a ``.gguf`` file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from followir.errors import UnknownNameError


@dataclass(frozen=True)
class BaseModel:
    name: str  # as the user gave it
    model_id: str  # what the model card records: a registry id (``pypi:...|hub``), a hub id or an absolute path
    path: str  # what loads now (registry ids resolved)
    template: str
    revision: str | None = None
    gguf_file: str | None = None
    trust_remote_code: bool = False


def resolve_base_model(name: str, template: str | None = None, revision: str | None = None,
                       trust_remote_code: bool = False) -> BaseModel:
    """A registered causal-lm name keeps its template and GGUF file; anything else uses ``template``
    (default ``chat``: the model's own chat template)."""
    from followir.models.registry import MODELS, resolve_model_id
    from followir.models.templates import get_template

    spec = MODELS.get(name)
    if spec is not None:
        if spec.family != "causal-lm":
            raise UnknownNameError(f"{name!r} is a {spec.family} model; LoRA training makes yes/no rerankers from "
                                   f"causal LMs. Fix: use a causal-lm model (followir models lists them) or a "
                                   f"hub id or path of a causal LM")
        chosen = template or str(spec.settings.get("template", "chat"))
        base = BaseModel(name, spec.model_id, resolve_model_id(spec.model_id), chosen,
                         revision or spec.revision, spec.settings.get("gguf_file"), trust_remote_code)
    else:
        path = Path(name).expanduser()
        if path.is_file() and path.suffix == ".gguf":
            folder = str(path.parent.resolve())
            base = BaseModel(name, folder, folder, template or "chat", None, path.name, trust_remote_code)
        elif (path / "followir_model.json").is_file():  # a model trained here: go on from its merged weights
            from followir.models.trained import read_trained_model

            trained = read_trained_model(path)
            if trained.merged is None:
                raise UnknownNameError(f"{name} holds a LoRA adapter of {trained.base_model or trained.model_id}; "
                                       f"training goes on from full weights. Fix: train it again with --export "
                                       f"merged, or start from the base model")
            folder = str((path / trained.merged).resolve())
            base = BaseModel(name, folder, folder, template or trained.template, None, None, trust_remote_code)
        elif path.exists():
            folder = str(path.resolve())
            base = BaseModel(name, folder, folder, template or "chat", None, None, trust_remote_code)
        else:  # a hub id
            base = BaseModel(name, name, name, template or "chat", revision, None, trust_remote_code)
    if get_template(base.template).family != "causal-lm":
        raise UnknownNameError(f"template {base.template!r} is not a causal-lm template; use followir-7b, "
                               f"llama2-chat or chat (templates.yaml)")
    return base


def load_causal_lm(base: BaseModel, dtype):
    """The base model's weights, as a plain dense model.

    A GGUF file is de-quantized at load time and its quantization marker removed: transformers refuses
    to train or save a model it considers GGUF-quantized, though its weights are then ordinary tensors.
    """
    from followir.models.runtime import require

    transformers = require("transformers", "train")
    kwargs = {"revision": base.revision, "trust_remote_code": base.trust_remote_code, "dtype": dtype}
    if base.gguf_file:
        kwargs["gguf_file"] = base.gguf_file
        kwargs["quantization_config"] = transformers.GgufConfig(dequantize=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(base.path, **kwargs)
    quantizer = getattr(model, "hf_quantizer", None)
    if base.gguf_file and quantizer is not None:
        quantizer.remove_quantization_config(model)
    return model


def scorer_for(base: BaseModel, max_length: int):
    """The evaluation scorer of the base model: training builds its prompts with it (the model stays unloaded)."""
    from followir.models.causal_lm import CausalLMReranker

    return CausalLMReranker(base.path, revision=base.revision, template=base.template, max_length=max_length,
                            gguf_file=base.gguf_file, trust_remote_code=base.trust_remote_code, cache_path="none")
