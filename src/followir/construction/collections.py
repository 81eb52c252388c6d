"""Document collections, streamed one document at a time (bounded memory, whatever the collection's size).

A source is one of:

- ``irds:ID``: an ``ir_datasets`` id (``irds:disks45/nocr/trec-robust-2004``), read by ir_datasets' own reader
  from the files you hold (``pip install ir-datasets`` or ``followir[build]``);
- a ``.jsonl`` (or ``.jsonl.gz``) file of ``{"_id", "text", "title"?}`` rows (``id``/``doc_id`` also accepted);
- a ``.parquet`` file with the same columns, read one row group at a time;
- a TREC SGML document file, or a folder of them (``<DOC><DOCNO>id</DOCNO> ... <TEXT>...</TEXT></DOC>``).
"""

from __future__ import annotations

import gzip
import html
import json
import re
from pathlib import Path
from typing import Iterator

from followir.errors import DataFormatError
from followir.models.runtime import require
from followir.records import Document

IRDS_PREFIX = "irds:"
_DOC = re.compile(r"<DOC>(.*?)</DOC>", re.DOTALL | re.IGNORECASE)
_DOCNO = re.compile(r"<DOCNO>\s*(.*?)\s*</DOCNO>", re.DOTALL | re.IGNORECASE)
_TEXT = re.compile(r"<(TEXT|HEADLINE|HL|HEAD|TITLE)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def iter_documents(source: str | Path) -> Iterator[Document]:
    """Every document of ``source`` in file order, one at a time."""
    text = str(source)
    if text.startswith(IRDS_PREFIX):
        yield from _ir_datasets(text[len(IRDS_PREFIX):])
        return
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DataFormatError(path, None, "the collection folder holds no files",
                                  "point at a folder of TREC SGML document files")
        for file in files:
            yield from _sgml(file)
        return
    if not path.is_file():
        raise DataFormatError(path, None, "the collection does not exist",
                              "give a .jsonl, .parquet or TREC SGML file, a folder of SGML files, or irds:ID")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        yield from _jsonl(path)
    elif name.endswith(".parquet"):
        yield from _parquet(path)
    else:
        yield from _sgml(path)


def check_collection(source: str | Path) -> None:
    """Raise, naming the fix, unless ``source`` exists, is readable and yields a first document (read before any
    step deletes or rewrites what it made from the collection)."""
    text = str(source)
    if not text.startswith(IRDS_PREFIX):
        path = Path(source)
        if not path.exists():
            raise DataFormatError(path, None, "the collection does not exist",
                                  "give a .jsonl, .parquet or TREC SGML file, a folder of SGML files, or irds:ID")
        if path.is_file():
            try:
                with open(path, "rb") as f:
                    f.read(1)
            except OSError as e:
                raise DataFormatError(path, None, f"the collection cannot be read ({e.strerror})",
                                      "make the file readable") from None
    for _ in iter_documents(source):
        return
    raise DataFormatError(source, None, "the collection holds no documents", "give a collection with documents")


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _row_document(row: dict, path: Path, line: int) -> Document:
    for key in ("_id", "id", "doc_id", "docno"):
        if key in row and str(row[key]).strip():
            doc_id = str(row[key]).strip()
            break
    else:
        raise DataFormatError(path, line, "the row has no document id", "give each row an '_id'")
    text = row.get("text")
    if text is None:
        raise DataFormatError(path, line, f"document {doc_id!r} has no 'text' field", "give each row a 'text'")
    return Document(doc_id, str(text), str(row.get("title") or ""))


def _jsonl(path: Path) -> Iterator[Document]:
    with _open_text(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(path, number, f"invalid JSON ({e.msg})", "write one JSON object per line") \
                    from None
            if not isinstance(row, dict):
                raise DataFormatError(path, number, "the line is not a JSON object", "write one object per line")
            yield _row_document(row, path, number)


def _parquet(path: Path) -> Iterator[Document]:
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(path)
    row = 0
    for group in range(reader.num_row_groups):
        for record in reader.read_row_group(group).to_pylist():
            row += 1
            yield _row_document(record, path, row)


def _clean(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def sgml_document(block: str, path: Path | str = "", line: int | None = None) -> Document:
    """One ``<DOC>`` block: its DOCNO, its headline (HEADLINE, HL, HEAD or TITLE) and its TEXT, tags removed."""
    docno = _DOCNO.search(block)
    if docno is None or not docno.group(1).strip():
        raise DataFormatError(path, line, "a <DOC> without a <DOCNO>", "give every <DOC> its <DOCNO>id</DOCNO>")
    title, body = [], []
    for tag, content in _TEXT.findall(block):
        (body if tag.upper() == "TEXT" else title).append(_clean(content))
    return Document(docno.group(1).strip(), " ".join(t for t in body if t), " ".join(t for t in title if t))


def _sgml(path: Path) -> Iterator[Document]:
    """``<DOC>`` blocks of a (possibly gzipped) SGML file, read a block at a time."""
    opener = gzip.open if path.name.lower().endswith((".gz", ".z")) and _is_gzip(path) else open
    buffer: list[str] = []
    inside, start, found = False, 0, 0
    first = ""  # the file's first non-space character
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not first and line.strip():
                first = line.strip()[0]
            upper = line.upper()
            if not inside and "<DOC>" in upper:
                inside, start, buffer = True, number, []
            if inside:
                buffer.append(line)
                if "</DOC>" in upper:
                    inside = False
                    found += 1
                    yield sgml_document("".join(buffer), path, start)
    if inside:
        raise DataFormatError(path, start, "a <DOC> that is never closed", "end every document with </DOC>")
    if not found and first in ("{", "["):
        raise DataFormatError(path, None, f"no <DOC> blocks: the file starts with {first!r}, so it looks like JSON "
                              "(lines), but only a name ending in .jsonl or .jsonl.gz is read as JSON lines",
                              f"write one {{\"_id\", \"text\", \"title\"?}} object per line and name the file "
                              f"{path.stem}.jsonl")
    if not found:
        raise DataFormatError(path, None, "no <DOC> blocks", "give TREC SGML documents: <DOC><DOCNO>..</DOC>")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _ir_datasets(dataset_id: str) -> Iterator[Document]:
    ir_datasets = require("ir_datasets", "build")
    dataset = ir_datasets.load(dataset_id)
    if not dataset.has_docs():
        raise DataFormatError(f"{IRDS_PREFIX}{dataset_id}", None, "this ir_datasets id has no documents",
                              "give the id of a dataset with documents (e.g. disks45/nocr/trec-robust-2004)")
    for doc in dataset.docs_iter():
        fields = doc._asdict()
        text = fields.get("text") or fields.get("body") or " ".join(
            str(v) for k, v in fields.items()
            if k not in ("doc_id", "title", "headline", "marked_up_doc", "source_xml") and isinstance(v, str))
        title = fields.get("title") or fields.get("headline") or ""  # NYT (Core17) documents have a headline
        yield Document(doc.doc_id, " ".join(str(text).split()), " ".join(str(title).split()))
