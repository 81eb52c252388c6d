"""What the neural families share: lazy imports with install hints, device and dtype choice, the cache."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Mapping

from followir.cache import Cache, fingerprint
from followir.errors import MissingDependencyError


def require(module: str, extra: str | None = None, pip: str | None = None):
    """Import ``module`` or raise ``MissingDependencyError`` with the exact pip command.

    ``extra`` names a followir extra; ``pip`` names the package to install instead (no extra provides it).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        target = pip or f"'followir[{extra}]'"
        raise MissingDependencyError(
            f"{module!r} is not installed; it is needed here. Fix: pip install {target}"
        ) from None


def resolve_device(device: str | None = None) -> str:
    """``cuda`` when available, then ``mps``, else ``cpu``; an explicit choice wins."""
    torch = require("torch", "torch")
    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(device: str, dtype: str | None = None):
    """bf16 on GPU, float32 on CPU, unless told otherwise."""
    torch = require("torch", "torch")
    if dtype and dtype != "auto":
        return getattr(torch, dtype)
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def default_cache_path() -> Path:
    return Path(os.environ.get("FOLLOWIR_CACHE", Path.home() / ".cache" / "followir" / "cache.sqlite"))


def open_cache(description: Mapping[str, object], cache_path: str | Path | None) -> Cache | None:
    """The cache for this model configuration; ``cache_path='none'`` turns caching off."""
    if cache_path is not None and str(cache_path).lower() in ("none", "off", ""):
        return None
    cache = Cache(cache_path or default_cache_path(), fingerprint(description))
    cache.describe(description)
    return cache
