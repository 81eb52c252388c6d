"""Option checks that run before any expensive work (loading weights, ranking, scoring).

Each raises ``OptionError`` naming the option as the user typed it, what is wrong and the fix; the commands
call them first, so a bad ``--resamples``, ``--output``, ``--device``, ``--cache`` or ``--timeout`` stops the
run at once instead of after hours of scoring.
"""

from __future__ import annotations

import os
from pathlib import Path

from followir.errors import OptionError

NO_CACHE = ("none", "off", "")


def check_resamples(resamples: int, option: str = "--resamples") -> None:
    if resamples < 1:
        raise OptionError(f"{option} {resamples}: bootstrap intervals and tests need at least one resample. "
                          f"Fix: use a positive number (10000 is the default; 1000 for a quick look)")


def check_timeout(timeout: float | None, option: str = "--timeout") -> None:
    if timeout is not None and not timeout > 0:
        raise OptionError(f"{option} {timeout}: use a positive number of seconds per request (e.g. 60)")


def check_output_folder(path: str | Path, option: str = "--output") -> None:
    """Refuse an output folder that is a file, lies below a file, or cannot be created or written."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OptionError(f"{option} {path} is a file, not a folder. Fix: give a folder (it is created if missing)")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OptionError(f"{option} {path} lies below {existing}, which is a file. Fix: give a folder path")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(f"{option} {path}: {existing} is not writable. Fix: give a folder you can write to")


def check_device(device: str | None) -> None:
    from followir.models.runtime import check_device as check

    check(device)


def keeps_cache(family: str) -> bool:
    """Whether a family's factory takes ``cache_path`` (BM25 keeps no score cache)."""
    import importlib
    import inspect

    from followir.models.registry import FAMILIES

    module_name, _, attr = FAMILIES[family].factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError:  # a missing extra: load_model says which
        return True
    return "cache_path" in inspect.signature(factory).parameters


def model_options(model: str, family: str | None, options: dict) -> dict:
    """``options`` for ``load_model``, checked: a model name that bm25 cannot take, ``--cache`` with a family
    that keeps no cache (``--cache none`` is accepted and dropped), a cache path that is a folder or not an
    SQLite file, a model path that does not exist, an unknown ``--device``."""
    from followir.cache import check_cache_file
    from followir.models.registry import MODELS, resolve
    from followir.models.runtime import default_cache_path

    if family is not None and family != "bm25" and model not in MODELS and _looks_like_path(model) \
            and not Path(model).expanduser().exists():
        raise OptionError(f"--model {model}: no such folder or file. Fix: check the path, or give a registered "
                          f"name ('followir models') or a hub id such as org/name")
    spec = resolve(model, family)
    out = dict(options)
    if spec.family == "bm25":
        if family is not None and model not in MODELS:
            raise OptionError(f"--model {model}: the bm25 family loads no weights, so it takes no model path or "
                              f"id. Fix: use --model bm25 (or bm25-corpus) without --family")
    cache = out.get("cache_path")
    if not keeps_cache(spec.family):
        if cache is not None and str(cache).lower() not in NO_CACHE:
            raise OptionError(f"--cache {cache}: the {spec.family} family keeps no score cache. Fix: leave "
                              f"--cache out")
        out.pop("cache_path", None)
    elif cache is None or str(cache).lower() not in NO_CACHE:
        check_cache_file(Path(cache).expanduser() if cache else default_cache_path())
        if cache:
            out["cache_path"] = str(Path(cache).expanduser())
    check_device(out.get("device"))
    return out


def _looks_like_path(name: str) -> bool:
    """A name that can only be a local path: absolute, relative with ./ or ../, ~, or more than one '/'."""
    return (name.startswith(("/", "./", "../", "~", ".\\")) or os.sep != "/" and os.sep in name
            or name.count("/") > 1)
