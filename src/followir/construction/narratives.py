"""Step 2: a changed narrative per topic. It only narrows relevance (a constraint or an exclusion added), so no
unjudged document can become relevant; the paper aimed at about half of the relevant documents removed.

Written by people (a jsonl of ``{"topic", "narrative"}`` rows, or a TSV ``topic<TAB>narrative``), each checked to
be non-empty and different from the og narrative; or drafted by a generator (``openai:MODEL``/``local:NAME``, as
the training recipe's) with :data:`DRAFT_PROMPT`. Drafts carry ``status: draft`` until a person accepts them
(``accept_narratives``, or by editing ``narratives.jsonl``); later steps refuse a draft.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from followir.construction.topics import load_topics
from followir.construction.workfiles import NARRATIVES, need, read_rows, shorten, write_rows
from followir.data.trec import TrecTopic
from followir.errors import DataFormatError
from followir.llm.prompts import Prompt

STATUSES = ("accepted", "draft")
DRAFT_PROMPT = Prompt(
    name="changed-narrative",
    description="a narrower changed narrative for a TREC topic (FollowIR section 3)",
    source="followir.construction.narratives, after the FollowIR paper's section 3 instructions to annotators",
    placeholders=("query", "instruction"),
    user=("You are an expert TREC assessor. Below are a search topic and the narrative that told assessors which "
          "documents are relevant.\n\nTopic: {query}\nNarrative: {instruction}\n\n"
          "Rewrite the narrative so that it is more specific: keep it as it is, and add one constraint or exclusion "
          "that narrows what counts as relevant, so that about half of the documents relevant under the original "
          "narrative would no longer be relevant. The change must only narrow relevance: no document that was "
          "not relevant before may become relevant. Answer with the full new narrative only, one paragraph, "
          "without any preamble."),
)


@dataclass(frozen=True)
class ChangedNarrative:
    topic: str
    narrative_og: str
    narrative_changed: str
    status: str = "accepted"
    source: str = "people"


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()


def read_written(path: str | Path, topics: Iterable[TrecTopic]) -> list[ChangedNarrative]:
    """Changed narratives written by people, checked against the og narratives (errors name file:line)."""
    path = Path(path)
    by_number = {t.number: t for t in topics}
    rows = _rows(path)
    out: dict[str, ChangedNarrative] = {}
    seen: dict[str, int] = {}
    for line, topic, text in rows:
        if topic not in by_number:
            if text.strip() in by_number:
                raise DataFormatError(path, line, f"the columns look swapped: column 2 is topic {text.strip()} and "
                                      f"column 1 is text ({shorten(topic)!r})",
                                      "write 'topic<TAB>changed narrative', the topic number first")
            raise DataFormatError(path, line, f"topic {shorten(topic)!r} is not among the selected topics",
                                  f"use one of {', '.join(sorted(by_number)[:8])}, or select it in build-topics")
        if topic in seen:
            raise DataFormatError(path, line, f"a second changed narrative for topic {topic} (first at line "
                                  f"{seen[topic]})", "keep one changed narrative per topic")
        seen[topic] = line
        if not text.strip():
            raise DataFormatError(path, line, f"the changed narrative of topic {topic} is empty",
                                  "write the narrower narrative (the og one plus a constraint or an exclusion)")
        og = by_number[topic].narrative
        if _same(text, og):
            raise DataFormatError(path, line, f"the changed narrative of topic {topic} is the og narrative",
                                  "add a constraint or an exclusion that makes about half of the relevant "
                                  "documents not relevant")
        out[topic] = ChangedNarrative(topic, og, " ".join(text.split()))
    missing = [t for t in by_number if t not in out]
    if missing:
        raise DataFormatError(path, None, f"no changed narrative for {'topic' if len(missing) == 1 else 'topics'} "
                              f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}",
                              "write one for every selected topic, or leave those topics out in build-topics")
    return [out[t] for t in by_number]


def _rows(path: Path) -> list[tuple[int, str, str]]:
    if not path.is_file():
        raise DataFormatError(path, None, "the changed-narratives file does not exist",
                              "give a jsonl of {\"topic\", \"narrative\"} rows or a TSV topic<TAB>narrative")
    if path.suffix.lower() in (".tsv", ".txt"):
        out = []
        with open(path, encoding="utf-8", newline="") as f:
            for number, cells in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                if not cells or not "".join(cells).strip():
                    continue
                if number == 1 and cells[0].strip().lower() in ("topic", "number", "qid"):
                    continue
                if len(cells) != 2:
                    raise DataFormatError(path, number, f"{len(cells)} columns where the file has 2",
                                          "write 'topic<TAB>changed narrative' on each line (no tab inside)")
                out.append((number, cells[0].strip(), cells[1]))
        return out
    out = []
    for number, row in read_rows(path):
        topic = row.get("topic", row.get("number", row.get("qid")))
        text = row.get("narrative", row.get("narrative_changed", row.get("instruction_changed")))
        if topic is None or text is None:
            raise DataFormatError(path, number, "the row lacks 'topic' or 'narrative'",
                                  'write {"topic": "301", "narrative": "..."} on each line')
        out.append((number, str(topic).strip(), str(text)))
    return out


def draft(topics: list[TrecTopic], chat, progress=None) -> list[ChangedNarrative]:
    """A draft changed narrative per topic from a generator (a ``followir.llm`` chat model)."""
    conversations = [DRAFT_PROMPT.messages(query=t.title, instruction=t.narrative) for t in topics]
    answers = chat.complete_many(conversations, progress=progress)
    name = chat.describe().get("name", getattr(chat, "name", "generator"))
    out = []
    for topic, answer in zip(topics, answers):
        text = " ".join(str(answer).split())
        out.append(ChangedNarrative(topic.number, topic.narrative, text, "draft", f"generator:{name}"))
    return out


def run_narratives(work: str | Path, *, written: str | Path | None = None, chat=None,
                   progress=None) -> list[ChangedNarrative]:
    """Write ``narratives.jsonl``. Written narratives replace what is there; a generator drafts only the topics
    that have none yet (resumable: a rerun keeps every draft and acceptance made so far)."""
    topics = load_topics(work)
    current = {n.topic: n for n in load_narratives(work, allow_drafts=True)} \
        if (Path(work) / NARRATIVES).exists() else {}
    if written is not None:
        new = {n.topic: n for n in read_written(written, topics)}
    elif chat is not None:
        todo = [t for t in topics if t.number not in current]
        new = {n.topic: n for n in draft(todo, chat, progress)}
    else:
        raise ValueError("give written changed narratives or a generator to draft them")
    merged = [new.get(t.number) or current.get(t.number) for t in topics]
    write_rows(Path(work) / NARRATIVES, (asdict(n) for n in merged if n is not None))
    return [n for n in merged if n is not None]


def accept(work: str | Path, topics: Iterable[str] | None = None) -> list[str]:
    """Mark drafts accepted (all of them, or those of ``topics``); returns the topics accepted."""
    narratives = load_narratives(work, allow_drafts=True)
    wanted = set(topics) if topics is not None else None
    done = []
    out = []
    for n in narratives:
        if n.status == "draft" and (wanted is None or n.topic in wanted):
            n = ChangedNarrative(n.topic, n.narrative_og, n.narrative_changed, "accepted", n.source)
            done.append(n.topic)
        out.append(n)
    write_rows(Path(work) / NARRATIVES, (asdict(n) for n in out))
    return done


def load_narratives(work: str | Path, *, allow_drafts: bool = False) -> list[ChangedNarrative]:
    path = need(work, NARRATIVES, "build-narratives")
    out = []
    for line, row in read_rows(path):
        status = row.get("status", "accepted")
        if status not in STATUSES:
            raise DataFormatError(path, line, f"status {status!r}", f"use one of {', '.join(STATUSES)}")
        if status == "draft" and not allow_drafts:
            raise DataFormatError(path, line, f"the changed narrative of topic {row['topic']} is still a draft",
                                  "read it, edit it if needed, then accept it: 'followir build-narratives WORK "
                                  f"--accept {row['topic']}' (or set \"status\": \"accepted\")")
        if not str(row.get("narrative_changed", "")).strip() or _same(row["narrative_changed"], row["narrative_og"]):
            raise DataFormatError(path, line, f"the changed narrative of topic {row['topic']} is empty or the og one",
                                  "write a narrower narrative for it")
        out.append(ChangedNarrative(str(row["topic"]), row["narrative_og"], row["narrative_changed"], status,
                                    row.get("source", "people")))
    return out
