"""Why did a model move a document? One query of a results folder, read back from its run files: the og and
the changed instruction, and every changed document (relevant under og, not under changed) with its rank in
each run, its p-MRR term and a snippet of its text.

The p-MRR terms come from :func:`followir.metrics.pmrr.rank_change_score` on ranks from
:func:`followir.metrics.pmrr.ranks`, so their mean is the query's p-MRR exactly as the evaluation computed it.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from followir.data.trec import read_run
from followir.errors import DataFormatError, UnknownNameError
from followir.evaluation.results import read_results
from followir.metrics.pmrr import p_mrr_per_query, rank_change_score, ranks
from followir.records import Task
from followir.reports.collect import results_path

DEFAULT_SNIPPET_CHARS = 240


@dataclass(frozen=True)
class DocumentMove:
    doc_id: str
    og_rank: int  # 1-based; len(run) + 1 when the run lacks the document
    changed_rank: int
    og_score: float | None
    changed_score: float | None
    relevance_og: int | None  # None: not judged
    relevance_changed: int | None
    contribution: float  # the document's p-MRR term, in [-1, 1]
    snippet: str

    @property
    def moved(self) -> int:
        """Positions moved up (positive: the model promoted a document the changed instruction excludes)."""
        return self.og_rank - self.changed_rank


@dataclass(frozen=True)
class QueryInspection:
    model: str
    task: str
    query_id: str
    query: str
    instruction_og: str
    instruction_changed: str
    candidates: int
    main_metric: str
    score_og: float | None  # the query's main metric, og run against og qrels
    score_changed: float | None  # changed run against changed qrels
    p_mrr: float  # recomputed from the run files; nan without changed documents
    reported_p_mrr: float | None  # as results.json has it
    documents: tuple[DocumentMove, ...]  # most negative contribution first

    def to_dict(self, limit: int | None = None) -> dict:
        out = asdict(self)
        out["documents"] = [asdict(d) for d in self.documents[:limit]]
        out["changed_documents"] = len(self.documents)
        for key in ("p_mrr",):
            if isinstance(out[key], float) and math.isnan(out[key]):
                out[key] = None
        return out


def inspect_query(results: str | Path, query_id: str, task: str | None = None,
                  task_path: str | Path | None = None, snippet_chars: int = DEFAULT_SNIPPET_CHARS,
                  loaded_task: Task | None = None) -> QueryInspection:
    """Inspect query ``query_id`` of a results folder (or results.json).

    ``task`` picks the task when the results hold several; the task's data is loaded as recorded in
    results.json (registered name, hub id or local folder) unless ``task_path`` (a dataset folder) or
    ``loaded_task`` is given.
    """
    file = results_path(results)
    data = read_results(file)
    name = _pick_task(data, task, file)
    entry = data["tasks"][name]
    run_og, run_changed = (_read_run_file(file, entry, variant) for variant in ("og", "changed"))
    dataset = loaded_task or load_task_of(entry, name, task_path)
    query = _find_query(dataset, query_id, name)
    og_scores, changed_scores = run_og.scores.get(query_id, {}), run_changed.scores.get(query_id, {})
    og_ranks, changed_ranks = ranks(og_scores), ranks(changed_scores)
    qrels_og = dataset.qrels_og.judgements.get(query_id, {})
    qrels_changed = dataset.qrels_changed.judgements.get(query_id, {})
    moves = []
    changed_docs = sorted(dataset.changed_documents.get(query_id, ()))
    for doc in changed_docs:
        og_rank = og_ranks.get(doc, len(og_scores) + 1)
        new_rank = changed_ranks.get(doc, len(changed_scores) + 1)
        document = dataset.corpus.get(doc)
        text = snippet(document.full_text, snippet_chars) if document else "(not in the corpus)"
        moves.append(DocumentMove(doc, og_rank, new_rank, og_scores.get(doc), changed_scores.get(doc),
                                  qrels_og.get(doc), qrels_changed.get(doc),
                                  rank_change_score(og_rank, new_rank), text))
    moves.sort(key=lambda m: (m.contribution, m.og_rank, m.doc_id))
    recomputed = p_mrr_per_query({query_id: og_scores}, {query_id: changed_scores}, {query_id: changed_docs})
    scores = entry["scores"]
    metric = scores["main_metric"]
    per_query = scores.get("per_query") or {}
    return QueryInspection(
        model=str(data["model"].get("name", "?")), task=name, query_id=query_id, query=query.text,
        instruction_og=query.instruction_og, instruction_changed=query.instruction_changed,
        candidates=len(og_scores), main_metric=metric,
        score_og=(per_query.get("og", {}).get(query_id) or {}).get(metric),
        score_changed=(per_query.get("changed", {}).get(query_id) or {}).get(metric),
        p_mrr=recomputed.get(query_id, math.nan), reported_p_mrr=per_query.get("p-MRR", {}).get(query_id),
        documents=tuple(moves))


def load_task_of(entry: dict, name: str, task_path: str | Path | None = None) -> Task:
    """Load the data a results.json task entry was evaluated on (or the folder ``task_path``)."""
    from followir.data.catalog import TASKS
    from followir.data.loading import load_task

    if task_path is not None:
        return load_task(str(task_path))
    source, revision = entry.get("source") or "", entry.get("revision")
    spec = TASKS.get(name)
    if spec is not None:
        if spec.packaged:
            return load_task(name)
        layout = "mteb" if spec.mteb is not None and source == f"hf:{spec.mteb.repo_id}" else "original"
        return load_task(name, layout=layout, revision=revision)
    if source.startswith("hf:"):
        return load_task(source + (f"@{revision}" if revision else ""))
    if source and Path(source).is_dir():
        return load_task(source)
    raise UnknownNameError(f"cannot find the data of task {name!r} (recorded source: {source or 'none'}). "
                           "Fix: pass the dataset folder with --task-path")


def snippet(text: str, limit: int = DEFAULT_SNIPPET_CHARS) -> str:
    """The text with whitespace collapsed, cut at a word boundary near ``limit`` characters.

    >>> snippet("A  long\\ntext here", 10)
    'A long…'
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:.") + "…"


def instruction_diff(og: str, changed: str) -> list[tuple[str, str]]:
    """Word-level difference: ``(op, text)`` pieces with op ``equal``, ``delete`` (og only) or ``insert``
    (changed only), in reading order.

    >>> instruction_diff("Relevant: cats.", "Relevant: cats. Not dogs.")
    [('equal', 'Relevant: cats.'), ('insert', ' Not dogs.')]
    """
    a, b = re.findall(r"\s*\S+", og), re.findall(r"\s*\S+", changed)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("delete", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("insert", "".join(b[j1:j2])))
    return out


def _pick_task(data: dict, task: str | None, file: Path) -> str:
    tasks = list(data["tasks"])
    if not tasks:
        raise UnknownNameError(f"{file} holds no evaluated task (only {', '.join(sorted(data)) or 'nothing'}). "
                               "Fix: run 'followir evaluate' into that folder first")
    if task is not None:
        if task not in data["tasks"]:
            raise UnknownNameError(f"task {task!r} is not in {file} (it has: {', '.join(tasks)}). "
                                   "Fix: pass one of those with --task")
        return task
    if len(tasks) == 1:
        return tasks[0]
    raise UnknownNameError(f"{file} holds several tasks ({', '.join(tasks)}). Fix: pick one with --task")


def _read_run_file(file: Path, entry: dict, variant: str):
    name = (entry.get("run_files") or {}).get(variant)
    if not name:
        raise DataFormatError(file, None, f"task {entry.get('task')!r} records no {variant} run file",
                              "re-run 'followir evaluate' with an output folder")
    path = file.parent / name
    if not path.is_file():
        raise DataFormatError(path, None, f"the {variant} run file is missing",
                              f"keep the run files next to {file.name}, as 'followir evaluate' writes them")
    return read_run(path)


def _find_query(task: Task, query_id: str, name: str):
    try:
        return task.query(query_id)
    except KeyError:
        ids = [q.id for q in task.queries]
        shown = ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")
        raise UnknownNameError(f"query {query_id!r} is not in task {name!r} (queries: {shown}). "
                               "Fix: pass one of those with --query") from None
