"""What the neural families share: lazy imports with install hints, device and dtype choice, the cache."""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from pathlib import Path
from typing import Mapping

from followir.cache import Cache, fingerprint
from followir.errors import MissingDependencyError, OptionError

# Modules that no followir extra installs, with the exact command that does. torch is installed on its own, first,
# in the build for the user's hardware, so that no extra pulls a CUDA build onto a CPU machine.
# PyPI's default torch on Linux is the CUDA build (several GB); the CPU build comes from PyTorch's own index.
TORCH_INSTALL = ("pip install torch --index-url https://download.pytorch.org/whl/cpu "
                 "(the CPU build; with an NVIDIA GPU: pip install torch)")
_OWN_INSTALL = {"torch": TORCH_INSTALL}


def install_line(module: str, extra: str | None = None, pip: str | None = None) -> str:
    """The exact shell command that makes ``import module`` work.

    >>> install_line("torch", "llm").split(" (")[0]
    'pip install torch --index-url https://download.pytorch.org/whl/cpu'
    >>> install_line("peft", "train")
    "pip install 'followir[train]'"
    """
    top = module.split(".")[0]
    if top in _OWN_INSTALL:
        return _OWN_INSTALL[top]
    if pip:
        return f"pip install {pip}"
    return f"pip install 'followir[{extra}]'"


def require(module: str, extra: str | None = None, pip: str | None = None):
    """Import ``module`` or raise ``MissingDependencyError`` with the exact pip command.

    ``extra`` names a followir extra; ``pip`` names the package to install instead (no extra provides it).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{module!r} is not installed; it is needed here. Fix: {install_line(module, extra, pip)}"
        ) from None


DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(device: str | None) -> None:
    """Refuse a device that is not ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (or one this machine lacks)."""
    if device is None:
        return
    if not DEVICE_PATTERN.match(device):
        raise OptionError(f"--device {device!r} is not a device. Fix: use cpu, cuda, cuda:N, mps or auto")
    if device.startswith("cuda") or device == "mps":
        try:
            import torch
        except ImportError:
            return
        if device.startswith("cuda"):
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            index = int(device.partition(":")[2] or 0)
            if index >= count:
                raise OptionError(f"--device {device}: this machine has {count} CUDA device(s). "
                                  f"Fix: use {'cuda:0' if count else 'cpu'} or leave --device out")
        else:
            mps = getattr(torch.backends, "mps", None)
            if mps is None or not mps.is_available():
                raise OptionError("--device mps: MPS is not available here. Fix: use cpu or leave --device out")


def resolve_device(device: str | None = None) -> str:
    """``cuda`` when available, then ``mps``, else ``cpu``; an explicit choice wins."""
    torch = require("torch", "torch")
    check_device(device)
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


def dtype_key(device: str | None, dtype: str | None, engine: str = "transformers") -> str:
    """The dtype a model will run in, for the cache key and results: an explicit dtype as given; ``auto`` resolved
    the way ``resolve_dtype`` (transformers engine) or vLLM (``vllm`` engine: float32 on CPU, else the model
    config's dtype) resolves it, so scores computed in bf16 on a GPU are never served to a float32 CPU run.

    >>> dtype_key(None, "float16")
    'float16'
    """
    if dtype and dtype != "auto":
        return dtype
    if engine == "openai":
        return "server"
    cuda = resolve_device(device).startswith("cuda")
    if engine == "vllm":
        return "model-config" if cuda else "float32"
    return "bfloat16" if cuda else "float32"


def default_cache_path() -> Path:
    return Path(os.environ.get("FOLLOWIR_CACHE", Path.home() / ".cache" / "followir" / "cache.sqlite"))


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".h5", ".msgpack", ".model")
SAMPLE_BYTES = 1 << 20


def local_weights_fingerprint(path: str | Path) -> str | None:
    """Identity of the weights in a local model folder (or file): None for anything that is not a local path.

    Cheap on multi-GB checkpoints: every file's relative path, size and modification time, and a content hash
    of each weight file's first and last MiB (plus the whole of smaller files). A training script that saves
    into the same folder changes it, so the score cache never serves the old weights' scores; a rerun on
    unchanged weights finds the same key. (``followir train`` folders also record a full hash of their
    adapter, ``followir_model.json``; that stays part of their key.)
    """
    path = Path(str(path)).expanduser()
    try:
        if not path.exists():
            return None
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()
                                                     and not any(part.startswith(".") for part in
                                                                 p.relative_to(path).parts))
    except OSError:
        return None
    digest = hashlib.blake2b(digest_size=16)
    for file in files:
        stat = file.stat()
        name = file.name if file == path else str(file.relative_to(path))
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if file.suffix.lower() in WEIGHT_SUFFIXES or stat.st_size <= SAMPLE_BYTES:
            with file.open("rb") as f:
                digest.update(f.read(SAMPLE_BYTES))
                if stat.st_size > 2 * SAMPLE_BYTES:
                    f.seek(-SAMPLE_BYTES, os.SEEK_END)
                    digest.update(f.read(SAMPLE_BYTES))
    return digest.hexdigest()


def with_local_weights(description: Mapping[str, object]) -> dict:
    """``description`` plus the weights fingerprint of every local model path in it (model id, adapter)."""
    out = dict(description)
    settings = out.get("settings")
    where = dict(settings) if isinstance(settings, Mapping) else out
    weights = {}
    for key in ("model_id", "adapter"):
        value = where.get(key)
        if isinstance(value, str) and value:
            found = local_weights_fingerprint(value)
            if found is not None:
                weights[key] = found
    if weights:
        where["local_weights"] = weights
        if where is not out:
            out["settings"] = where
    return out


def open_cache(description: Mapping[str, object], cache_path: str | Path | None) -> Cache | None:
    """The cache for this model configuration; ``cache_path='none'`` turns caching off. A model loaded from a
    local folder is keyed by its weights as well as its path (``local_weights_fingerprint``)."""
    if cache_path is not None and str(cache_path).lower() in ("none", "off", ""):
        return None
    description = with_local_weights(description)
    cache = Cache(cache_path or default_cache_path(), fingerprint(description))
    cache.describe(description)
    return cache
