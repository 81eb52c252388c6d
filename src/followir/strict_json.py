"""Strict JSON: what followir writes and prints parses in every JSON parser (no bare NaN or Infinity).

An undefined number (``nan``, ``inf``) becomes ``null``, and its place is recorded with the reason in the
top-level ``undefined`` object, beside any reasons the producer already gave there.
"""

from __future__ import annotations

import json
import math
from typing import Any

UNDEFINED_KEY = "undefined"
REASON = "not a finite number (undefined for this input)"


def strict(data: Any) -> Any:
    """``data`` with every non-finite float replaced by None; a dict gets ``undefined[path] = reason``.

    >>> out = strict({"map": 0.5, "p-MRR": float("nan"), "per_query": {"q1": float("inf")}})
    >>> out["p-MRR"], out["per_query"], sorted(out["undefined"])
    (None, {'q1': None}, ['p-MRR', 'per_query.q1'])
    """
    found: dict[str, str] = {}

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            found[path] = REASON
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    out = clean(data, "")
    if found and isinstance(out, dict):
        given = out.get(UNDEFINED_KEY)
        reasons = dict(given) if isinstance(given, dict) else {}
        for path, reason in found.items():
            reasons.setdefault(path, reason)
        out[UNDEFINED_KEY] = reasons
    return out


def dumps(data: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``data`` (see :func:`strict`)."""
    return json.dumps(strict(data), indent=indent, allow_nan=False, ensure_ascii=False)
