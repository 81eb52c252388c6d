"""The instruction length ablation (the FollowIR paper's Figure 3): does a model gain from the instruction, and
does that depend on how long it is?

Each query's candidates are ranked four times, with the query plus:

- ``none``: no instruction (one run; it is the same for the og and the changed query);
- ``keywords``: one or two keywords of the og instruction;
- ``short``: a short, abstract instruction (about 10 words);
- ``full``: the full og instruction;

and once more with the changed instruction, for p-MRR. Every variant is scored with the task's main metric
against the og qrels; the change of each against ``none`` is the ablation. p-MRR exists only for ``full``: the
data gives no keywords or short instruction of the *changed* instruction.

Keywords and short instructions come from the data (the original layout has them); where it lacks them they
are generated (``followir.analyses.instruction_variants``). A query for which generation failed is left out
of every variant, so all variants are compared on the same queries, and is listed in ``excluded``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from followir.analyses.instruction_variants import GenerationReport, VariantGenerator, complete_variants
from followir.errors import FollowIRError
from followir.metrics.pmrr import p_mrr_per_query
from followir.metrics.trec_measures import per_query_measures
from followir.metrics.uncertainty import Interval, bootstrap_interval
from followir.models.base import Progress, RankRequest, Reranker
from followir.records import Run, Task

log = logging.getLogger(__name__)

VARIANTS = ("none", "keywords", "short", "full")
CHANGES = ("keywords", "short", "full")
# The Query.instruction variant each ablation variant reads; "changed" is ranked only for p-MRR of "full".
INSTRUCTION_OF = {"none": "none", "keywords": "keywords", "short": "short", "full": "og", "changed": "changed"}
ON_FAILURE = ("exclude", "raise")


class GenerationFailedError(FollowIRError, RuntimeError):
    """Generation failed for some queries and ``on_failure='raise'`` was asked for."""


@dataclass(frozen=True)
class AblationResult:
    """One model on one task. Scores are raw (0..1; p-MRR in -1..1)."""

    model: Mapping[str, object]
    task: str
    main_metric: str
    scores: Mapping[str, float]  # variant -> mean main metric over queries
    deltas: Mapping[str, float]  # keywords/short/full -> score minus the "none" score
    per_query: Mapping[str, Mapping[str, float]]  # variant -> query id -> main metric
    intervals: Mapping[str, Interval]  # "<variant>", "delta.<change>", "p-MRR.full"
    p_mrr: Mapping[str, float]  # {"full": p-MRR of the og against the changed instruction}
    per_query_p_mrr: Mapping[str, Mapping[str, float]]
    runs: Mapping[str, Run]  # none/keywords/short/full and changed
    texts: Mapping[str, Mapping[str, str]]  # query id -> variant -> instruction text the model saw
    generation: GenerationReport = field(default_factory=GenerationReport)
    excluded: Mapping[str, str] = field(default_factory=dict)  # query id -> why it was left out
    settings: Mapping[str, object] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self, run_files: Mapping[str, str] | None = None) -> dict:
        """The ``ablation.<task>`` entry of results.json."""
        return {
            "main_metric": self.main_metric,
            "variants": dict(self.scores),
            "delta": dict(self.deltas),
            "intervals": {k: v.to_dict() for k, v in self.intervals.items()},
            "per_query": {v: dict(self.per_query[v]) for v in VARIANTS},
            "p-MRR": dict(self.p_mrr),
            "per_query_p-MRR": {v: dict(q) for v, q in self.per_query_p_mrr.items()},
            "p-MRR_note": "p-MRR needs a changed counterpart; only the full instruction has one",
            "queries": len(self.per_query["none"]),
            "excluded": dict(self.excluded),
            "instructions": {q: dict(t) for q, t in self.texts.items()},
            "generation": self.generation.to_dict(),
            "settings": dict(self.settings),
            "timings": dict(self.timings),
            **({"run_files": dict(run_files)} if run_files else {}),
        }


def ablation_requests(task: Task, query_ids: Sequence[str], max_candidates: int | None = None
                      ) -> list[RankRequest]:
    """One request per query and variant (none, keywords, short, full, changed); ``none`` only once."""
    by_id = {q.id: q for q in task.queries}
    requests = []
    for variant, source in INSTRUCTION_OF.items():
        for qid in query_ids:
            query = by_id[qid]
            candidates = tuple(task.candidates.get(qid, ()))[:max_candidates]
            requests.append(RankRequest(qid, variant, query.text, query.instruction(source), candidates))
    return requests


def select_queries(task: Task, query_ids: Sequence[str] | None) -> list[str]:
    known = [q.id for q in task.queries]
    if query_ids is None:
        return known
    unknown = sorted(set(query_ids) - set(known))
    if unknown:
        raise ValueError(f"queries {unknown} are not in task {task.name!r} (it has {', '.join(known[:10])}"
                         f"{'...' if len(known) > 10 else ''}); pass ids from the task")
    wanted = set(query_ids)
    return [q for q in known if q in wanted]


def run_ablation(model: Reranker, task: Task, *, generator: VariantGenerator | None = None,
                 generate: str = "missing", query_ids: Sequence[str] | None = None,
                 max_candidates: int | None = None, on_failure: str = "exclude",
                 progress: Progress | None = None, generation_progress: Progress | None = None,
                 resamples: int = 10_000) -> AblationResult:
    """Rank every selected query under the four variants (and the changed instruction) and score them."""
    if on_failure not in ON_FAILURE:
        raise ValueError(f"on_failure={on_failure!r}: use one of {ON_FAILURE}")
    if max_candidates is not None and max_candidates < 1:
        raise ValueError(f"max_candidates={max_candidates}: use at least 1, or None for all candidates")
    start = time.perf_counter()
    selected = set(select_queries(task, query_ids))
    queries, report = complete_variants([q for q in task.queries if q.id in selected], generator, generate,
                                        generation_progress)
    generate_s = time.perf_counter() - start
    excluded: dict[str, str] = {}
    for failure in report.failures:
        reason = f"no usable {failure.kind} after {failure.attempts} attempts: {failure.problem}"
        excluded[failure.query_id] = "; ".join(filter(None, [excluded.get(failure.query_id), reason]))
    if excluded and on_failure == "raise":
        raise GenerationFailedError(f"generation failed for {len(excluded)} queries: " + "; ".join(
            f"{q}: {r}" for q, r in excluded.items()) + ". Fix: use a stronger generator, raise the attempts, "
            "or leave those queries out (on_failure='exclude')")
    if excluded:
        log.warning("left out of every variant (generation failed): %s", ", ".join(sorted(excluded)))
    kept = [q.id for q in queries if q.id not in excluded]
    if not kept:
        raise GenerationFailedError(f"no query of {task.name!r} is left to evaluate: generation failed for all "
                                    f"{len(excluded)}. Fix: use a stronger generator or raise the attempts")
    task_with_variants = _with_queries(task, queries)
    requests = ablation_requests(task_with_variants, kept, max_candidates)
    start = time.perf_counter()
    ranked = model.rerank(requests, task.corpus, progress)
    rank_s = time.perf_counter() - start
    runs: dict[str, dict[str, dict[str, float]]] = {v: {} for v in INSTRUCTION_OF}
    for request, scores in zip(requests, ranked, strict=True):
        missing = set(request.candidates) - set(scores)
        if missing:
            raise RuntimeError(f"{getattr(model, 'name', 'model')} returned no score for {len(missing)} candidates "
                               f"of query {request.query_id} ({request.variant}); every candidate must be scored")
        runs[request.variant][request.query_id] = scores
    result = score_ablation(task, runs, kept, resamples)
    texts: dict[str, dict[str, str]] = {}
    for request in requests:
        texts.setdefault(request.query_id, {})[request.variant] = request.instruction
    return AblationResult(
        model={"name": getattr(model, "name", type(model).__name__), **model.describe()},
        task=task.name, main_metric=task.main_metric, texts=texts, generation=report, excluded=excluded,
        settings={"generate": generate, "max_candidates": max_candidates, "query_ids": query_ids and list(query_ids),
                  "on_failure": on_failure,
                  "keywords_and_short": "from the data" if not report.generated else
                  f"generated from the og instruction for {len(report.generated)} queries, else from the data"},
        timings={"generate_s": generate_s, "rank_s": rank_s,
                 "pairs": float(sum(len(r.candidates) for r in requests))},
        **result)


def score_ablation(task: Task, runs: Mapping[str, Mapping[str, Mapping[str, float]]], query_ids: Sequence[str],
                   resamples: int = 10_000) -> dict:
    """Scores, changes, per-query values, intervals and p-MRR of the ablation's runs (a dict of
    ``AblationResult`` fields)."""
    kept = set(query_ids)
    qrels = {q: d for q, d in task.qrels_og.judgements.items() if q in kept}
    metric = task.main_metric
    per_query = {}
    for variant in VARIANTS:
        values = per_query_measures(qrels, runs[variant], (metric,))
        per_query[variant] = {q: v[metric] for q, v in values.items()}
    scores = {v: _mean(per_query[v]) for v in VARIANTS}
    deltas = {c: scores[c] - scores["none"] for c in CHANGES}
    intervals = {v: bootstrap_interval(per_query[v], resamples=resamples) for v in VARIANTS}
    for change in CHANGES:
        diffs = {q: per_query[change][q] - per_query["none"][q] for q in per_query["none"]}
        intervals[f"delta.{change}"] = bootstrap_interval(diffs, resamples=resamples)
    changed_docs = {q: d for q, d in task.changed_documents.items() if q in kept}
    pq_pmrr = p_mrr_per_query(runs["full"], runs["changed"], changed_docs)
    intervals["p-MRR.full"] = bootstrap_interval(pq_pmrr, resamples=resamples)
    return {"scores": scores, "deltas": deltas, "per_query": per_query, "intervals": intervals,
            "p_mrr": {"full": _mean(pq_pmrr)}, "per_query_p_mrr": {"full": pq_pmrr},
            "runs": {v: Run(dict(r), name="ablation") for v, r in runs.items()}}


def _mean(values: Mapping[str, float]) -> float:
    return sum(values.values()) / len(values) if values else float("nan")


def _with_queries(task: Task, queries) -> Task:
    replaced = {q.id: q for q in queries}
    return dataclasses.replace(task, queries=tuple(replaced.get(q.id, q) for q in task.queries))


def write_ablation(result: AblationResult, folder: str | Path) -> Path:
    """Write one run file per variant (``<task>.ablation.<variant>.trec``) and merge the result into
    ``folder/results.json`` under ``ablation.<task>``."""
    from followir.analyses.results_file import update_results
    from followir.data.trec import write_run

    folder = Path(folder)
    files = {}
    for variant, run in result.runs.items():
        name = f"{result.task}.ablation.{variant}.trec"
        write_run(run, folder / name, tag=str(result.model.get("name", "followir")))
        files[variant] = name
    return update_results(folder, result.model, "ablation", result.task, result.to_dict(files))
