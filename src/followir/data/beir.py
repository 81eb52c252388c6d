"""BEIR-format datasets: ``corpus.jsonl``, ``queries.jsonl`` (or ``queries.<split>.jsonl``), qrels TSV.

This is the layout of the BEIR downloads and of MTEB's copies on the hub (``mteb/scifact``, ...):

- ``corpus.jsonl``: one object per line with ``_id``, ``text`` and optionally ``title``;
- ``queries.jsonl``: ``_id`` and ``text`` (a split-specific ``queries.test.jsonl`` is used when present);
- ``qrels/test.tsv``: a header line, then ``query-id  corpus-id  score`` (tab separated).

Only the queries judged in the split's qrels are kept: they are the ones the split evaluates. Judgements of
documents missing from the corpus are counted and dropped (BEIR's own loader keeps them; they can never be
retrieved, so they only lower every model's recall alike).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from followir.data.tables import check_id, parse_relevance, read_rows, require
from followir.errors import DataFormatError, UnknownNameError
from followir.records import Document, Qrels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubBeir:
    repo_id: str
    revision: str


# Names that resolve to MTEB's BEIR copies on the hub, at the revisions MTEB's task definitions pin.
NAMED_DATASETS: dict[str, HubBeir] = {
    "scifact": HubBeir("mteb/scifact", "0228b52cf27578f30900b9e5271d331663a030d7"),
    "nfcorpus": HubBeir("mteb/nfcorpus", "ec0fa4fe99da2ff19ca1214b7966684033a58814"),
    "fiqa": HubBeir("mteb/fiqa", "27a168819829fe9bcd655c2df245fb19452e8e06"),
}


@dataclass(frozen=True)
class BeirDataset:
    """One split of a BEIR dataset: the whole corpus, the split's judged queries and their qrels."""

    name: str
    corpus: Mapping[str, Document]
    queries: Mapping[str, str]
    qrels: Qrels
    split: str = "test"
    source: str = ""
    revision: str | None = None
    dropped_judgements: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)


def dataset_key(name: str) -> str | None:
    """The BEIR dataset a name or folder stands for (``scifact``, ``nfcorpus``, ``fiqa``), if recognisable.

    >>> dataset_key("../shared/data/beir-scifact"), dataset_key("FiQA2018"), dataset_key("robust04")
    ('scifact', 'fiqa', None)
    """
    lowered = Path(name).name.lower() if name else ""
    for key in NAMED_DATASETS:
        if key in lowered:
            return key
    return None


def load_beir(name_or_path: str | Path, split: str = "test",
              cache_dir: str | Path | None = None) -> BeirDataset:
    """Read a BEIR dataset from a folder, or from the hub by name (``scifact``, ``nfcorpus``, ``fiqa``)."""
    path = Path(name_or_path)
    if path.is_dir():
        return read_beir_folder(path, split)
    spec = NAMED_DATASETS.get(str(name_or_path).lower())
    if spec is None:
        raise UnknownNameError(
            f"BEIR dataset {str(name_or_path)!r} is neither a folder nor a known name "
            f"({', '.join(sorted(NAMED_DATASETS))}). Fix: pass the folder that holds corpus.jsonl, "
            "queries.jsonl and qrels/<split>.tsv"
        )
    from followir.data.hub import fetch_dataset

    folder = fetch_dataset(spec.repo_id, spec.revision, cache_dir)
    data = read_beir_folder(folder, split, name=str(name_or_path).lower())
    return BeirDataset(data.name, data.corpus, data.queries, data.qrels, split, f"hf:{spec.repo_id}",
                       spec.revision, data.dropped_judgements)


def read_beir_folder(folder: str | Path, split: str = "test", name: str | None = None) -> BeirDataset:
    folder = Path(folder)
    corpus_path = _first_existing(folder, ["corpus.jsonl"], "the corpus")
    queries_path = _first_existing(folder, [f"queries.{split}.jsonl", "queries.jsonl"], "the queries")
    qrels_path = _first_existing(folder, [f"qrels/{split}.tsv"], f"the {split} qrels")
    corpus = _read_corpus(corpus_path)
    all_queries = _read_queries(queries_path)
    judgements, dropped = _read_qrels(qrels_path, corpus)
    missing = sorted(q for q in judgements if q not in all_queries)
    if missing:
        raise DataFormatError(qrels_path, None, f"{len(missing)} judged queries are not in "
                              f"{queries_path.name} (first: {missing[0]!r})",
                              "give every judged query a line in the queries file")
    if dropped:
        log.warning("%s: %d judgements point at documents missing from the corpus; they are dropped",
                    qrels_path, dropped)
    queries = {q: all_queries[q] for q in judgements}
    return BeirDataset(name or folder.resolve().name, corpus, queries, Qrels(judgements), split, str(folder),
                       None, dropped)


def _first_existing(folder: Path, names: list[str], what: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DataFormatError(folder, None, f"no file for {what} (looked for {', '.join(names)})",
                          "pass a BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv")


def _read_corpus(path: Path) -> dict[str, Document]:
    corpus: dict[str, Document] = {}
    for line, row in read_rows(path):
        doc_id = check_id(require(row, "_id", path, line), path, line, "document id")
        if doc_id in corpus:
            raise DataFormatError(path, line, f"document {doc_id!r} appears twice", "keep one line per _id")
        text = require(row, "text", path, line, allow_empty=True)
        title = row.get("title") or ""
        corpus[doc_id] = Document(doc_id, text, str(title))
    if not corpus:
        raise DataFormatError(path, None, "the corpus is empty", "give at least one document")
    return corpus


def _read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for line, row in read_rows(path):
        qid = check_id(require(row, "_id", path, line), path, line, "query id")
        if qid in queries:
            raise DataFormatError(path, line, f"query {qid!r} appears twice", "keep one line per _id")
        queries[qid] = require(row, "text", path, line)
    return queries


def _read_qrels(path: Path, corpus: Mapping[str, Document]) -> tuple[dict[str, dict[str, int]], int]:
    judgements: dict[str, dict[str, int]] = {}
    dropped = 0
    for line, row in read_rows(path):
        qid = require(row, "query-id", path, line)
        doc = require(row, "corpus-id", path, line)
        rel = parse_relevance(require(row, "score", path, line), path, line)
        if doc not in corpus:
            dropped += 1
            continue
        per_query = judgements.setdefault(qid, {})
        if doc in per_query:
            raise DataFormatError(path, line, f"document {doc} judged twice for query {qid}",
                                  "keep one judgement per (query, document)")
        per_query[doc] = rel
    if not judgements:
        raise DataFormatError(path, None, "no judgement points at a document of the corpus",
                              "check that the qrels belong to this corpus")
    return judgements, dropped
