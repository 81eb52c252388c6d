"""Documents to passages as the paper did: 400-word windows with a 200-word overlap (sizes are options).

Passages go to a jsonl file on disk (``{"id", "doc", "i", "title", "text"}``), written as the collection streams
by, so that the pool reads them back one at a time and memory stays bounded by what an index holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from followir.atomic import atomic_open
from followir.records import Document

PASSAGE_SEPARATOR = "#"


@dataclass(frozen=True)
class ChunkSettings:
    words: int = 400
    overlap: int = 200

    def __post_init__(self):
        if self.words < 1 or not 0 <= self.overlap < self.words:
            raise ValueError(f"passage words={self.words}, overlap={self.overlap}: need words >= 1 and "
                             "0 <= overlap < words")


def chunk_words(text: str, settings: ChunkSettings = ChunkSettings()) -> list[str]:
    """Windows of ``settings.words`` words, each starting ``words - overlap`` words after the last; the last
    window ends at the document's end. A document of at most ``words`` words is one passage, its text as it is
    (so a model's cached embedding of the whole document serves the passage too).

    >>> chunk_words("a b c d e f g", ChunkSettings(words=4, overlap=2))
    ['a b c d', 'c d e f', 'e f g']
    >>> chunk_words("a b", ChunkSettings(words=4, overlap=2))
    ['a b']
    """
    words = text.split()
    if len(words) <= settings.words:
        return [text.strip()]
    step = settings.words - settings.overlap
    out = []
    for start in range(0, len(words), step):
        out.append(" ".join(words[start:start + settings.words]))
        if start + settings.words >= len(words):
            break
    return out


def passage_id(doc_id: str, index: int) -> str:
    return f"{doc_id}{PASSAGE_SEPARATOR}{index}"


def document_of(passage: str) -> str:
    return passage.rsplit(PASSAGE_SEPARATOR, 1)[0]


def write_passages(documents: Iterable[Document], path: str | Path, settings: ChunkSettings) -> tuple[int, int]:
    """Chunk every document into ``path``; returns (documents, passages)."""
    docs = passages = 0
    with atomic_open(path) as f:
        for document in documents:
            docs += 1
            for i, text in enumerate(chunk_words(document.text, settings)):
                if not text.strip() and not document.title:
                    continue
                f.write(json.dumps({"id": passage_id(document.id, i), "doc": document.id, "i": i,
                                    "title": document.title, "text": text}, ensure_ascii=False) + "\n")
                passages += 1
    return docs, passages


def iter_passages(path: str | Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


class PassageTexts(Sequence[str]):
    """The passage texts of a passages file as a sequence read from disk on each pass (what BM25 indexes)."""

    def __init__(self, path: str | Path, count: int, render):
        self.path, self.count, self.render = Path(path), count, render

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[str]:
        for row in iter_passages(self.path):
            yield self.render(Document(row["id"], row["text"], row["title"]))

    def __getitem__(self, index):  # pragma: no cover - indexes iterate; random access is not needed
        raise TypeError("passages are read in order; iterate over them")
