"""TREC file formats: topic files (SGML ``<top>`` blocks or XML ``<topic number=..>``), qrels
(``qid iter docid rel``) and run files (``qid Q0 docid rank score tag``), read and written.

The readers refuse, naming the file and the line, anything they would otherwise drop or merge: stray text,
unclosed or unknown tags, non-UTF-8 bytes, non-finite scores, files that hold nothing. Every id followir
writes reads back identically; an id that could not (empty, or holding whitespace) is refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from followir.atomic import atomic_open
from followir.data.tables import check_id, parse_relevance, text_lines
from followir.errors import DataFormatError, FollowIRError
from followir.records import Qrels, Run, rank_documents


@dataclass(frozen=True)
class TrecTopic:
    number: str
    title: str
    description: str
    narrative: str


# SGML topics. Any opening or closing tag ends the field before it. Fields we keep, then the fields TREC 1-3
# topics carry that we read past (``<dom>``, ``<smry>``, ``<con>``, ... ``<nat>`` inside ``<fac>``).
_TAG = re.compile(r"<(/?)([A-Za-z]+)>")
_FIELDS = ("num", "title", "desc", "narr")
_SKIPPED = ("head", "dom", "smry", "con", "def", "fac", "nat", "time", "price")
_PREFIX = {
    "num": re.compile(r"^\s*Number:\s*", re.IGNORECASE),
    "desc": re.compile(r"^\s*Description\b:?\s*", re.IGNORECASE),
    "narr": re.compile(r"^\s*Narrative\b:?\s*", re.IGNORECASE),
    "title": re.compile(r"^\s*Topic:\s*", re.IGNORECASE),
}
_XML_START = re.compile(r"\s*<(\?xml|!|topics\b|topic\b)", re.IGNORECASE)
# XML topics (TREC-COVID and later tracks): element -> the TrecTopic field it fills; and elements read past.
_XML_FIELDS = {"number": "number", "query": "title", "title": "title", "question": "description",
               "description": "description", "narrative": "narrative"}
_XML_SKIPPED = ("answer", "evidence", "stance", "disclaimer", "cochranedoi")


def read_topics(path: str | Path) -> list[TrecTopic]:
    """Read a TREC topic file: SGML (``<top>`` blocks with ``<num>``, ``<title>``, ``<desc>``, ``<narr>``) or
    XML (``<topics>`` of ``<topic number="N">`` with ``<query>``, ``<question>``, ``<narrative>``; query is
    the title, question the description)."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, data.count(b"\n", 0, e.start) + 1,
                              f"bytes that are not UTF-8 ({data[e.start:e.end]!r})",
                              "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    text = text.removeprefix("\ufeff")
    topics = _read_xml_topics(path, data) if _XML_START.match(text) else _read_sgml_topics(path, text)
    seen: dict[str, int] = {}
    for topic, line in topics:
        if topic.number in seen:
            raise DataFormatError(path, line, f"duplicate topic number {topic.number} (first at line "
                                  f"{seen[topic.number]})", "keep one topic per number")
        seen[topic.number] = line
    return [topic for topic, _ in topics]


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _first_text(text: str, start: int, end: int) -> int | None:
    """Offset of the first non-whitespace character of ``text[start:end]``, if any."""
    match = re.compile(r"\S").search(text, start, end)
    return match.start() if match else None


def _read_sgml_topics(path: Path, text: str) -> list[tuple[TrecTopic, int]]:
    tags = list(_TAG.finditer(text))
    if not any(t.group(2).lower() == "top" and not t.group(1) for t in tags):
        raise DataFormatError(path, None, "no <top> blocks found",
                              "give a TREC topic file: SGML <top> blocks, or XML <topic number=...> elements")
    topics: list[tuple[TrecTopic, int]] = []
    top_line: int | None = None  # line of the open <top>, None outside a topic
    fields: dict[str, str] = {}
    opened: set[str] = set()  # tags opened in this topic (a closing tag must close one of them)
    current: str | None = None  # the open field, None between fields
    after_close = False  # a closing tag ended the last field: only whitespace may follow
    last_end = 0
    for tag in tags:
        closing, name = bool(tag.group(1)), tag.group(2).lower()
        stray = _first_text(text, last_end, tag.start())
        if stray is not None:
            line = _line_of(text, stray)
            if top_line is None:
                raise DataFormatError(path, line, f"stray text outside a <top> block: "
                                      f"{text[stray:tag.start()].split(chr(10))[0].strip()[:40]!r}",
                                      "put every topic inside <top> ... </top> and remove other text")
            if current is None and not after_close:
                raise DataFormatError(path, line, "text before the first field of the topic",
                                      "start each <top> block with a tag such as <num>")
            if current is None:
                raise DataFormatError(path, line, "stray text after a closing tag",
                                      "put the text inside a field or remove it")
        if current in _FIELDS:
            fields[current] = " ".join(_PREFIX[current].sub("", text[last_end:tag.start()].strip(),
                                                            count=1).split())
        line = _line_of(text, tag.start())
        last_end = tag.end()
        after_close = False
        if name == "top" and not closing:
            if top_line is not None:
                raise DataFormatError(path, line, f"<top> before </top> of the topic at line {top_line}: its "
                                      "fields would spill into the next record", "close every topic with </top>")
            top_line, fields, opened, current = line, {}, set(), None
        elif name == "top":
            if top_line is None:
                raise DataFormatError(path, line, "</top> without an open <top>", "remove it or add its <top>")
            topics.append((_sgml_topic(path, top_line, fields), top_line))
            top_line, current = None, None
        elif top_line is None:
            raise DataFormatError(path, line, f"<{tag.group(1)}{name}> outside a <top> block",
                                  "put every field inside <top> ... </top>")
        elif name not in _FIELDS and name not in _SKIPPED:
            known = ", ".join(f"<{t}>" for t in (*_FIELDS, *_SKIPPED))
            raise DataFormatError(path, line, f"unknown tag <{tag.group(1)}{name}> (known: {known})",
                                  "fix the tag's spelling, or remove it")
        elif closing:
            if name != current and name not in opened - set(_FIELDS):
                raise DataFormatError(path, line, f"</{name}> does not close the open field "
                                      f"({'<' + current + '>' if current else 'none'})",
                                      "close the field that is open, or remove the tag")
            current, after_close = None, True
        else:
            if name in _FIELDS and (name in fields or name in opened):
                raise DataFormatError(path, line, f"a second <{name}> in the topic at line {top_line}",
                                      "give each field once per topic, and close each topic with </top>")
            opened.add(name)
            current = name
            if name in _FIELDS:
                fields[name] = ""
    if top_line is not None:
        raise DataFormatError(path, top_line, "no closing </top> for this <top>", "end the topic with </top>")
    stray = _first_text(text, last_end, len(text))
    if stray is not None:
        raise DataFormatError(path, _line_of(text, stray), "stray text outside a <top> block",
                              "put every topic inside <top> ... </top> and remove other text")
    return topics


def _sgml_topic(path: Path, line: int, fields: dict[str, str]) -> TrecTopic:
    if not fields.get("num"):
        raise DataFormatError(path, line, "topic without a <num> field",
                              "give every <top> block a '<num> Number: N' line")
    number = check_id(fields["num"], path, line, "topic number")
    return TrecTopic(number, fields.get("title", ""), fields.get("desc", ""), fields.get("narr", ""))


def _read_xml_topics(path: Path, data: bytes) -> list[tuple[TrecTopic, int]]:
    from xml.parsers import expat

    parser = expat.ParserCreate()
    topics: list[tuple[TrecTopic, int]] = []
    stack: list[str] = []
    state: dict = {}

    def fail(problem: str, fix: str) -> None:
        raise DataFormatError(path, parser.CurrentLineNumber, problem, fix)

    def start(name: str, attrs: dict[str, str]) -> None:
        parent = stack[-1] if stack else None
        if parent is None and name not in ("topics", "topic"):
            fail(f"the root element is <{name}>", "give a <topics> element holding <topic number=...> elements")
        elif parent == "topics" and name != "topic":
            fail(f"unknown element <{name}> in <topics>", "hold only <topic> elements in <topics>")
        elif parent == "topic":
            if name == "topic":
                fail(f"<topic> before </topic> of the topic at line {state['line']}: its elements would spill "
                     "into the next record", "close every topic with </topic>")
            if name not in _XML_FIELDS and name not in _XML_SKIPPED:
                known = ", ".join(f"<{t}>" for t in (*_XML_FIELDS, *_XML_SKIPPED))
                fail(f"unknown element <{name}> in <topic> (known: {known})", "fix the element's name, or remove it")
            if name in state["seen"]:
                fail(f"a second <{name}> in the topic at line {state['line']}", "give each element once per topic")
            state["seen"].add(name)
            state["field"], state["text"] = name, []
        elif parent not in (None, "topics"):
            fail(f"unknown element <{name}> inside <{parent}>", f"write <{parent}> as plain text")
        if name == "topic":
            state.update(line=parser.CurrentLineNumber, seen=set(), values={}, number=attrs.get("number"))
        stack.append(name)

    def end(name: str) -> None:
        stack.pop()
        if stack and stack[-1] == "topic":
            state["values"][name] = " ".join("".join(state["text"]).split())
            state["field"] = None
        elif name == "topic":
            values = state["values"]
            number = state["number"] or values.get("number")
            if not number:
                raise DataFormatError(path, state["line"], "topic without a number",
                                      'give every <topic> a number="N" attribute or a <number> element')
            number = check_id(number.strip(), path, state["line"], "topic number")
            fields = {_XML_FIELDS[k]: v for k, v in values.items() if k in _XML_FIELDS and k != "number"}
            topics.append((TrecTopic(number, fields.get("title", ""), fields.get("description", ""),
                                     fields.get("narrative", "")), state["line"]))

    def characters(chunk: str) -> None:
        if stack and stack[-1] in ("topics", "topic"):
            if chunk.strip():
                fail(f"stray text {chunk.strip()[:40]!r} in <{stack[-1]}>", "put the text inside an element")
        elif stack:
            state["text"].append(chunk)

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise DataFormatError(path, e.lineno, f"malformed XML ({expat.errors.messages[e.code]})",
                              "make the topic file well-formed XML (every element closed, & written &amp;)") from None
    if not topics:
        raise DataFormatError(path, None, "no <topic> elements found", 'give <topic number="N"> elements')
    return topics


def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels: ``qid iteration docid relevance`` (whitespace separated); refuses a file with none."""
    path = Path(path)
    judgements: dict[str, dict[str, int]] = {}
    for number, line in text_lines(path):
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
    if not judgements:
        raise DataFormatError(path, None, "the qrels file holds no judgement (it is empty or blank)",
                              "pass the qrels file: 'qid 0 docid relevance' on each line")
    return Qrels(judgements)


def _writable(value: object, what: str, path: str | Path) -> str:
    text = str(value)
    if not text or text.split() != [text]:
        raise FollowIRError(f"{what} {text!r} cannot be written to a TREC file ({path}): it is empty or holds "
                            "whitespace, so it would not read back. Fix: give ids without whitespace")
    return text


def write_qrels(qrels: Qrels, path: str | Path) -> None:
    """Write TREC qrels atomically; refuses ids that would not read back identically."""
    with atomic_open(path) as f:
        for qid, docs in qrels.judgements.items():
            _writable(qid, "query id", path)
            for doc, rel in docs.items():
                f.write(f"{qid} 0 {_writable(doc, 'document id', path)} {int(rel)}\n")


def read_run(path: str | Path, name: str | None = None) -> Run:
    """Read a TREC run: ``qid Q0 docid rank score tag``. Ranks in the file are ignored; scores decide.

    Scores must be finite numbers: ``nan``, ``inf`` and ``-inf`` are refused (docs/errors.md says why).
    """
    path = Path(path)
    scores: dict[str, dict[str, float]] = {}
    tag = name
    for number, line in text_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise DataFormatError(path, number, f"{len(parts)} columns where runs have 6",
                                  "write 'qid Q0 docid rank score tag' on each line")
        qid, _, doc, _, score, run_tag = parts
        try:
            value = float(score) if "_" not in score else None
        except ValueError:
            value = None
        if value is None:
            raise DataFormatError(path, number, f"score {score!r} is not a number",
                                  "put a numeric score in the fifth column")
        if not math.isfinite(value):
            raise DataFormatError(path, number, f"score {score!r} is not a finite number",
                                  "give every document a finite score (a model that produced it overflowed; "
                                  "rank it last with a score below the others, or leave the line out)")
        per_query = scores.setdefault(qid, {})
        if doc in per_query:
            raise DataFormatError(path, number, f"document {doc} appears twice for query {qid}",
                                  "rank each document once per query")
        per_query[doc] = value
        tag = tag or run_tag
    if not scores:
        raise DataFormatError(path, None, "the run file holds no ranking (it is empty or blank)",
                              "pass the run file: 'qid Q0 docid rank score tag' on each line")
    return Run(scores, name=tag or path.stem)


def write_run(run: Run | Mapping[str, Mapping[str, float]], path: str | Path, tag: str | None = None,
              depth: int | None = None) -> None:
    """Write a TREC run file atomically, ranks following ``rank_documents`` (ties by doc id, descending).

    Refuses ids that would not read back identically and non-finite scores; whitespace in the tag becomes ``_``.
    """
    scores = run.scores if isinstance(run, Run) else run
    tag = tag or (run.name if isinstance(run, Run) else "followir")
    tag = "_".join(str(tag).split()) or "followir"
    with atomic_open(path) as f:
        for qid, docs in scores.items():
            _writable(qid, "query id", path)
            for doc, score in docs.items():
                _writable(doc, "document id", path)
                if not math.isfinite(float(score)):
                    raise FollowIRError(f"the score of query {qid!r}, document {doc!r} is {score}, not a finite "
                                        f"number, so {path} cannot hold it. Fix: the model must give finite scores")
            ranking = rank_documents(docs)
            if depth is not None:
                ranking = ranking[:depth]
            for rank, doc in enumerate(ranking, start=1):
                f.write(f"{qid} Q0 {doc} {rank} {float(docs[doc])!r} {tag}\n")


def read_followir_files(qrels_og: str | Path, qrels_changed: str | Path, run_og: str | Path,
                        run_changed: str | Path) -> tuple[Qrels, Qrels, Run, Run]:
    """The four files of ``followir metrics``, refused when together they yield nothing to score: og qrels
    without a relevant document, or a run that shares no query with the qrels."""
    og, changed = read_qrels(qrels_og), read_qrels(qrels_changed)
    if not any(r > 0 for docs in og.judgements.values() for r in docs.values()):
        raise DataFormatError(qrels_og, None, "the og qrels hold no relevant document, so no measure and no "
                              "p-MRR is defined", "pass the og qrels (relevance > 0 marks a relevant document)")
    if not set(og.judgements) & set(changed.judgements):
        raise DataFormatError(qrels_changed, None, f"the changed qrels have no query in common with the og qrels "
                              f"{qrels_og} (changed: {_some(changed.judgements)}; og: {_some(og.judgements)})",
                              "pass the changed qrels of the same topics; query ids must match exactly")
    runs = []
    for path, qrels, qrels_path in ((run_og, og, qrels_og), (run_changed, changed, qrels_changed)):
        run = read_run(path)
        if not set(qrels.judgements) & set(run.scores):
            raise DataFormatError(path, None, f"the run has no query in common with the qrels {qrels_path} (run: "
                                  f"{_some(run.scores)}; qrels: {_some(qrels.judgements)})",
                                  "pass a run of the same topics; query ids must match the qrels exactly")
        runs.append(run)
    return og, changed, runs[0], runs[1]


def _some(ids) -> str:
    ordered = sorted(ids)
    return ", ".join(ordered[:3]) + (f", ... ({len(ordered)} queries)" if len(ordered) > 3 else "")
