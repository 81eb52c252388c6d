"""``results.json``: scores with intervals and per-query values, task and revision, model, version, timings."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

from followir.atomic import write_json
from followir.errors import DataFormatError

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1


def write_results(evaluation, folder: Path) -> Path:
    """Write run files then ``results.json`` (last, atomically: its presence means the run completed)."""
    from followir import __version__
    from followir.evaluation.runner import write_runs

    folder.mkdir(parents=True, exist_ok=True)
    tasks = {}
    for result in evaluation.results:
        files = write_runs(result, folder)
        tasks[result.task.name] = result.to_dict(files)
    payload = {
        "schema": SCHEMA_VERSION,
        "followir_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": dict(evaluation.model),
        "tasks": tasks,
        "average": evaluation.average(),
        "timings": dict(evaluation.timings),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    path = folder / RESULTS_FILE
    if path.is_file():  # keep what analyses added to this file (e.g. the length ablation)
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            previous = {}
        if isinstance(previous, dict) and previous.get("model", {}).get("name") == payload["model"].get("name"):
            payload = {**{k: v for k, v in previous.items() if k not in payload}, **payload}
    write_json(path, payload)
    return path


def read_results(path: str | Path) -> dict:
    """Read a results file (or the ``results.json`` inside a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise DataFormatError(path, None, "no results file here", "pass a folder written by 'followir evaluate'")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(path, e.lineno, f"invalid JSON ({e.msg})", "re-run the evaluation") from None
    if not isinstance(data, dict) or "tasks" not in data or "model" not in data:
        raise DataFormatError(path, None, "not a followir results file (no 'tasks'/'model')",
                              "pass a results.json written by 'followir evaluate'")
    return data
