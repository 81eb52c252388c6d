"""Evaluate a reranker on the field's other benchmarks (InfoSearch, NevIR, IFIR) with the same models, cache and
results file as FollowIR: rank every query in every mode, score with the benchmark's own metrics, bootstrap
every metric over queries, and add the result to ``results.json`` under ``field.<task>``.

- InfoSearch: WISE (main), SICR and p-MRR (og vs instructed), nDCG@10 per mode (``ori``, ``ins``, ``rev``).
- NevIR: paired accuracy (main) and per-query accuracy (a model that always prefers one passage gets 50%).
- IFIR: nDCG@20 with the instruction (main) and without it, over all instructions and per level.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from followir.data.field import FieldTask
from followir.metrics.uncertainty import Interval, bootstrap_interval
from followir.models.base import Progress, RankRequest, Reranker

log = logging.getLogger(__name__)

PerQuery = Mapping[str, Mapping[str, float]]  # metric -> query id -> value


@dataclass(frozen=True)
class FieldResult:
    task: FieldTask
    scores: Mapping[str, float]  # metric -> mean over its queries (raw units)
    per_query: PerQuery
    intervals: Mapping[str, Interval]
    runs: Mapping[str, Mapping[str, Mapping[str, float]]]  # mode -> query id -> doc -> score
    timings: Mapping[str, float]
    breakdown: Mapping[str, Mapping[str, float]]  # e.g. IFIR: "level.2" -> metric -> value

    @property
    def main_score(self) -> float:
        return self.scores[self.task.main_metric]

    def to_dict(self, run_files: Mapping[str, str] | None = None) -> dict:
        task = self.task
        return {
            "task": task.name, "benchmark": task.kind, "source": task.source, "revision": task.revision,
            "metadata": dict(task.metadata), "queries": len(task.queries),
            "candidates": sum(len(c) for c in task.candidates.values()),
            "main_metric": task.main_metric, "main_score": _finite(self.main_score),
            "scores": {k: _finite(v) for k, v in self.scores.items()},
            "breakdown": {g: {k: _finite(v) for k, v in m.items()} for g, m in self.breakdown.items()},
            "intervals": {k: {m: _finite(x) for m, x in v.to_dict().items()} for k, v in self.intervals.items()},
            "per_query": {k: dict(v) for k, v in self.per_query.items()},
            "undefined": {k: "no query has what this metric needs" for k, v in self.scores.items()
                          if not math.isfinite(v)},
            "timings": dict(self.timings),
            **({"run_files": dict(run_files)} if run_files else {}),
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _mean(values: Mapping[str, float]) -> float:
    return math.fsum(values[q] for q in sorted(values)) / len(values) if values else float("nan")


def rank_field_task(model: Reranker, task: FieldTask,
                    progress: Progress | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Every query ranked in every mode it has: ``mode -> query id -> {doc: score}``."""
    requests = [RankRequest(q.id, mode, q.text, q.instructions[mode], task.candidates[q.id])
                for mode in task.modes for q in task.queries if mode in q.instructions]
    ranked = model.rerank(requests, task.corpus, progress)
    runs: dict[str, dict[str, dict[str, float]]] = {m: {} for m in task.modes}
    for request, scores in zip(requests, ranked, strict=True):
        missing = set(request.candidates) - set(scores)
        if missing:
            raise RuntimeError(f"{getattr(model, 'name', 'model')} returned no score for {len(missing)} candidates of "
                               f"query {request.query_id} ({request.variant}); every candidate must be scored")
        runs[request.variant][request.query_id] = dict(scores)
    return runs


def score_field_task(task: FieldTask, runs: Mapping[str, Mapping[str, Mapping[str, float]]],
                     resamples: int = 10_000) -> tuple[dict, dict, dict]:
    """``(scores, per_query, breakdown)`` of a ranked field task with the benchmark's metrics."""
    scorer = {"infosearch": _score_infosearch, "nevir": _score_nevir, "ifir": _score_ifir}.get(task.kind)
    if scorer is None:
        raise ValueError(f"unknown benchmark kind {task.kind!r}")
    per_query, breakdown = scorer(task, runs)
    return {k: _mean(v) for k, v in per_query.items()}, per_query, breakdown


def infosearch_positives_negatives(task: FieldTask) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """InfoSearch's split of the og-judged documents (EIT-NLP/InfoSearch ``AbsTaskInstructionRetrieval.py``
    ``create_qrel_match``, lines 673-692): positive when relevant (1) under both og and instructed qrels,
    negative when the instructed qrels turn it to 0."""
    og, ins = task.qrels["ori"], task.qrels["ins"]
    positives: dict[str, list[str]] = {}
    negatives: dict[str, list[str]] = {}
    for qid in sorted(og):
        pos, neg = positives.setdefault(qid, []), negatives.setdefault(qid, [])
        for doc, rel in og[qid].items():
            new = ins.get(qid, {}).get(doc, 0)
            if new == rel and new == 1:
                pos.append(doc)
            elif new != rel and new == 0:
                neg.append(doc)
    return positives, negatives


def _score_infosearch(task: FieldTask, runs) -> tuple[dict, dict]:
    from followir.metrics.pmrr import p_mrr_per_query
    from followir.metrics.sicr import sicr_per_query
    from followir.metrics.trec_measures import per_query_measures
    from followir.metrics.wise import wise_per_query

    positives, negatives = infosearch_positives_negatives(task)
    ori, ins, rev = runs["ori"], runs["ins"], runs["rev"]
    per_query = {
        "WISE": wise_per_query(ori, ins, rev, positives, negatives),
        "SICR": sicr_per_query(ori, ins, rev, positives),
        "p-MRR": p_mrr_per_query(ori, ins, {q: frozenset(d) for q, d in negatives.items()}),
    }
    for mode in task.modes:
        values = per_query_measures(task.qrels[mode], runs[mode], ("ndcg_cut_10",))
        per_query[f"{mode}.ndcg_cut_10"] = {q: v["ndcg_cut_10"] for q, v in values.items()}
    return per_query, {}


def _score_nevir(task: FieldTask, runs) -> tuple[dict, dict]:
    from followir.metrics.paired_accuracy import paired_accuracy_per_pair, query_correct

    run, qrels = runs["query"], task.qrels["query"]
    return {"paired_accuracy": paired_accuracy_per_pair(run, qrels),
            "query_accuracy": {q: 1.0 if query_correct(run.get(q, {}), qrels[q]) else 0.0 for q in sorted(qrels)}}, {}


def _score_ifir(task: FieldTask, runs) -> tuple[dict, dict]:
    from followir.metrics.ifir_levels import NDCG20, mean_by_level, ndcg20_per_instruction

    qrels = task.qrels["instruction"]
    with_inst = ndcg20_per_instruction(qrels, runs["instruction"])
    base_of = {q.id: q.base for q in task.queries if q.base is not None}
    level_of = {q.id: q.level or 0 for q in task.queries if q.base is not None}
    # without the instruction: the base query's one ranking, judged against each instruction's documents
    none_run = {iid: runs["none"].get(base_of[iid], {}) for iid in qrels}
    without = ndcg20_per_instruction(qrels, none_run)
    per_query = {NDCG20: with_inst, f"none.{NDCG20}": without,
                 f"gain.{NDCG20}": {q: with_inst[q] - without[q] for q in with_inst}}
    breakdown: dict[str, dict[str, float]] = {}
    for key, values in per_query.items():
        for group, value in mean_by_level(values, level_of).items():
            if group != "all":
                breakdown.setdefault(group, {})[key] = value
    for level in sorted({level_of[q] for q in with_inst}):
        members = [q for q in with_inst if level_of[q] == level]
        breakdown[f"level.{level}"]["instructions"] = float(len(members))
    return per_query, breakdown


def evaluate_field_task(model: Reranker, task: FieldTask, progress: Progress | None = None,
                        resamples: int = 10_000) -> FieldResult:
    start = time.perf_counter()
    runs = rank_field_task(model, task, progress)
    rank_s = time.perf_counter() - start
    start = time.perf_counter()
    scores, per_query, breakdown = score_field_task(task, runs, resamples)
    intervals = {k: bootstrap_interval(v, resamples=resamples) for k, v in per_query.items()}
    if task.kind == "ifir":  # an interval for every level too
        levels = {q.id: q.level or 0 for q in task.queries if q.base is not None}
        for key, values in per_query.items():
            for level in sorted(set(levels.values())):
                subset = {q: v for q, v in values.items() if levels.get(q) == level}
                intervals[f"level.{level}.{key}"] = bootstrap_interval(subset, resamples=resamples)
    timings = {"rank_s": rank_s, "score_s": time.perf_counter() - start,
               "pairs": float(sum(len(task.candidates[q]) for m in runs.values() for q in m))}
    log.info("%s on %s: %s=%.4f", getattr(model, "name", "model"), task.name, task.main_metric,
             scores.get(task.main_metric, float("nan")))
    return FieldResult(task, scores, per_query, intervals, runs, timings, breakdown)


def write_field_result(result: FieldResult, folder: str | Path, model: Mapping[str, object]) -> Path:
    """Write one run file per mode (``<task>.<mode>.trec``) and merge the result into ``results.json`` under
    ``field.<task>``."""
    from followir.analyses.results_file import update_results
    from followir.data.trec import write_run
    from followir.records import Run

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for mode, run in result.runs.items():
        name = f"{result.task.name}.{mode}.trec"
        write_run(Run(run, name=str(model.get("name", "followir"))), folder / name,
                  tag=str(model.get("name", "followir")))
        files[mode] = name
    return update_results(folder, model, "field", result.task.name, result.to_dict(files))
