"""Parse a generator's answer into relevant and non-relevant documents, whatever shape it came in.

Accepted shapes (mixed freely):

- JSON: ``{"relevant": [...], "irrelevant": [...]}`` (also ``non_relevant``, ``not relevant``, ...), a list of
  ``{"label": ..., "document": ...}`` objects, or one such object per line; code fences are ignored;
- headings that open a section: ``Relevant documents:``, ``**Irrelevant Document Options:**``, ``### Non-relevant``;
- labelled items: ``Relevant document 1: ...``, ``1. Irrelevant: ...``, ``Option 2 (relevant): ...``;
- items under a heading: numbered (``1.``, ``2)``), bulleted (``-``, ``*``), ``Option 1:``, or one per line;
- no labels at all: exactly six documents, read as three relevant then three irrelevant (the order the
  prompt asks for).

Documents shorter than ``min_words`` (fragments, preambles such as "Sure, here are...") are ignored; at most
``max_per_label`` of each label are kept. An answer without ``min_per_label`` documents of each label raises
``ParseError`` saying what was found.

>>> answer = "Relevant:\\n1. A long relevant text here.\\n2. Another relevant one.\\n\\nIrrelevant:\\n1. Off topic."
>>> parsed = parse_documents(answer, min_words=2)
>>> parsed.relevant, parsed.nonrelevant, parsed.format
(('A long relevant text here.', 'Another relevant one.'), ('Off topic.',), 'sections')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_NOUNS = r"(?:documents?|docs?|options?|examples?|passages?|articles?|ones?|texts?|paragraphs?)"
_LABEL = r"(?P<neg>ir|non[-\s]?|not[-\s]+)?relevant"
_MARK = r"(?:\*\*|__|\*|_)"
# A line that only names a label: "Relevant documents:", "**Irrelevant Document Options:**", "### Non-relevant".
_HEADING = re.compile(
    rf"^\s*(?:#+\s*)?{_MARK}?\s*(?:\d+[.)]\s*)?(?:the\s+|three\s+|3\s+)?{_LABEL}(?:\s+{_NOUNS}){{0,2}}\s*"
    rf"(?:\([^)]*\))?\s*{_MARK}?\s*:?\s*{_MARK}?\s*:?\s*$", re.IGNORECASE)
# A line that starts with a label and a separator: "Relevant document 1: ...", "1. Irrelevant - ...",
# "Option 2 (relevant): ...", "**Relevant Document 1:** ...".
_LABELLED = re.compile(
    rf"^\s*(?:[-*•]\s+|\d+[.)]\s*)?{_MARK}?\s*(?:{_NOUNS}\s*#?\d+\s*[-:]?\s*)?\(?\s*{_LABEL}(?:\s+{_NOUNS}){{0,2}}"
    rf"\s*(?:#?\s*\d+)?\s*\)?\s*{_MARK}?\s*[:\-–—]\s*{_MARK}?\s*(?P<body>.+)$", re.IGNORECASE)
# An item marker: "1.", "2)", "(3)", "-", "*", "•", "Option 1:", "Document 2 -".
_ITEM = re.compile(rf"^\s*(?:\(?\d+[.):]|[-*•]|{_MARK}?{_NOUNS}\s*#?\d+{_MARK}?\s*[:.)\-–—]{_MARK}?)\s*(?P<body>.*)$",
                   re.IGNORECASE)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*$|^```\s*$", re.MULTILINE)

_REL_KEYS = {"relevant", "relevantdocuments", "relevantdocument", "relevantdocs", "relevantoptions", "positive",
             "positives"}
_NONREL_KEYS = {"irrelevant", "nonrelevant", "notrelevant", "irrelevantdocuments", "irrelevantdocument",
                "nonrelevantdocuments", "notrelevantdocuments", "irrelevantdocs", "irrelevantoptions", "negative",
                "negatives"}
_TEXT_KEYS = ("document", "text", "content", "passage", "doc")


class ParseError(ValueError):
    """An answer that does not hold enough documents of each label; the message says what was found.

    ``kind`` is ``no-labels`` (no label anywhere and not six documents) or ``too-few`` (labels, but fewer
    than ``min_per_label`` documents of a label).
    """

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ParsedAnswer:
    relevant: tuple[str, ...]
    nonrelevant: tuple[str, ...]
    format: str  # json, sections, labelled, positional


def _clean(text: str) -> str:
    text = re.sub(rf"^{_MARK}+|{_MARK}+$", "", text.strip()).strip()
    if len(text) >= 2 and text[0] in "\"“'" and text[-1] in "\"”'":
        text = text[1:-1].strip()
    return text


def _key_label(key: str) -> bool | None:
    k = re.sub(r"[^a-z]", "", key.lower())
    if k in _REL_KEYS:
        return True
    if k in _NONREL_KEYS:
        return False
    return None


def _value_label(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    if isinstance(value, str):
        return _key_label(value) if _key_label(value) is not None else {"true": True, "false": False,
                                                                         "yes": True, "no": False}.get(value.lower())
    return None


def _text_of(item: object) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in _TEXT_KEYS:
            if isinstance(item.get(key), str):
                return item[key]
    return None


def _from_json(data: object) -> list[tuple[bool | None, str]] | None:
    out: list[tuple[bool | None, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            label = _key_label(key)
            if label is None:
                if isinstance(value, (dict, list)):
                    nested = _from_json(value)
                    if nested:
                        out.extend(nested)
                continue
            items = value if isinstance(value, list) else [value]
            out.extend((label, t) for t in map(_text_of, items) if t)
        if not out and any(k in data for k in ("label", "relevant", "is_relevant")):
            text = _text_of(data)
            label = _value_label(data.get("label", data.get("relevant", data.get("is_relevant"))))
            if text and label is not None:
                out.append((label, text))
        return out or None
    if isinstance(data, list):
        for item in data:
            found = _from_json(item) if isinstance(item, dict) else None
            if found:
                out.extend(found)
        return out or None
    return None


def _try_json(text: str) -> list[tuple[bool | None, str]] | None:
    body = _FENCE.sub("", text).strip()
    candidates = [body]
    starts = [i for i in (body.find("{"), body.find("[")) if i >= 0]
    if starts:
        start = min(starts)
        end = max(body.rfind("}"), body.rfind("]"))
        if end > start:
            candidates.append(body[start:end + 1])
    for candidate in candidates:
        try:
            found = _from_json(json.loads(candidate))
        except json.JSONDecodeError:
            continue
        if found:
            return found
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    if lines and all(line.startswith("{") for line in lines):  # one JSON object per line
        out = []
        for line in lines:
            try:
                found = _from_json(json.loads(line))
            except json.JSONDecodeError:
                return None
            out.extend(found or [])
        return out or None
    return None


def _from_lines(text: str) -> tuple[list[tuple[bool | None, str]], str]:
    """Documents with their labels (None: unlabelled) and the shape: sections, labelled or unlabelled."""
    docs: list[list] = []  # [label, text]
    section: bool | None = None
    current: list | None = None
    headings = labels = False
    for raw in _FENCE.sub("", text).splitlines():
        line = raw.strip()
        if not line:
            current = None
            continue
        heading = _HEADING.match(line)
        if heading:
            section = heading.group("neg") is None
            headings = True
            current = None
            continue
        item = _LABELLED.match(line)
        if item:
            labels = True
            current = [item.group("neg") is None, _clean(item.group("body"))]
            docs.append(current)
            continue
        marker = _ITEM.match(line)
        body = _clean(marker.group("body")) if marker else _clean(line)
        if current is not None and not current[1]:  # "Relevant document 1:" alone, its text on the next line
            current[1] = body
            continue
        current = [section, body]
        docs.append(current)
    shape = "sections" if headings else "labelled" if labels else "unlabelled"
    return [(label, body) for label, body in docs if body], shape


def parse_documents(text: str, min_per_label: int = 1, max_per_label: int = 3, min_words: int = 20) -> ParsedAnswer:
    """The relevant and non-relevant documents of an answer; raises ``ParseError`` when there are too few."""
    found = _try_json(text)
    shape = "json"
    if found is None:
        found, shape = _from_lines(text)
    docs = [(label, body) for label, body in found if len(body.split()) >= min_words]
    if shape == "unlabelled":
        if len(docs) == 2 * max_per_label:
            docs = [(i < max_per_label, body) for i, (_, body) in enumerate(docs)]
            shape = "positional"
        else:
            raise ParseError(f"no relevant/irrelevant labels, and {len(docs)} documents of >= {min_words} words "
                             f"where an unlabelled answer needs exactly {2 * max_per_label}", "no-labels")
    relevant, nonrelevant = [], []
    for label, body in docs:
        target = relevant if label else nonrelevant if label is False else None
        if target is not None and body not in relevant and body not in nonrelevant:
            target.append(body)
    if len(relevant) < min_per_label or len(nonrelevant) < min_per_label:
        raise ParseError(f"{len(relevant)} relevant and {len(nonrelevant)} non-relevant documents of >= {min_words} "
                         f"words ({shape}); need at least {min_per_label} of each", "too-few")
    return ParsedAnswer(tuple(relevant[:max_per_label]), tuple(nonrelevant[:max_per_label]), shape)
