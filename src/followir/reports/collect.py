"""Results files gathered for a report: one row per model, its tasks merged across files.

A model evaluated task by task into several folders (``followir evaluate -t robust04 -o a``, then
``-t news21 -o b``) becomes one row. Files of the same model name but different settings (another
template, say) stay separate rows, labelled with their folder so the table tells them apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from followir.errors import DataFormatError
from followir.evaluation.results import RESULTS_FILE, read_results

OTHER_GROUP = "Other"


@dataclass(frozen=True)
class ModelRow:
    """One table row: a model's merged results (the results.json schema) and where they came from."""

    label: str
    name: str
    group: str
    results: Mapping[str, object]
    sources: tuple[str, ...]

    @property
    def tasks(self) -> Mapping[str, dict]:
        return self.results["tasks"]  # type: ignore[return-value]

    @property
    def ablation(self) -> Mapping[str, dict]:
        return self.results.get("ablation") or {}  # type: ignore[return-value]


def results_path(path: str | Path) -> Path:
    """The results.json of a folder, or the file itself."""
    path = Path(path)
    return path / RESULTS_FILE if path.is_dir() else path


def model_group(name: str) -> str:
    """The registry's Table 2 group of a model name; ``Other`` for models the registry does not know."""
    from followir.models.registry import MODELS

    spec = MODELS.get(name)
    return spec.group if spec is not None else OTHER_GROUP


def group_order() -> list[str]:
    """Groups in the order the registry (the paper's Table 2) first lists them, then ``Other``."""
    from followir.models.registry import MODELS

    order: list[str] = []
    for spec in MODELS.values():
        if spec.group not in order:
            order.append(spec.group)
    if OTHER_GROUP in order:
        order.remove(OTHER_GROUP)
    return order + [OTHER_GROUP]


def load_rows(paths: Iterable[str | Path]) -> list[ModelRow]:
    """Read results files (or folders) and merge them into rows, in the order first seen."""
    loaded = []
    for path in paths:
        file = results_path(path)
        loaded.append((file, _scores_with_nan(read_results(file))))
    if not loaded:
        raise ValueError("no results given; pass one or more folders written by 'followir evaluate'")
    return merge_rows(loaded)


def _scores_with_nan(results: dict) -> dict:
    """results.json writes an undefined score as null (strict JSON); the report's arithmetic and its tables read
    it as nan, which every table shows as '-' and every plot leaves out. Only scores are touched."""
    tasks = {name: {**entry, "scores": _undefined_as_nan(entry["scores"])} if isinstance(entry, dict)
             and isinstance(entry.get("scores"), dict) else entry
             for name, entry in (results.get("tasks") or {}).items()}
    return {**results, "tasks": tasks} if "tasks" in results else results


def _undefined_as_nan(value):
    if value is None:
        return float("nan")
    if isinstance(value, dict):
        return {k: (v if k == "undefined" else _undefined_as_nan(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_undefined_as_nan(v) for v in value]
    return value


def merge_rows(loaded: Iterable[tuple[Path, Mapping]]) -> list[ModelRow]:
    """Merge ``(path, results dict)`` pairs by model name and settings."""
    merged: dict[tuple[str, str], dict] = {}
    origins: dict[tuple[str, str], dict[str, Path]] = {}  # key -> task (or ablation:task) -> file
    files: dict[tuple[str, str], list[str]] = {}
    for path, data in loaded:
        model = dict(data["model"])
        name = str(model.get("name", "?"))
        key = (name, json.dumps(model.get("settings", {}), sort_keys=True, default=str))
        row = merged.setdefault(key, {"model": model, "tasks": {}, "ablation": {}, "field": {}, "control": {},
                                      "followir_version": data.get("followir_version"),
                                      "created": data.get("created")})
        seen = origins.setdefault(key, {})
        files.setdefault(key, []).append(str(path))
        for part in ("tasks", "ablation", "field", "control"):
            for task, entry in (data.get(part) or {}).items():
                where = f"{part}:{task}"
                if where in seen:
                    kind = {"tasks": "a result", "ablation": "an ablation result", "field": "a result",
                            "control": "a control result"}[part]
                    raise DataFormatError(path, None, f"model {name!r} has {kind} for task {task!r} here and "
                                          f"in {seen[where]}", "pass one results folder per model and task")
                seen[where] = path
                row[part][task] = entry
    names = [name for name, _ in merged]
    rows = []
    for (name, _settings), data in merged.items():
        sources = tuple(files[(name, _settings)])
        label = name
        if names.count(name) > 1:  # same model, different settings: tell the rows apart by folder
            label = f"{name} ({Path(sources[0]).parent.name})"
        rows.append(ModelRow(label, name, model_group(name), data, sources))
    labels = [r.label for r in rows]
    return [r if labels.count(r.label) == 1 else
            ModelRow(f"{r.label} #{i + 1}", r.name, r.group, r.results, r.sources)
            for i, r in enumerate(rows)]


def grouped(rows: Iterable[ModelRow]) -> list[tuple[str, list[ModelRow]]]:
    """Rows by group, groups in the registry's order, rows in input order within a group."""
    rows = list(rows)
    out = []
    for group in group_order():
        members = [r for r in rows if r.group == group]
        if members:
            out.append((group, members))
    return out


def task_names(rows: Iterable[ModelRow]) -> list[str]:
    """Every task any row has, in the order first seen."""
    names: list[str] = []
    for row in rows:
        for task in row.tasks:
            if task not in names:
                names.append(task)
    return names
