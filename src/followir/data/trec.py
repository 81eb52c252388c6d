"""TREC file formats: SGML topic files, qrels (``qid iter docid rel``) and run files (read and write)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from followir.atomic import atomic_open
from followir.data.tables import parse_relevance
from followir.errors import DataFormatError
from followir.records import Qrels, Run, rank_documents


@dataclass(frozen=True)
class TrecTopic:
    number: str
    title: str
    description: str
    narrative: str


# Any opening or closing tag: closing tags (Core18: ``</num>``) and fields we do not keep (TREC 1-3:
# ``<dom>``, ``<smry>``, ``<con>``, ...) end the field before them instead of leaking into it.
_TAG = re.compile(r"<(/?[a-z]+)>", re.IGNORECASE)
_FIELDS = ("num", "title", "desc", "narr")
_PREFIX = {
    "num": re.compile(r"^\s*Number:\s*", re.IGNORECASE),
    "desc": re.compile(r"^\s*Description\b:?\s*", re.IGNORECASE),
    "narr": re.compile(r"^\s*Narrative\b:?\s*", re.IGNORECASE),
    "title": re.compile(r"^\s*Topic:\s*", re.IGNORECASE),
}


def read_topics(path: str | Path) -> list[TrecTopic]:
    """Read a TREC topic file (``<top>`` blocks with ``<num>``, ``<title>``, ``<desc>``, ``<narr>``)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    topics: list[TrecTopic] = []
    seen: dict[str, int] = {}
    for match in re.finditer(r"<top>(.*?)</top>", text, re.DOTALL | re.IGNORECASE):
        line = text.count("\n", 0, match.start()) + 1
        body = match.group(1)
        fields: dict[str, str] = {}
        parts = _TAG.split(body)
        for tag, value in zip(parts[1::2], parts[2::2]):
            tag = tag.lower()
            if tag not in _FIELDS:
                continue
            value = _PREFIX[tag].sub("", value.strip(), count=1)
            fields[tag] = " ".join(value.split())
        if not fields.get("num"):
            raise DataFormatError(path, line, "topic without a <num> field",
                                  "give every <top> block a '<num> Number: N' line")
        number = fields["num"]
        if number in seen:
            raise DataFormatError(path, line, f"duplicate topic number {number} (first at line {seen[number]})",
                                  "keep one <top> block per topic number")
        seen[number] = line
        topics.append(TrecTopic(number, fields.get("title", ""), fields.get("desc", ""), fields.get("narr", "")))
    if not topics:
        raise DataFormatError(path, None, "no <top> blocks found", "give a TREC topic file in SGML form")
    return topics


def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels: ``qid iteration docid relevance`` (whitespace separated)."""
    path = Path(path)
    judgements: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise DataFormatError(path, number, f"{len(parts)} columns where qrels have 4",
                                      "write 'qid 0 docid relevance' on each line")
            qid, _, doc, rel = parts
            per_query = judgements.setdefault(qid, {})
            if doc in per_query:
                raise DataFormatError(path, number, f"document {doc} judged twice for query {qid}",
                                      "keep one judgement per (query, document)")
            per_query[doc] = parse_relevance(rel, path, number)
    return Qrels(judgements)


def write_qrels(qrels: Qrels, path: str | Path) -> None:
    with atomic_open(path) as f:
        for qid, docs in qrels.judgements.items():
            for doc, rel in docs.items():
                f.write(f"{qid} 0 {doc} {rel}\n")


def read_run(path: str | Path, name: str | None = None) -> Run:
    """Read a TREC run: ``qid Q0 docid rank score tag``. Ranks in the file are ignored; scores decide."""
    path = Path(path)
    scores: dict[str, dict[str, float]] = {}
    tag = name
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise DataFormatError(path, number, f"{len(parts)} columns where runs have 6",
                                      "write 'qid Q0 docid rank score tag' on each line")
            qid, _, doc, _, score, run_tag = parts
            try:
                value = float(score)
            except ValueError:
                raise DataFormatError(path, number, f"score {score!r} is not a number",
                                      "put a numeric score in the fifth column") from None
            per_query = scores.setdefault(qid, {})
            if doc in per_query:
                raise DataFormatError(path, number, f"document {doc} appears twice for query {qid}",
                                      "rank each document once per query")
            per_query[doc] = value
            tag = tag or run_tag
    return Run(scores, name=tag or path.stem)


def write_run(run: Run | Mapping[str, Mapping[str, float]], path: str | Path, tag: str | None = None,
              depth: int | None = None) -> None:
    """Write a TREC run file atomically, ranks following ``rank_documents`` (ties by doc id, descending)."""
    scores = run.scores if isinstance(run, Run) else run
    tag = tag or (run.name if isinstance(run, Run) else "followir")
    tag = tag.replace(" ", "_")
    with atomic_open(path) as f:
        for qid, docs in scores.items():
            ranking = rank_documents(docs)
            if depth is not None:
                ranking = ranking[:depth]
            for rank, doc in enumerate(ranking, start=1):
                f.write(f"{qid} Q0 {doc} {rank} {float(docs[doc])!r} {tag}\n")
