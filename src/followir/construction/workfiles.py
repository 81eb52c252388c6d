"""The files the steps exchange in a work folder, and the small readers they share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from followir.atomic import atomic_open
from followir.data.tables import read_json_lines
from followir.errors import DataFormatError

TOPICS = "topics.jsonl"            # step 1: the selected topics (number, title, description, narrative)
QRELS_OG = "qrels.og.trec"         # step 1: their og qrels
NARRATIVES = "narratives.jsonl"    # step 2: topic, narrative_og, narrative_changed, status (accepted or draft)
JUDGING = "judging.jsonl"          # step 3a: the og-relevant documents to re-judge, with their text
JUDGE_DB = "judgements.sqlite"     # step 3b: the judging web page's store
JUDGEMENTS = "judgements.jsonl"    # step 3c: one final changed judgement per og-relevant (topic, document)
POOL = "pool"                      # step 4: one TREC run of passages per pooled model
CANDIDATES = "candidates.jsonl"    # step 4: topic, doc, rank, passage (MaxP passage index)
CONFIG = "build.json"              # the settings each step ran with


def write_rows(path: str | Path, rows: Iterable[Mapping]) -> int:
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """``(line number, row)`` of a work file (JSON lines), through followir's table reader."""
    return read_json_lines(path)


def need(work: str | Path, name: str, step: str) -> Path:
    """``work/name``, or an error naming the step that writes it."""
    path = Path(work) / name
    if not path.exists():
        raise DataFormatError(path, None, f"{name} is missing from the work folder",
                              f"run 'followir {step}' first (or 'followir build-benchmark', which runs every step)")
    return path


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 document``, ``2 documents`` (``words`` where the plural is not ``word + 's'``).

    >>> plural(1, "document"), plural(3, "topic"), plural(2, "copy", "copies")
    ('1 document', '3 topics', '2 copies')
    """
    return f"{count} {word if count == 1 else (words or word + 's')}"


def shorten(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut to about ``limit`` characters (``...`` where cut).

    >>> shorten("a  b"), shorten("x" * 70, 10)
    ('a b', 'xxxxxxx...')
    """
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."
