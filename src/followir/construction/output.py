"""Step 5: the benchmark folder.

``OUT/`` holds the original layout (``jhu-clsp/*-instructions``: ``corpus``, ``queries`` with ``instruction_og``
and ``instruction_changed``, ``qrels_og``, ``qrels_changed``, ``top_ranked``), with a dataset card (``README.md``:
the configs, and the paper's Table 1 statistics); ``OUT/mteb/`` the MTEB layout (``mteb/*InstructionRetrieval``:
``corpus``, ``queries`` and ``instruction`` with ``<id>-og``/``<id>-changed`` ids, ``default`` qrels,
``top_ranked`` and ``qrel_diff``). Beside them: ``changed_documents.jsonl`` and ``validation.json``. Both layouts
are read back with followir's own readers before the step ends, so ``followir evaluate --task OUT`` works.

The corpus holds one entry per candidate document: its MaxP passage (``corpus_text="passage"``, what the paper
distributed) or the whole document (``"document"``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean

from followir.construction.chunking import iter_passages
from followir.construction.collections import iter_documents
from followir.construction.judgements import changed_qrels, load_judgements
from followir.construction.narratives import load_narratives
from followir.construction.topics import load_og_qrels, load_topics
from followir.construction.workfiles import CANDIDATES, POOL, need, read_rows, write_rows
from followir.errors import DataFormatError
from followir.records import Qrels, derive_changed_documents

log = logging.getLogger(__name__)

CORPUS_TEXTS = ("passage", "document")
QUERY_FIELDS = ("title", "description")


@dataclass(frozen=True)
class Statistics:
    """The paper's Table 1, before (the selected topics with their og judgements) and after the change."""

    topics: int
    query_words: float
    instruction_og_words: float
    relevant_og_per_topic: float
    judged_per_topic: float
    instruction_changed_words: float
    relevant_changed_per_topic: float
    changed_per_topic: float
    candidates_per_topic: float
    corpus_documents: int


def _words(text: str) -> int:
    return len(text.split())


def _card(name: str, stats: Statistics, configs: list[tuple[str, str, str]], note: str) -> str:
    lines = ["---", "language:", "- en", "task_categories:", "- text-retrieval", "tags:", "- instruction-retrieval",
             "- followir", "configs:"]
    for config, split, path in configs:
        lines += [f"- config_name: {config}", "  data_files:", f"  - split: {split}", f"    path: {path}"]
    lines += ["---", f"# {name}", "",
              "A FollowIR benchmark built with `followir build-benchmark` (the FollowIR paper's section 3): TREC-style "
              "topics with narratives, a narrower changed narrative per topic, the og-relevant documents re-judged "
              "against it, and candidates pooled from chunked passages (MaxP). " + note, "",
              "| | topics | query words | instruction words | judged docs / topic | relevant docs / topic |",
              "|---|---:|---:|---:|---:|---:|",
              f"| before (og) | {stats.topics} | {stats.query_words:.1f} | {stats.instruction_og_words:.1f} | "
              f"{stats.judged_per_topic:.1f} | {stats.relevant_og_per_topic:.1f} |",
              f"| after (changed) | {stats.topics} | {stats.query_words:.1f} | {stats.instruction_changed_words:.1f} "
              f"| {stats.relevant_og_per_topic:.1f} (re-judged) | {stats.relevant_changed_per_topic:.1f} |", "",
              f"Changed documents per topic (relevant under og, not under changed): {stats.changed_per_topic:.1f}. "
              f"Candidates per topic: {stats.candidates_per_topic:.1f}. Corpus: {stats.corpus_documents} documents.",
              "", "Evaluate: `followir evaluate --model bm25 --task <this folder>`.", ""]
    return "\n".join(lines)


def run_output(work: str | Path, out: str | Path, *, name: str | None = None, collection: str | Path | None = None,
               corpus_text: str = "passage", query_field: str = "title", main_metric: str = "map_cut_1000") -> dict:
    """Write both layouts, the card, ``changed_documents.jsonl`` and ``validation.json``; returns the report."""
    if corpus_text not in CORPUS_TEXTS:
        raise ValueError(f"corpus text {corpus_text!r}: use one of {', '.join(CORPUS_TEXTS)}")
    if query_field not in QUERY_FIELDS:
        raise ValueError(f"query field {query_field!r}: use one of {', '.join(QUERY_FIELDS)}")
    if corpus_text == "document" and collection is None:
        raise ValueError("--corpus-text document writes each candidate's whole text, read from the collection, and "
                         "no collection was given. Fix: give --collection C (the one the candidates were pooled "
                         "from), or use --corpus-text passage")
    work, out = Path(work), Path(out)
    name = name or out.name
    topics = {t.number: t for t in load_topics(work)}
    narratives = {n.topic: n for n in load_narratives(work)}
    judged = load_judgements(work)
    cand_path = need(work, CANDIDATES, "build-candidates")
    candidates: dict[str, list[str]] = {}
    passage_of: dict[str, tuple[int, str]] = {}
    for _, row in read_rows(cand_path):
        candidates.setdefault(str(row["topic"]), []).append(str(row["doc"]))
        rank = int(row["rank"]) if row.get("pooled") else 10**9
        if row["doc"] not in passage_of or rank < passage_of[row["doc"]][0]:
            passage_of[row["doc"]] = (rank, row["passage"])
    order = [t for t in topics if t in candidates]
    missing = [t for t in topics if t not in narratives]
    if missing:
        raise DataFormatError(work / "narratives.jsonl", None, f"no changed narrative for "
                              f"{'topic' if len(missing) == 1 else 'topics'} {', '.join(missing[:8])}",
                              "run 'followir build-narratives' for them")
    # validation.json goes first and comes back last: while it is missing the folder is not a finished build, so
    # a step killed half way never leaves an old report saying the half-rewritten files are valid (every file is
    # written atomically)
    (out / "validation.json").unlink(missing_ok=True)
    corpus = _corpus(work, passage_of, corpus_text, collection)
    og_all = load_og_qrels(work)
    # judgements of documents the collection holds (candidates or not); og-relevant ones it lacks are dropped
    collection_ids = {row["doc"] for row in iter_passages(need(work, f"{POOL}/passages.jsonl", "build-candidates"))
                      if row["i"] == 0}
    og = Qrels({t: {d: r for d, r in og_all.judgements.get(t, {}).items() if d in collection_ids} for t in order})
    changed = changed_qrels(og, judged)
    changed_docs = derive_changed_documents(og, changed)
    queries = []
    for t in order:
        topic = topics[t]
        text = topic.description if query_field == "description" and topic.description.strip() else topic.title
        queries.append({"_id": t, "text": " ".join(text.split()), "instruction_og": narratives[t].narrative_og,
                        "instruction_changed": narratives[t].narrative_changed})
    stats = Statistics(
        topics=len(order), query_words=mean(_words(q["text"]) for q in queries),
        instruction_og_words=mean(_words(q["instruction_og"]) for q in queries),
        relevant_og_per_topic=mean(len(og.relevant(t)) for t in order),
        judged_per_topic=mean(len(og_all.judgements.get(t, {})) for t in order),
        instruction_changed_words=mean(_words(q["instruction_changed"]) for q in queries),
        relevant_changed_per_topic=mean(len(changed.relevant(t)) for t in order),
        changed_per_topic=mean(len(changed_docs[t]) for t in order),
        candidates_per_topic=mean(len(candidates[t]) for t in order), corpus_documents=len(corpus))
    _write_original(out, name, corpus, queries, og, changed, candidates, order, stats)
    _write_mteb(out / "mteb", name, corpus, queries, og, changed, candidates, changed_docs, order, stats)
    write_rows(out / "changed_documents.jsonl",
               ({"query-id": t, "corpus-ids": sorted(changed_docs[t])} for t in order))
    report = validate(out, og, changed, candidates, changed_docs, narratives, order, stats, main_metric)
    from followir.atomic import write_json

    write_json(out / "validation.json", report)
    return report


def _corpus(work: Path, passage_of: dict[str, tuple[int, str]], corpus_text: str, collection) -> dict[str, dict]:
    corpus: dict[str, dict] = {}
    if corpus_text == "passage":
        wanted = {p: d for d, (_, p) in passage_of.items()}
        for row in iter_passages(need(work, f"{POOL}/passages.jsonl", "build-candidates")):
            if row["id"] in wanted:
                corpus[row["doc"]] = {"_id": row["doc"], "title": row["title"], "text": row["text"]}
    else:
        if collection is None:
            raise ValueError("corpus_text='document' needs the collection")
        for doc in iter_documents(collection):
            if doc.id in passage_of and doc.id not in corpus:
                corpus[doc.id] = {"_id": doc.id, "title": doc.title, "text": doc.text}
    return {d: corpus[d] for d in passage_of if d in corpus}


def _write_text(path: Path, text: str) -> None:
    from followir.atomic import atomic_open

    with atomic_open(path) as f:
        f.write(text)


def _qrel_rows(qrels: Qrels, order: list[str], suffix: str = ""):
    for t in order:
        for d, r in qrels.judgements.get(t, {}).items():
            yield {"query-id": f"{t}{suffix}", "corpus-id": d, "score": r}


def _write_original(out: Path, name, corpus, queries, og, changed, candidates, order, stats) -> None:
    write_rows(out / "corpus.jsonl", corpus.values())
    write_rows(out / "queries.jsonl", queries)
    write_rows(out / "qrels_og" / "test.jsonl", _qrel_rows(og, order))
    write_rows(out / "qrels_changed" / "test.jsonl", _qrel_rows(changed, order))
    write_rows(out / "top_ranked.jsonl", ({"qid": t, "pid": d} for t in order for d in candidates[t]))
    configs = [("corpus", "corpus", "corpus.jsonl"), ("queries", "queries", "queries.jsonl"),
               ("qrels_og", "test", "qrels_og/test.jsonl"), ("qrels_changed", "test", "qrels_changed/test.jsonl"),
               ("top_ranked", "top_ranked", "top_ranked.jsonl")]
    note = "This folder is the original layout (`jhu-clsp/*-instructions`); `mteb/` holds the MTEB layout."
    _write_text(out / "README.md", _card(name, stats, configs, note))


def _write_mteb(out: Path, name, corpus, queries, og, changed, candidates, changed_docs, order, stats) -> None:
    write_rows(out / "corpus.jsonl", corpus.values())
    write_rows(out / "queries.jsonl", ({"_id": f"{q['_id']}-{v}", "text": q["text"]}
                                       for q in queries for v in ("og", "changed")))
    write_rows(out / "instruction.jsonl", ({"query-id": f"{q['_id']}-{v}", "instruction": q[f"instruction_{v}"]}
                                           for q in queries for v in ("og", "changed")))
    write_rows(out / "default" / "test.jsonl",
               [*_qrel_rows(og, order, "-og"), *_qrel_rows(changed, order, "-changed")])
    write_rows(out / "top_ranked.jsonl", ({"query-id": f"{t}-{v}", "corpus-ids": candidates[t]}
                                          for t in order for v in ("og", "changed")))
    write_rows(out / "qrel_diff.jsonl", ({"query-id": t, "corpus-ids": sorted(changed_docs[t])} for t in order))
    configs = [("corpus", "corpus", "corpus.jsonl"), ("queries", "queries", "queries.jsonl"),
               ("instruction", "test", "instruction.jsonl"), ("default", "test", "default/test.jsonl"),
               ("top_ranked", "test", "top_ranked.jsonl"), ("qrel_diff", "qrel_diff", "qrel_diff.jsonl")]
    note = "This folder is the MTEB layout (`mteb/*InstructionRetrieval`)."
    _write_text(out / "README.md", _card(name, stats, configs, note))


def validate(out: Path, og: Qrels, changed: Qrels, candidates, changed_docs, narratives, order, stats,
             main_metric: str) -> dict:
    """Checks on the built benchmark; ``problems`` would make it wrong, ``warnings`` are worth a look."""
    from followir.data.loading import load_task

    problems, warnings = [], []
    per_topic = {}
    for t in order:
        og_rel, ch_rel = og.relevant(t), changed.relevant(t)
        if not ch_rel <= og_rel:
            problems.append(f"topic {t}: {len(ch_rel - og_rel)} documents relevant under changed but not og "
                            "(a changed narrative must only narrow)")
        missing = og_rel - set(candidates[t])
        if missing:
            problems.append(f"topic {t}: {len(missing)} og-relevant documents are not candidates")
        removed = len(changed_docs[t]) / len(og_rel) if og_rel else 0.0
        if not changed_docs[t]:
            warnings.append(f"topic {t}: no document changed relevance, so it has no p-MRR")
        elif not 0.2 <= removed <= 0.8:
            warnings.append(f"topic {t}: the change removed {removed:.0%} of the relevant documents "
                            "(the paper aimed at about half)")
        n = narratives[t]
        if " ".join(n.narrative_og.split()) not in " ".join(n.narrative_changed.split()):
            warnings.append(f"topic {t}: the changed narrative does not contain the og one; check that it only "
                            "narrows relevance")
        per_topic[t] = {"relevant_og": len(og_rel), "relevant_changed": len(ch_rel),
                        "changed_documents": len(changed_docs[t]), "removed": removed,
                        "candidates": len(candidates[t])}
    readable = {}
    for layout, folder in (("original", out), ("mteb", out / "mteb")):
        try:
            task = load_task(str(folder), layout=layout)
            readable[layout] = {"queries": len(task.queries), "documents": len(task.corpus),
                                "changed_documents": sum(len(v) for v in task.changed_documents.values())}
        except Exception as e:  # noqa: BLE001 - the report records any reason the output is unreadable
            problems.append(f"the {layout} layout does not read back: {e}")
    return {"ok": not problems, "problems": problems, "warnings": warnings, "statistics": asdict(stats),
            "topics": per_topic, "readable": readable, "main_metric": main_metric}


def read_statistics(out: str | Path) -> dict:
    return json.loads((Path(out) / "validation.json").read_text(encoding="utf-8"))["statistics"]
