"""Step 1: pick TREC topics (with narratives) and their og qrels.

The paper took the Robust04 topics that Core17 did not reuse; ``exclude`` takes such a list (topic numbers, or a
TREC topic file whose numbers are left out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from followir.construction.workfiles import QRELS_OG, TOPICS, need, read_rows, write_rows
from followir.data.trec import TrecTopic, read_qrels, read_topics, write_qrels
from followir.errors import DataFormatError
from followir.records import Qrels


def topic_numbers(spec: str | Path | Iterable[str] | None) -> set[str]:
    """Topic numbers from a list, a comma-separated string, a TREC topic file or a file of one number a line."""
    if spec is None:
        return set()
    if not isinstance(spec, (str, Path)):
        return {str(s).strip() for s in spec if str(s).strip()}
    path = Path(spec)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if "<top>" in text.lower() or "<topic" in text.lower():
            return {t.number for t in read_topics(path)}
        return {w for w in text.split() if w}
    return {s.strip() for s in str(spec).split(",") if s.strip()}


def select_topics(topics: list[TrecTopic], qrels: Qrels, *, include: set[str] | None = None,
                  exclude: set[str] | None = None, limit: int | None = None) -> list[TrecTopic]:
    """Topics with a narrative and at least one og-relevant document, in ``include`` (when given) and not in
    ``exclude``, in file order, the first ``limit`` of them."""
    known = {t.number for t in topics}
    unknown = sorted((include or set()) - known)
    if unknown:
        raise DataFormatError("--topic", None, f"topics {', '.join(unknown[:5])} are not in the topic file",
                              "pick topic numbers the topic file holds")
    chosen = []
    for topic in topics:
        if include and topic.number not in include:
            continue
        if exclude and topic.number in exclude:
            continue
        if not topic.narrative.strip() or not qrels.relevant(topic.number):
            continue
        chosen.append(topic)
    return chosen[:limit] if limit else chosen


def run_topics(topics_file: str | Path, qrels_file: str | Path, work: str | Path, *,
               include: set[str] | None = None, exclude: set[str] | None = None,
               limit: int | None = None) -> list[TrecTopic]:
    """Write ``topics.jsonl`` and ``qrels.og.trec`` (the og qrels of the chosen topics) into ``work``."""
    topics, qrels = read_topics(topics_file), read_qrels(qrels_file)
    chosen = select_topics(topics, qrels, include=include, exclude=exclude, limit=limit)
    if not chosen:
        raise DataFormatError(topics_file, None, "no topic is left (each needs a narrative and a relevant document)",
                              "check --topic/--exclude and that the qrels match the topic numbers")
    work = Path(work)
    write_rows(work / TOPICS, ({"number": t.number, "title": t.title, "description": t.description,
                                "narrative": t.narrative} for t in chosen))
    write_qrels(Qrels({t.number: qrels.judgements[t.number] for t in chosen}), work / QRELS_OG)
    return chosen


def load_topics(work: str | Path) -> list[TrecTopic]:
    path = need(work, TOPICS, "build-topics")
    return [TrecTopic(str(r["number"]), r["title"], r.get("description", ""), r["narrative"])
            for _, r in read_rows(path)]


def load_og_qrels(work: str | Path) -> Qrels:
    return read_qrels(need(work, QRELS_OG, "build-topics"))
