"""Step 3: re-judge only the documents relevant under the og narrative, against the changed narrative.

``prepare_judging`` streams the collection once and writes the og-relevant documents of every topic, with their
text, to ``judging.jsonl`` (what ``followir judge`` shows). ``run_judgements`` then writes one final judgement per
(topic, document) to ``judgements.jsonl``: from the judging page's SQLite store (adjudicated where assessors
disagree), or from a file judged elsewhere (jsonl ``{"topic", "doc", "relevance"}`` rows, or TREC qrels).
``changed_qrels`` turns them into the changed qrels: the og qrels with each og-relevant document's grade kept
where it is still relevant and set to 0 where it is not. A narrowing change makes nothing else relevant, so
no other judgement moves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from followir.construction.collections import iter_documents
from followir.construction.topics import load_og_qrels, load_topics
from followir.construction.workfiles import JUDGE_DB, JUDGEMENTS, JUDGING, need, plural, read_rows, write_rows
from followir.errors import DataFormatError
from followir.records import Qrels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JudgingItem:
    topic: str
    doc: str
    title: str
    text: str


def prepare_judging(work: str | Path, collection: str | Path) -> tuple[int, list[tuple[str, str]]]:
    """Write ``judging.jsonl``; returns how many items and the (topic, doc) pairs missing from the collection."""
    topics = [t.number for t in load_topics(work)]
    qrels = load_og_qrels(work)
    wanted: dict[str, list[str]] = {}
    for topic in topics:
        for doc in sorted(qrels.relevant(topic)):
            wanted.setdefault(doc, []).append(topic)
    found: dict[str, tuple[str, str]] = {}
    for document in iter_documents(collection):
        if document.id in wanted and document.id not in found:
            found[document.id] = (document.title, document.text)
    rows, missing = [], []
    for topic in topics:
        for doc in sorted(qrels.relevant(topic)):
            if doc in found:
                rows.append({"topic": topic, "doc": doc, "title": found[doc][0], "text": found[doc][1]})
            else:
                missing.append((topic, doc))
    if missing:
        log.warning("%d og-relevant documents are not in the collection %s (e.g. %s); they cannot be judged and "
                    "are left out of the benchmark", len(missing), collection, missing[0][1])
    write_rows(Path(work) / JUDGING, rows)
    return len(rows), missing


def load_judging(work: str | Path) -> list[JudgingItem]:
    path = need(work, JUDGING, "build-judging")
    return [JudgingItem(str(r["topic"]), str(r["doc"]), r.get("title", ""), r["text"]) for _, r in read_rows(path)]


def read_judgements_file(path: str | Path) -> dict[tuple[str, str], int]:
    """(topic, doc) -> relevance under the changed narrative, from jsonl rows or TREC qrels."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, None, "the judgements file does not exist",
                              'give a jsonl of {"topic", "doc", "relevance"} rows or TREC qrels')
    first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), "")
    if not first.lstrip().startswith("{"):
        from followir.data.trec import read_qrels

        return {(q, d): r for q, docs in read_qrels(path).judgements.items() for d, r in docs.items()}
    out: dict[tuple[str, str], int] = {}
    for line, row in read_rows(path):
        try:
            key = (str(row["topic"]), str(row["doc"]))
            value = int(row["relevance"])
        except (KeyError, TypeError, ValueError):
            raise DataFormatError(path, line, "the row needs 'topic', 'doc' and an integer 'relevance'",
                                  'write {"topic": "301", "doc": "FBIS3-1", "relevance": 0}') from None
        if key in out:
            raise DataFormatError(path, line, f"document {key[1]} judged twice for topic {key[0]}",
                                  "keep one judgement per (topic, document)")
        out[key] = value
    return out


def run_judgements(work: str | Path, *, judgements: str | Path | None = None,
                   database: str | Path | None = None) -> dict[tuple[str, str], int]:
    """Write ``judgements.jsonl``: one final changed judgement per item of ``judging.jsonl``. Refuses while any
    item is unjudged or (from the judging page) awaits adjudication, naming how many and what to do."""
    items = load_judging(work)
    if judgements is not None:
        given = read_judgements_file(judgements)
        source = str(judgements)
    else:
        db = Path(database) if database else Path(work) / JUDGE_DB
        if not db.exists():
            raise DataFormatError(db, None, "no judgements yet",
                                  f"judge the documents ('followir judge {work}'), or give judgements made elsewhere "
                                  "with --judgements FILE (jsonl {topic, doc, relevance} rows or TREC qrels)")
        given, disputed = store_labels(work, db)
        source = str(db)
        if disputed:
            raise DataFormatError(db, None, f"{plural(len(disputed), 'document has', 'documents have')} assessors "
                                  "who disagree "
                                  f"(e.g. topic {disputed[0][0]}, {disputed[0][1]})",
                                  f"adjudicate them on the agreement page of 'followir judge {work}' (/agreement)")
    missing = [(i.topic, i.doc) for i in items if (i.topic, i.doc) not in given]
    if missing:
        fix = (f"add their judgements to {judgements} (one per og-relevant document of judging.jsonl), then run "
               "this step again" if judgements is not None
               else f"judge them ('followir judge {work}'), then run this step again")
        raise DataFormatError(source, None, f"{len(missing)} of {plural(len(items), 'og-relevant document')} "
                              f"{'has' if len(missing) == 1 else 'have'} no changed judgement yet "
                              f"(e.g. topic {missing[0][0]}, {missing[0][1]})", fix)
    final = {(i.topic, i.doc): given[(i.topic, i.doc)] for i in items}
    write_rows(Path(work) / JUDGEMENTS, ({"topic": t, "doc": d, "relevance": r} for (t, d), r in final.items()))
    return final


def current_narratives(work: str | Path) -> dict[str, str]:
    """topic -> the hash of its changed narrative now (what judgements in the store must have been made against)."""
    from followir.construction.narratives import load_narratives
    from followir.judge.store import narrative_hash

    return {n.topic: narrative_hash(n.narrative_changed) for n in load_narratives(work)}


def store_labels(work: str | Path, db: str | Path) -> tuple[dict[tuple[str, str], int], list[tuple[str, str]]]:
    """The store's final labels and disputes, counting only judgements made against the current changed
    narratives (older ones stay in the store, for the record)."""
    from followir.judge.store import JudgementStore

    store = JudgementStore(db)
    current = current_narratives(work)
    store.stamp_unstamped(current)
    stale = store.stale(current)
    if stale:
        log.warning("%d judgements in %s were made against an earlier changed narrative; they are kept but do not "
                    "count (judge those documents again)", stale, db)
    return store.final_labels(current)


def load_judgements(work: str | Path) -> dict[tuple[str, str], int]:
    path = need(work, JUDGEMENTS, "build-judgements")
    return {(str(r["topic"]), str(r["doc"])): int(r["relevance"]) for _, r in read_rows(path)}


def changed_qrels(og: Qrels, judged: Mapping[tuple[str, str], int]) -> Qrels:
    """The og qrels with each re-judged og-relevant document set to its og grade (still relevant) or 0.

    >>> og = Qrels({"1": {"a": 2, "b": 1, "c": 0}})
    >>> changed_qrels(og, {("1", "a"): 1, ("1", "b"): 0}).to_dict()
    {'1': {'a': 2, 'b': 0, 'c': 0}}
    """
    out: dict[str, dict[str, int]] = {}
    for topic, docs in og.judgements.items():
        out[topic] = {}
        for doc, grade in docs.items():
            if grade > 0 and (topic, doc) in judged:
                out[topic][doc] = grade if judged[(topic, doc)] > 0 else 0
            else:
                out[topic][doc] = grade
    return Qrels(out)
