"""Models: one ``Reranker`` interface, one registry, one module per family."""

from followir.models.base import RankRequest, Reranker
from followir.models.registry import FAMILIES, MODELS, ModelSpec, load_model

__all__ = ["FAMILIES", "MODELS", "ModelSpec", "RankRequest", "Reranker", "load_model"]
