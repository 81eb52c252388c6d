"""Full-collection retrieval on FollowIR tasks (the FollowIR paper's Table 5, Appendix F).

Instead of reranking each query's candidate list, the model searches the task's whole corpus three times:
with the query alone (``none``), with the og instruction, and with the changed instruction. Reported:

- the no-instruction score: the ``none`` run against the og qrels, with the task's main metric (MAP@1000 for
  Robust04 and Core17, nDCG@5 for News21);
- its change with the instruction: the ``og`` run against the og qrels, minus the no-instruction score;
- p-MRR between the og and changed runs, over the changed documents the model actually retrieved (in its og
  top k). Each model is therefore judged on a different set of documents (the paper's note); the number it
  was judged on is reported beside it. A document retrieved under og but not under the changed instruction
  ranks just below the changed run's last document (followir's rule for absent documents).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from followir.metrics.pmrr import p_mrr_per_query
from followir.metrics.trec_measures import DEFAULT_MEASURES, mean_measures, per_query_measures
from followir.metrics.uncertainty import Interval, bootstrap_interval, paired_randomization_test
from followir.models.base import Progress
from followir.records import Run, Task
from followir.retrieval import HNSWSettings, Searcher, SearchRequest

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str], Progress]
RUNS = ("none", "og", "changed")
RESULTS_FILE = "full-retrieval.json"


@dataclass(frozen=True)
class FullRetrievalResult:
    """One model on one FollowIR task, retrieving over the whole corpus. Scores in raw units."""

    task: str
    model: Mapping[str, object]
    main_metric: str
    top_k: int
    documents: int
    queries: int
    runs: Mapping[str, Run]
    per_query: Mapping[str, Mapping[str, Mapping[str, float]]]  # run -> query -> measure
    scores: Mapping[str, Mapping[str, float]]  # run -> measure -> mean
    per_query_p_mrr: Mapping[str, float]
    changed_documents: int  # over all queries
    changed_documents_retrieved: int  # of those, in the og top k
    intervals: Mapping[str, Interval] = field(default_factory=dict)
    instruction_p_value: float = float("nan")  # paired test, og vs none, on the main metric
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def no_instruction_score(self) -> float:
        return self.scores["none"][self.main_metric]

    @property
    def instruction_score(self) -> float:
        return self.scores["og"][self.main_metric]

    @property
    def delta(self) -> float:
        """og instruction - no instruction, both on the og qrels (the paper's Table 5 delta)."""
        return self.instruction_score - self.no_instruction_score

    @property
    def p_mrr(self) -> float:
        values = list(self.per_query_p_mrr.values())
        return sum(values) / len(values) if values else float("nan")

    def to_dict(self, per_query: bool = True) -> dict:
        out = {
            "analysis": "full-retrieval", "task": self.task, "model": dict(self.model),
            "main_metric": self.main_metric, "top_k": self.top_k, "documents": self.documents,
            "queries": self.queries, "no_instruction_score": self.no_instruction_score,
            "instruction_score": self.instruction_score, "delta": self.delta,
            "instruction_p_value": self.instruction_p_value, "p-MRR": self.p_mrr,
            "p-MRR_queries": len(self.per_query_p_mrr), "changed_documents": self.changed_documents,
            "changed_documents_retrieved": self.changed_documents_retrieved,
            "scores": {r: dict(v) for r, v in self.scores.items()},
            "intervals": {k: v.to_dict() for k, v in self.intervals.items()}, "timings": dict(self.timings),
        }
        if per_query:
            out["per_query"] = {r: {q: v[self.main_metric] for q, v in pq.items()}
                                for r, pq in self.per_query.items()}
            out["per_query"]["p-MRR"] = dict(self.per_query_p_mrr)
        return out


def retrieved_changed_documents(task: Task, run_og: Run) -> dict[str, frozenset[str]]:
    """The changed documents of each query that the og run retrieved (the only ones p-MRR can judge)."""
    return {q: frozenset(d for d in docs if d in run_og.scores.get(q, {}))
            for q, docs in task.changed_documents.items()}


def run_full_retrieval(model, task: Task, *, top_k: int = 1000, approximate: HNSWSettings | None = None,
                       bm25_method: str = "robertson", progress: ProgressFactory | None = None,
                       resamples: int = 10_000) -> FullRetrievalResult:
    """Search ``task``'s whole corpus with no instruction, the og and the changed instruction; score."""
    start = time.perf_counter()
    searcher = Searcher(model, task.corpus, approximate=approximate, bm25_method=bm25_method,
                        progress=progress("index documents") if progress else None)
    timings = {"index_s": time.perf_counter() - start}
    runs: dict[str, Run] = {}
    for variant in RUNS:
        requests = [SearchRequest(q.id, q.text, q.instruction(variant)) for q in task.queries]
        callback = progress(f"search ({variant})") if progress else None
        runs[variant] = searcher.search(requests, top_k, callback)
        timings[f"search_{variant}_s"] = searcher.last_search_seconds
    qrels = {"none": task.qrels_og, "og": task.qrels_og, "changed": task.qrels_changed}
    per_query = {v: per_query_measures(qrels[v].judgements, runs[v].scores, DEFAULT_MEASURES) for v in RUNS}
    scores = {v: mean_measures(per_query[v]) for v in RUNS}
    retrieved = retrieved_changed_documents(task, runs["og"])
    pq_pmrr = p_mrr_per_query(runs["og"].scores, runs["changed"].scores, retrieved)
    main = task.main_metric
    intervals = {f"{v}.{main}": bootstrap_interval({q: x[main] for q, x in per_query[v].items()},
                                                  resamples=resamples) for v in RUNS}
    intervals["p-MRR"] = bootstrap_interval(pq_pmrr, resamples=resamples)
    test = paired_randomization_test({q: x[main] for q, x in per_query["og"].items()},
                                     {q: x[main] for q, x in per_query["none"].items()}, resamples=resamples)
    timings["total_s"] = time.perf_counter() - start
    model_info = {"name": model.name, **(model.describe() if hasattr(model, "describe") else {}),
                  "search": searcher.describe()}
    result = FullRetrievalResult(
        task.name, model_info, main, top_k, len(task.corpus), len(task.queries), runs, per_query, scores,
        pq_pmrr, sum(len(d) for d in task.changed_documents.values()),
        sum(len(d) for d in retrieved.values()), intervals, test.p_value, timings)
    log.info("%s on %s (full collection): %s none=%.4f og=%.4f delta=%+.4f p-MRR=%.4f", model.name, task.name,
             main, result.no_instruction_score, result.instruction_score, result.delta, result.p_mrr)
    return result


def write_full_retrieval(results: list[FullRetrievalResult], folder: str | Path) -> Path:
    """Write each task's three TREC runs (``<task>.<run>.trec``), then ``full-retrieval.json``, atomically."""
    from followir.atomic import write_json
    from followir.data.trec import write_run

    folder = Path(folder)
    tasks = {}
    for result in results:
        files = {}
        for variant, run in result.runs.items():
            name = f"{result.task}.{variant}.trec"
            write_run(run, folder / name)
            files[variant] = name
        tasks[result.task] = {**result.to_dict(), "run_files": files}
    path = folder / RESULTS_FILE
    write_json(path, {"analysis": "full-retrieval", "tasks": tasks})
    return path
