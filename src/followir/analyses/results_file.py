"""Analyses add their results to a model's ``results.json`` (the file ``followir evaluate`` writes) under a
top-level key of their own, e.g. ``ablation.<task>``, leaving everything else in the file as it was.

A folder without results.json gets a new one with the usual header (schema, version, model) and no tasks. The
file is rewritten atomically, so an interrupted analysis never leaves it half written.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from followir.atomic import write_json
from followir.errors import DataFormatError
from followir.evaluation.results import RESULTS_FILE, SCHEMA_VERSION


def update_results(folder: str | Path, model: Mapping[str, object], key: str, name: str, entry: Mapping) -> Path:
    """Set ``results[key][name] = entry`` in ``folder/results.json`` (created when absent) and return its path.

    The file must belong to the same model (by name): results of two models never mix in one file.
    """
    from followir import __version__

    folder = Path(folder)
    path = folder / RESULTS_FILE
    if path.is_file():
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataFormatError(path, e.lineno, f"invalid JSON ({e.msg})",
                                  "delete the file or write the analysis to another --output folder") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("model"), dict):
            raise DataFormatError(path, None, "not a followir results file (no 'model')",
                                  "write the analysis to another --output folder")
        theirs, ours = payload["model"].get("name"), model.get("name")
        if theirs != ours:
            raise DataFormatError(path, None, f"this results file belongs to model {theirs!r}, not {ours!r}",
                                  "write each model's analyses to its own --output folder")
    else:
        payload = {"schema": SCHEMA_VERSION, "followir_version": __version__,
                   "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": dict(model),
                   "tasks": {}, "average": {}, "timings": {},
                   "machine": {"python": platform.python_version(), "platform": platform.platform()}}
    section = payload.get(key)
    if not isinstance(section, dict):
        section = payload[key] = {}
    section[name] = dict(entry)
    payload["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    folder.mkdir(parents=True, exist_ok=True)
    write_json(path, payload)
    return path
