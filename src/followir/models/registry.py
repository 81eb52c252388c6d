"""The one model registry: registered names with their family and settings, and the family factories.

A model the registry lacks is loaded by giving its family explicitly; the family is never guessed
from the name. Families that need heavy libraries name the extra to install, and are imported only
when used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Mapping

from followir.errors import MissingDependencyError, UnknownNameError
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
    )
}

MODELS: dict[str, ModelSpec] = {
    m.name: m for m in (
        ModelSpec("bm25", "bm25", group="No-Instruction IR",
                  description="Okapi BM25 over each query's candidate pool (the paper's protocol)"),
        ModelSpec("bm25-corpus", "bm25", settings={"stats": "corpus"}, group="No-Instruction IR",
                  description="Okapi BM25 with collection-wide statistics"),
    )
}


def resolve(name: str, family: str | None = None) -> ModelSpec:
    """The registered spec for ``name``, or an ad-hoc spec when ``family`` is given."""
    if name in MODELS and family is None:
        return MODELS[name]
    if family is None:
        raise UnknownNameError(
            f"unknown model {name!r}. Fix: use a registered name ({', '.join(sorted(MODELS))}) or give "
            f"its family with --family ({', '.join(sorted(FAMILIES))})"
        )
    if family not in FAMILIES:
        raise UnknownNameError(f"unknown family {family!r}; families: {', '.join(sorted(FAMILIES))}")
    base = MODELS.get(name)
    if base is not None and base.family == family:
        return base
    return ModelSpec(name=name, family=family, model_id=name)


def load_model(name: str, family: str | None = None, **overrides) -> Reranker:
    spec = resolve(name, family)
    fam = FAMILIES[spec.family]
    for module in fam.requires:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(
                f"model family {fam.name!r} needs {module!r}: pip install 'followir[{fam.extra}]'"
            ) from None
    module_name, _, attr = fam.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    kwargs = dict(spec.settings)
    if spec.model_id is not None:
        kwargs["model_id"] = spec.model_id
    if spec.revision is not None:
        kwargs["revision"] = spec.revision
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    model = factory(**kwargs)
    model.name = spec.name
    return model
