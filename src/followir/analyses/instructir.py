"""InstructIR (Oh et al., 2024): instance-specific instructions, one target passage per instruction, scored with
Robustness@10 (per base query, the worst nDCG@10 over its instructions, averaged) and nDCG@10 (averaged over
instructions). As in the FollowIR paper's Table 4, a reranker reranks the top 100 of a first-stage run.

The benchmark's files (github kaistAI/InstructIR, folder ``INSTRUCTIR``):

- ``only_instruction_queries.jsonl``: ``_id`` ``<qid>_<k>``, ``text`` the instruction (a user's situation and
  need), ``metadata.origin_query`` the MS MARCO query it belongs to;
- ``only_queries.jsonl``: the base queries (``_id`` ``<qid>``);
- ``qrels/test.tsv``: ``qid pid score`` with one target per instruction; targets are ids ``<pid>_<k>`` of
  passages GPT-4 rewrote to fit each instruction.

The rewritten passages (the corpus) are not in that folder: ``load_instructir`` takes the corpus separately (a
jsonl/parquet/tsv file of ``_id``, ``text``, optional ``title``, or ``hf:owner/name`` holding such a file) and
checks that the qrels' targets are in it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from followir.data.tables import check_id, parse_relevance, read_rows, require
from followir.errors import DataFormatError
from followir.metrics.robustness import base_query_id, robustness_per_query
from followir.metrics.trec_measures import per_query_measures
from followir.metrics.uncertainty import Interval, bootstrap_interval
from followir.models.base import Progress, RankRequest, Reranker
from followir.records import Document, Qrels, Run

log = logging.getLogger(__name__)

INSTRUCTIONS_FILE = "only_instruction_queries.jsonl"
QUERIES_FILE = "only_queries.jsonl"
QRELS_FILE = "qrels/test.tsv"
RESULTS_FILE = "instructir.json"


@dataclass(frozen=True)
class InstructionQuery:
    """One InstructIR instance: the base query under one instance-specific instruction."""

    id: str  # "<qid>_<k>"
    base_id: str  # "<qid>"
    query: str
    instruction: str


@dataclass(frozen=True)
class InstructIRData:
    queries: tuple[InstructionQuery, ...]
    qrels: Qrels
    corpus: Mapping[str, Document]
    source: str = ""
    corpus_source: str = ""
    missing_targets: int = 0  # qrels targets absent from the corpus

    @property
    def base_ids(self) -> list[str]:
        return list(dict.fromkeys(q.base_id for q in self.queries))

    def subset(self, base_ids: Sequence[str]) -> "InstructIRData":
        """Only the instructions of these base queries (the corpus stays whole)."""
        wanted = set(base_ids)
        unknown = sorted(wanted - set(self.base_ids))
        if unknown:
            raise ValueError(f"base queries {unknown[:5]} are not in the data; pass ids like "
                             f"{', '.join(self.base_ids[:3])}")
        queries = tuple(q for q in self.queries if q.base_id in wanted)
        ids = {q.id for q in queries}
        return dataclasses.replace(self, queries=queries, qrels=Qrels(
            {q: d for q, d in self.qrels.judgements.items() if q in ids}))


# -- loading ---------------------------------------------------------------------------------------------------
def _benchmark_folder(folder: Path) -> Path:
    for candidate in (folder, folder / "INSTRUCTIR"):
        if (candidate / INSTRUCTIONS_FILE).is_file():
            return candidate
    raise DataFormatError(folder, None, f"no {INSTRUCTIONS_FILE} here or in INSTRUCTIR/",
                          "pass the InstructIR repository folder (or its INSTRUCTIR folder)")


def read_instructions(path: str | Path, base_texts: Mapping[str, str] | None = None) -> list[InstructionQuery]:
    """The instruction queries of ``only_instruction_queries.jsonl``; the base query text comes from
    ``metadata.origin_query``, else from ``base_texts``."""
    path = Path(path)
    out, seen = [], set()
    for line, row in read_rows(path):
        qid = check_id(require(row, "_id", path, line), path, line, "instruction id")
        if "_" not in qid:
            raise DataFormatError(path, line, f"instruction id {qid!r} is not '<qid>_<k>'",
                                  "InstructIR instruction ids are the base query id, '_' and a number")
        if qid in seen:
            raise DataFormatError(path, line, f"instruction id {qid!r} appears twice", "give each id once")
        seen.add(qid)
        base = base_query_id(qid)
        metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        query = metadata.get("origin_query") or (base_texts or {}).get(base)
        if not query:
            raise DataFormatError(path, line, f"instruction {qid!r} has no metadata.origin_query and base query "
                                  f"{base!r} is not in {QUERIES_FILE}", "add metadata.origin_query to the row")
        out.append(InstructionQuery(qid, base, str(query), require(row, "text", path, line)))
    if not out:
        raise DataFormatError(path, None, "no instructions", "give one JSON object per line")
    return out


def read_qrels_table(path: str | Path) -> Qrels:
    """Qrels as a tsv with a header (InstructIR's ``qid pid score`` or BEIR's ``query-id corpus-id score``),
    or as TREC qrels (``qid 0 docid rel``, no header)."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        header = f.readline().split()
    if len(header) == 4 and header[1] == "0":
        from followir.data.trec import read_qrels

        return read_qrels(path)
    if path.suffix != ".tsv":
        raise DataFormatError(path, 1, "neither TREC qrels nor a .tsv file with a header",
                              "give a tsv with header 'qid pid score' or TREC qrels 'qid 0 docid rel'")
    judgements: dict[str, dict[str, int]] = {}
    for line, row in read_rows(path):
        qid = row.get("qid", row.get("query-id"))
        doc = row.get("pid", row.get("corpus-id"))
        if qid is None or doc is None or "score" not in row:
            raise DataFormatError(path, line, f"columns {sorted(row)}", "use the header 'qid pid score' "
                                  "(or 'query-id corpus-id score')")
        judgements.setdefault(qid, {})[doc] = parse_relevance(row["score"], path, line)
    if not judgements:
        raise DataFormatError(path, None, "no judgements read", "give a tsv with header 'qid pid score' or "
                              "TREC qrels 'qid 0 docid rel'")
    return Qrels(judgements)


def read_corpus(source: str | Path) -> tuple[dict[str, Document], str]:
    """A corpus from a jsonl/parquet/tsv file (``_id``, ``text``, optional ``title``), or ``hf:owner/name[@rev]``
    holding one (its ``corpus`` config). Returns the documents and where they came from."""
    text = str(source)
    if text.startswith("hf:"):
        from followir.data.configs import config_files
        from followir.data.hub import fetch_dataset

        repo_id, _, revision = text[3:].partition("@")
        folder = fetch_dataset(repo_id, revision or None)
        paths = config_files(folder, "corpus")
    else:
        path = Path(source)
        if path.is_dir():
            from followir.data.configs import config_files

            paths = config_files(path, "corpus")
        elif path.is_file():
            paths = [path]
        else:
            raise DataFormatError(path, None, "no such corpus file or folder",
                                  "pass the benchmark's corpus (jsonl with _id, text) or hf:owner/name")
    corpus: dict[str, Document] = {}
    for path in paths:
        for line, row in read_rows(path):
            doc_id = check_id(require(row, "_id" if "_id" in row else "id", path, line), path, line, "document id")
            if doc_id in corpus:
                raise DataFormatError(path, line, f"document {doc_id!r} appears twice", "give each id once")
            corpus[doc_id] = Document(doc_id, require(row, "text", path, line, allow_empty=True),
                                      str(row.get("title") or ""))
    if not corpus:
        raise DataFormatError(text, None, "the corpus is empty", "give at least one document")
    return corpus, text


def load_instructir(folder: str | Path, corpus: str | Path | Mapping[str, Document],
                    qrels: str | Path | None = None) -> InstructIRData:
    """Instructions and qrels from an InstructIR folder, with the corpus given separately.

    ``qrels`` replaces ``INSTRUCTIR/qrels/test.tsv``. Every qrels query must be an instruction id; targets
    missing from the corpus are counted and warned about, and when none is there the corpus is refused.
    """
    root = _benchmark_folder(Path(folder))
    base_texts = {}
    if (root / QUERIES_FILE).is_file():
        base_texts = {require(r, "_id", root / QUERIES_FILE, n): require(r, "text", root / QUERIES_FILE, n)
                      for n, r in read_rows(root / QUERIES_FILE)}
    queries = read_instructions(root / INSTRUCTIONS_FILE, base_texts)
    qrels_path = Path(qrels) if qrels is not None else root / QRELS_FILE
    judged = read_qrels_table(qrels_path)
    ids = {q.id for q in queries}
    unknown = [q for q in judged.judgements if q not in ids]
    if unknown:
        raise DataFormatError(qrels_path, None, f"{len(unknown)} qrels queries are not instruction ids "
                              f"(e.g. {unknown[0]!r})", f"use qrels whose queries are the ids of {INSTRUCTIONS_FILE}")
    if isinstance(corpus, Mapping):
        documents, corpus_source = dict(corpus), "in memory"
    else:
        documents, corpus_source = read_corpus(corpus)
    targets = {d for docs in judged.judgements.values() for d, r in docs.items() if r > 0}
    missing = sum(1 for d in targets if d not in documents)
    if targets and missing == len(targets):
        example = next(iter(sorted(targets)))
        raise DataFormatError(corpus_source, None, f"none of the {len(targets)} relevant passages of the qrels "
                              f"(ids like {example!r}) is in this corpus of {len(documents)} documents",
                              "pass InstructIR's corpus of rewritten target passages (ids '<pid>_<k>'), "
                              "or qrels that point into this corpus")
    if missing:
        log.warning("%d of %d relevant passages are not in the corpus; their instructions cannot score", missing,
                    len(targets))
    return InstructIRData(tuple(queries), judged, documents, str(root), corpus_source, missing)


# -- evaluation ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstructIRResult:
    model: Mapping[str, object]
    first_stage: Mapping[str, object]
    depth: int
    k: int
    robustness: float  # mean over base queries of the worst nDCG@k over their instructions
    ndcg: float  # mean nDCG@k over instructions
    per_query_ndcg: Mapping[str, float]  # instruction id -> nDCG@k
    per_base_robustness: Mapping[str, float]  # base query id -> worst nDCG@k
    first_stage_scores: Mapping[str, float]  # the first stage's own Robustness@k and nDCG@k
    intervals: Mapping[str, Interval]
    runs: Mapping[str, Run]  # first_stage (cut at depth), reranked
    counts: Mapping[str, int]
    timings: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self, run_files: Mapping[str, str] | None = None) -> dict:
        return {"model": dict(self.model), "first_stage": dict(self.first_stage), "depth": self.depth,
                "k": self.k, f"robustness@{self.k}": self.robustness, f"ndcg@{self.k}": self.ndcg,
                "first_stage_scores": dict(self.first_stage_scores),
                "intervals": {k: v.to_dict() for k, v in self.intervals.items()},
                "per_query": {f"ndcg@{self.k}": dict(self.per_query_ndcg),
                              f"robustness@{self.k}": dict(self.per_base_robustness)},
                "counts": dict(self.counts), "timings": dict(self.timings),
                **({"run_files": dict(run_files)} if run_files else {})}


def first_stage_run(data: InstructIRData, first_stage: str | Run, depth: int,
                    progress: Progress | None = None) -> tuple[Run, dict]:
    """The top ``depth`` of each instruction query: from a given run, or by searching the whole corpus with a
    model that can (``bm25``, a bi-encoder) on ``query + " " + instruction``."""
    if isinstance(first_stage, Run):
        missing = [q.id for q in data.queries if q.id not in first_stage.scores]
        if len(missing) == len(data.queries):
            raise DataFormatError(first_stage.name, None, "the first-stage run has none of the instruction ids "
                                  f"(e.g. {data.queries[0].id!r})", "give a run over the InstructIR queries")
        if missing:
            log.warning("the first-stage run lacks %d instruction queries; they get no candidates", len(missing))
        cut = {q.id: {d: s for d, s in _top(first_stage.scores.get(q.id, {}), depth).items() if d in data.corpus}
               for q in data.queries}
        return Run(cut, name=first_stage.name), {"kind": "run", "name": first_stage.name}
    from followir.models.registry import load_model
    from followir.retrieval import Searcher, SearchRequest

    searcher = Searcher(load_model(first_stage), data.corpus, progress=progress)
    requests = [SearchRequest(q.id, q.query, q.instruction) for q in data.queries]
    run = searcher.search(requests, depth, progress)
    return run, {"kind": "search", "model": first_stage, **searcher.describe()}


def _top(scores: Mapping[str, float], depth: int) -> dict[str, float]:
    from followir.records import rank_documents

    return {d: scores[d] for d in rank_documents(scores)[:depth]}


def score_instructir(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], k: int = 10
                     ) -> tuple[dict[str, float], dict[str, float]]:
    """Per-instruction nDCG@k and per-base-query Robustness@k (the worst nDCG@k of its instructions)."""
    measure = f"ndcg_cut_{k}"
    ndcg = {q: v[measure] for q, v in per_query_measures(qrels, run, (measure,)).items()}
    return ndcg, robustness_per_query(qrels, run, k)


def run_instructir(model: Reranker, data: InstructIRData, first_stage: str | Run = "bm25", depth: int = 100,
                   k: int = 10, progress: Progress | None = None, first_stage_progress: Progress | None = None,
                   resamples: int = 10_000) -> InstructIRResult:
    """Rerank the top ``depth`` of the first stage for every instruction query and score Robustness@k, nDCG@k."""
    if depth < 1:
        raise ValueError(f"depth={depth}: rerank at least the top 1")
    if k not in (5, 10):
        raise ValueError(f"k={k}: Robustness@k is defined here for k=5 or k=10")
    start = time.perf_counter()
    first, first_info = first_stage_run(data, first_stage, depth, first_stage_progress)
    first_s = time.perf_counter() - start
    requests = [RankRequest(q.id, "instruction", q.query, q.instruction,
                            tuple(_top(first.scores.get(q.id, {}), depth))) for q in data.queries]
    start = time.perf_counter()
    ranked = model.rerank(requests, data.corpus, progress)
    rank_s = time.perf_counter() - start
    reranked = {r.query_id: scores for r, scores in zip(requests, ranked, strict=True)}
    qrels = data.qrels.judgements
    ndcg, robust = score_instructir(qrels, reranked, k)
    first_ndcg, first_robust = score_instructir(qrels, first.scores, k)
    targets = {d for docs in qrels.values() for d, r in docs.items() if r > 0}
    found = sum(1 for q, docs in qrels.items() for d, r in docs.items() if r > 0 and d in first.scores.get(q, {}))
    return InstructIRResult(
        model={"name": getattr(model, "name", type(model).__name__), **model.describe()},
        first_stage=first_info, depth=depth, k=k, robustness=_mean(robust), ndcg=_mean(ndcg),
        per_query_ndcg=ndcg, per_base_robustness=robust,
        first_stage_scores={f"robustness@{k}": _mean(first_robust), f"ndcg@{k}": _mean(first_ndcg)},
        intervals={f"robustness@{k}": bootstrap_interval(robust, resamples=resamples),
                   f"ndcg@{k}": bootstrap_interval(ndcg, resamples=resamples)},
        runs={"first_stage": first, "reranked": Run(reranked, name=getattr(model, "name", "model"))},
        counts={"instructions": len(data.queries), "base_queries": len(data.base_ids), "documents": len(data.corpus),
                "relevant_passages": len(targets), "missing_targets": data.missing_targets,
                "targets_in_first_stage": found},
        timings={"first_stage_s": first_s, "rank_s": rank_s,
                 "pairs": float(sum(len(r.candidates) for r in requests))})


def _mean(values: Mapping[str, float]) -> float:
    return sum(values.values()) / len(values) if values else float("nan")


def write_instructir(result: InstructIRResult, folder: str | Path) -> Path:
    """Write the first-stage and reranked runs and ``folder/instructir.json`` (atomically, last)."""
    from followir.atomic import write_json
    from followir.data.trec import write_run

    folder = Path(folder)
    files = {}
    for name, run in result.runs.items():
        files[name] = f"instructir.{name}.trec"
        write_run(run, folder / files[name], tag=run.name)
    path = folder / RESULTS_FILE
    write_json(path, result.to_dict(files))
    return path
