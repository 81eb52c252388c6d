"""Assemble a validated ``Task`` from rows, remembering where each row came from for error messages."""

from __future__ import annotations

import logging
from pathlib import Path

from followir.data.tables import check_id
from followir.errors import DataFormatError
from followir.records import Document, Qrels, Query, Task, derive_changed_documents

log = logging.getLogger(__name__)

Where = tuple[str, int | None]


class TaskBuilder:
    def __init__(self, name: str, *, source: str = "", revision: str | None = None,
                 main_metric: str = "map_cut_1000", metadata: dict | None = None):
        self.name = name
        self.source = source
        self.revision = revision
        self.main_metric = main_metric
        self.metadata = dict(metadata or {})
        self._docs: dict[str, Document] = {}
        self._doc_where: dict[str, Where] = {}
        self._queries: dict[str, Query] = {}
        self._query_where: dict[str, Where] = {}
        self._qrels: dict[str, dict[str, dict[str, int]]] = {"og": {}, "changed": {}}
        self._qrels_where: dict[str, dict[str, Where]] = {"og": {}, "changed": {}}
        self._candidates: dict[str, list[str]] = {}
        self._candidates_where: dict[str, Where] = {}
        self._changed: dict[str, set[str]] = {}
        self._changed_where: dict[str, Where] = {}

    def add_document(self, doc_id: str, text: str, title: str, path: Path | str, line: int) -> None:
        check_id(doc_id, path, line, "document id")
        if doc_id in self._docs:
            first = self._doc_where[doc_id]
            raise DataFormatError(path, line, f"duplicate document id {doc_id!r} (first at {_fmt(first)})",
                                  "give every document a unique id")
        if not text.strip():
            raise DataFormatError(path, line, f"document {doc_id!r} has empty text",
                                  "remove the row or give the document its text")
        self._docs[doc_id] = Document(doc_id, text, title or "")
        self._doc_where[doc_id] = (str(path), line)

    def add_query(self, query: Query, path: Path | str, line: int | None) -> None:
        check_id(query.id, path, line, "query id")
        if query.id in self._queries:
            first = self._query_where[query.id]
            raise DataFormatError(path, line, f"duplicate query id {query.id!r} (first at {_fmt(first)})",
                                  "give every query a unique id")
        for field, value in (("query text", query.text), ("og instruction", query.instruction_og),
                             ("changed instruction", query.instruction_changed)):
            if not value.strip():
                raise DataFormatError(path, line, f"query {query.id!r} has an empty {field}",
                                      f"give query {query.id!r} its {field}")
        self._queries[query.id] = query
        self._query_where[query.id] = (str(path), line)

    def add_judgement(self, variant: str, qid: str, doc_id: str, relevance: int,
                      path: Path | str, line: int) -> None:
        check_id(doc_id, path, line, "document id")
        per_query = self._qrels[variant].setdefault(qid, {})
        if doc_id in per_query:
            raise DataFormatError(path, line, f"document {doc_id!r} judged twice for query {qid!r}",
                                  "keep one judgement per (query, document)")
        per_query[doc_id] = relevance
        self._qrels_where[variant].setdefault(qid, (str(path), line))

    def add_candidates(self, qid: str, doc_ids: list[str], path: Path | str, line: int) -> None:
        self._candidates.setdefault(qid, []).extend(doc_ids)
        self._candidates_where.setdefault(qid, (str(path), line))

    def add_changed(self, qid: str, doc_ids: list[str], path: Path | str, line: int) -> None:
        self._changed.setdefault(qid, set()).update(doc_ids)
        self._changed_where.setdefault(qid, (str(path), line))

    def build(self) -> Task:
        if not self._queries:
            raise DataFormatError(self.source or self.name, None, "the task has no queries",
                                  "add a queries file")
        if not self._docs:
            raise DataFormatError(self.source or self.name, None, "the task has no documents",
                                  "add a corpus file")
        for variant in ("og", "changed"):
            for qid, where in self._qrels_where[variant].items():
                if qid not in self._queries:
                    raise DataFormatError(where[0], where[1], f"{variant} qrels name unknown query {qid!r}",
                                          "remove these judgements or add the query to the queries file")
        for qid, where in {**self._candidates_where, **self._changed_where}.items():
            if qid not in self._queries:
                raise DataFormatError(where[0], where[1], f"candidates name unknown query {qid!r}",
                                      "remove these rows or add the query to the queries file")
        candidates, missing = self._resolve_candidates()
        og, changed = Qrels(self._qrels["og"]), Qrels(self._qrels["changed"])
        changed_docs = derive_changed_documents(og, changed)
        for qid, docs in self._changed.items():
            changed_docs[qid] = frozenset(docs)
        queries = tuple(self._queries.values())
        return Task(name=self.name, queries=queries, corpus=self._docs, qrels_og=og, qrels_changed=changed,
                    candidates=candidates, changed_documents=changed_docs, main_metric=self.main_metric,
                    source=self.source, revision=self.revision, missing_candidates=missing,
                    metadata=self.metadata)

    def _resolve_candidates(self) -> tuple[dict[str, tuple[str, ...]], int]:
        if not self._candidates:
            log.warning("%s: no candidate lists (top_ranked); every query reranks the whole corpus of %d documents",
                        self.name, len(self._docs))
            every = tuple(self._docs)
            return {qid: every for qid in self._queries}, 0
        candidates: dict[str, tuple[str, ...]] = {}
        missing = 0
        for qid in self._queries:
            if qid not in self._candidates:
                raise DataFormatError(self.source or self.name, None, f"query {qid!r} has no candidate list",
                                      "add its rows to top_ranked")
            kept = []
            seen = set()
            for doc in self._candidates[qid]:
                if doc in seen:
                    continue
                seen.add(doc)
                if doc in self._docs:
                    kept.append(doc)
                else:
                    missing += 1
            candidates[qid] = tuple(kept)
        if missing:
            log.warning("%s: %d candidate entries point at documents missing from the corpus; they are skipped",
                        self.name, missing)
        return candidates, missing


def _fmt(where: Where) -> str:
    return where[0] if where[1] is None else f"{where[0]}:{where[1]}"
