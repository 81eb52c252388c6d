"""Evaluate a reranker on FollowIR tasks: rank every candidate list under the og and the changed
instruction, score the pair of runs, and (optionally) write TREC run files and ``results.json``."""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Mapping, Sequence

from followir.data.trec import write_qrels, write_run
from followir.metrics.followir_scores import FollowIRScores, score_followir
from followir.models.base import Progress, RankRequest, Reranker
from followir.records import VARIANTS, Run, Task

log = logging.getLogger(__name__)

# Given a task name, returns where the model reports its progress on that task.
ProgressFactory = Callable[[str], Progress]


@dataclass(frozen=True)
class TaskResult:
    task: Task
    scores: FollowIRScores
    runs: Mapping[str, Run]
    timings: Mapping[str, float]

    def to_dict(self, run_files: Mapping[str, str] | None = None,
                qrels_files: Mapping[str, str] | None = None) -> dict:
        return {
            "task": self.task.name,
            "source": self.task.source,
            "revision": self.task.revision,
            "queries": len(self.task.queries),
            "candidates": sum(len(c) for c in self.task.candidates.values()),
            "missing_candidates": self.task.missing_candidates,
            **({"language": self.task.metadata["language"]} if self.task.metadata.get("language") else {}),
            "scores": self.scores.to_dict(),
            "timings": dict(self.timings),
            **({"run_files": dict(run_files)} if run_files else {}),
            **({"qrels_files": dict(qrels_files)} if qrels_files else {}),
        }


@dataclass(frozen=True)
class Evaluation:
    model: Mapping[str, object]
    results: Sequence[TaskResult]
    timings: Mapping[str, float] = field(default_factory=dict)

    def average(self) -> dict[str, float]:
        """Mean over tasks of the main score and of p-MRR (the paper's 'Average' columns)."""
        n = len(self.results)
        return {"score": sum(r.scores.main_score for r in self.results) / n,
                "p-MRR": sum(r.scores.p_mrr for r in self.results) / n} if n else {}


def build_requests(task: Task, variants: Sequence[str] = VARIANTS) -> list[RankRequest]:
    return [RankRequest(q.id, v, q.text, q.instruction(v), task.candidates[q.id])
            for v in variants for q in task.queries]


def evaluate_task(model: Reranker, task: Task, progress: Progress | None = None,
                  resamples: int = 10_000) -> TaskResult:
    requests = build_requests(task)
    start = time.perf_counter()
    ranked = model.rerank(requests, task.corpus, progress)
    rank_s = time.perf_counter() - start
    runs: dict[str, dict[str, dict[str, float]]] = {v: {} for v in VARIANTS}
    for request, scores in zip(requests, ranked, strict=True):
        missing = set(request.candidates) - set(scores)
        if missing:
            raise RuntimeError(f"{model.name} returned no score for {len(missing)} candidates of query "
                               f"{request.query_id} ({request.variant}); every candidate must be scored")
        runs[request.variant][request.query_id] = scores
    start = time.perf_counter()
    scored = score_followir(task.qrels_og.judgements, task.qrels_changed.judgements, runs["og"],
                            runs["changed"], task.changed_documents, task.main_metric, resamples=resamples)
    score_s = time.perf_counter() - start
    return TaskResult(task, scored, {v: Run(runs[v], name=model.name) for v in VARIANTS},
                      {"rank_s": rank_s, "score_s": score_s,
                       "pairs": sum(len(r.candidates) for r in requests)})


def load_weights(model: Reranker) -> float:
    """Load a model's weights now (families that load lazily have ``load()``); returns the seconds it took."""
    start = time.perf_counter()
    loader = getattr(model, "load", None)
    if callable(loader):
        loader()
    return time.perf_counter() - start


def evaluate(model: Reranker, tasks: Sequence[Task], output_dir: str | Path | None = None,
             progress: ProgressFactory | None = None, resamples: int = 10_000,
             status: Callable[[str], ContextManager] | None = None, started: float | None = None) -> Evaluation:
    """Evaluate ``model`` on ``tasks``; when ``output_dir`` is given, write run files and results.json.

    ``status(text)`` is a context manager shown while the weights load (the CLI's spinner). ``started`` is the
    ``time.perf_counter()`` at which the caller began (the CLI: the command's start); ``timings`` then has
    ``setup_s`` (imports, data and weights, until ranking starts) and ``wall_s`` (the whole command) beside
    ``load_s`` (the weights) and ``total_s`` (loading, ranking and scoring).
    """
    from followir.evaluation.results import write_results

    start = time.perf_counter()
    with status(f"loading {model.name}") if status else nullcontext():
        load_s = load_weights(model)
    setup_s = time.perf_counter() - started if started is not None else None
    results = []
    for task in tasks:
        callback = progress(task.name) if progress else None
        results.append(evaluate_task(model, task, callback, resamples=resamples))
        log.info("%s on %s: %s=%.4f p-MRR=%.4f", model.name, task.name, task.main_metric,
                 results[-1].scores.main_score, results[-1].scores.p_mrr)
    timings = {"load_s": load_s, "total_s": time.perf_counter() - start}
    if started is not None:  # the command's own clock: imports, data and weights (setup_s), then everything
        timings["setup_s"] = setup_s
        timings["wall_s"] = time.perf_counter() - started
    evaluation = Evaluation({"name": model.name, **model.describe()}, results, timings)
    if output_dir is not None:
        write_results(evaluation, Path(output_dir))
    return evaluation


def write_runs(result: TaskResult, folder: Path) -> dict[str, str]:
    """Write ``<task>.og.trec`` and ``<task>.changed.trec``; returns their names by variant."""
    files = {}
    for variant, run in result.runs.items():
        name = f"{result.task.name}.{variant}.trec"
        write_run(run, folder / name, tag=run.name)
        files[variant] = name
    return files


def write_task_qrels(task: Task, folder: Path) -> dict[str, str]:
    """Write the task's judgements beside its runs, ``<task>.og.qrels`` and ``<task>.changed.qrels``, so that
    ``followir metrics``, trec_eval and pytrec_eval can start from a results folder; returns names by variant."""
    files = {}
    for variant, qrels in (("og", task.qrels_og), ("changed", task.qrels_changed)):
        name = f"{task.name}.{variant}.qrels"
        write_qrels(qrels, folder / name)
        files[variant] = name
    return files
