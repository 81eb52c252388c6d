"""``results.json``: scores with intervals and per-query values, task and revision, model, version, timings.

The file is strict JSON: an undefined value is ``null`` and an ``undefined`` object beside it says why.
"""

from __future__ import annotations

import json
import math
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
    from followir.evaluation.runner import write_runs, write_task_qrels

    folder.mkdir(parents=True, exist_ok=True)
    tasks = {}
    for result in evaluation.results:
        files = write_runs(result, folder)
        tasks[result.task.name] = result.to_dict(files, write_task_qrels(result.task, folder))
    average, undefined = _average(evaluation)
    payload = {
        "schema": SCHEMA_VERSION,
        "followir_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": dict(evaluation.model),
        "tasks": tasks,
        "average": average,
        "undefined": undefined,
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
    try:
        json.dumps(payload, allow_nan=False)
    except ValueError as e:  # a non-finite number left in: a bug, never written as bare NaN/Infinity
        raise ValueError(f"results.json would not be strict JSON ({e}); nothing was written") from None
    write_json(path, payload)
    return path


def _average(evaluation) -> tuple[dict, dict[str, str]]:
    """The mean over tasks of the main score and of p-MRR; ``None`` (with the reason) where a task's is undefined."""
    average: dict = {}
    undefined: dict[str, str] = {}
    for key, label in (("score", "main_score"), ("p-MRR", "p-MRR")):
        values = {r.task.name: (r.scores.main_score if key == "score" else r.scores.p_mrr)
                  for r in evaluation.results}
        if not values:
            continue
        bad = [name for name, v in values.items() if not math.isfinite(v)]
        if bad:
            average[key] = None
            reasons = []
            for r in evaluation.results:
                if r.task.name in bad:
                    why = r.scores.undefined.get("p-MRR" if key == "p-MRR" else "og", "undefined")
                    reasons.append(f"{r.task.name}: {why}")
            undefined[f"average.{key}"] = f"{label} is undefined on {len(bad)} task(s) ({'; '.join(reasons)})"
        else:
            average[key] = sum(values.values()) / len(values)
    return average, undefined


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
    except UnicodeDecodeError:
        raise DataFormatError(path, None, "bytes that are not UTF-8", "pass a results.json written by "
                              "'followir evaluate'") from None
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict) \
            or not isinstance(data.get("model"), dict):
        raise DataFormatError(path, None, "not a followir results file (no 'tasks'/'model')",
                              "pass a results.json written by 'followir evaluate'")
    return data
