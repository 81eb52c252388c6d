"""Readers for the hub layouts of InfoSearch, NevIR and IFIR (or a local copy laid out the same way).

- InfoSearch (``jianqunZ/<Dimension>-v1``): configs ``corpus`` (``_id``, ``title``, ``text``), ``queries``
  (``_id``, ``text``, ``instruction_og``, ``instruction_changed``, ``instruction_reversed``) and ``qrels_og``,
  ``qrels_changed``, ``qrels_reversed`` (``query-id``, ``corpus-id``, ``score``; split ``test``), as
  EIT-NLP/InfoSearch ``mteb_infosearch/mteb/abstasks/AbsTaskInstructionRetrieval.py`` loads them. There is no
  candidate list: every query ranks the whole corpus, and only queries with og judgements are kept (line 126).
- NevIR (``orionweller/NevIR-mteb``): MTEB's retrieval layout, configs ``corpus``, ``queries`` (ids
  ``<pair>_q1``/``<pair>_q2``), ``default`` (or ``qrels``) and ``top_ranked`` (``query-id``, ``corpus-ids``: the
  pair's two documents).
- IFIR (``songtingyu/IFIR``): one folder per domain with ``<domain>-corpus.jsonl`` (``_id``, ``title``,
  ``text``) and ``test_data.json``, a JSON list of queries ``{"_id", "text", "corpus": [{"_id"}...],
  "instructions": [{"instruction", "level", "rel": [indices into corpus]}]}`` (SighingSnow/IFIR
  ``src/eval.py`` lines 27-36). Every query ranks the whole domain corpus, as the reference searches it.

Every bad row raises a ``DataFormatError`` naming the file, the line (or JSON entry) and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from followir.data.configs import config_files
from followir.data.field import IFIR_MODES, INFOSEARCH_MODES, NEVIR_MODES, FieldQuery, FieldTask
from followir.data.tables import check_id, parse_relevance, read_rows, require
from followir.errors import DataFormatError
from followir.records import Document


def _corpus(paths: list[Path]) -> dict[str, Document]:
    corpus: dict[str, Document] = {}
    where: dict[str, str] = {}
    for path in paths:
        for line, row in read_rows(path):
            doc_id = check_id(require(row, "_id" if "_id" in row or "id" not in row else "id", path, line),
                              path, line, "document id")
            if doc_id in corpus:
                raise DataFormatError(path, line, f"duplicate document id {doc_id!r} (first at {where[doc_id]})",
                                      "give every document a unique id")
            text = require(row, "text", path, line, allow_empty=True)
            if not text.strip():
                raise DataFormatError(path, line, f"document {doc_id!r} has empty text",
                                      "remove the row or give the document its text")
            corpus[doc_id] = Document(doc_id, text, str(row.get("title") or ""))
            where[doc_id] = f"{path}:{line}"
    if not corpus:
        raise DataFormatError(paths[0] if paths else "corpus", None, "the corpus holds no document",
                              "give the corpus file one JSON object per document")
    return corpus


def _qrels(paths: list[Path], known: set[str] | None = None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for path in paths:
        for line, row in read_rows(path):
            qid = require(row, "query-id", path, line)
            doc = check_id(require(row, "corpus-id", path, line), path, line, "document id")
            if "score" not in row:
                raise DataFormatError(path, line, "missing field 'score'", "add the relevance grade as 'score'")
            if known is not None and qid not in known:
                raise DataFormatError(path, line, f"qrels name unknown query {qid!r}",
                                      "remove these judgements or add the query to the queries config")
            judged = out.setdefault(qid, {})
            if doc in judged:
                raise DataFormatError(path, line, f"document {doc!r} judged twice for query {qid!r}",
                                      "keep one judgement per (query, document)")
            judged[doc] = parse_relevance(row["score"], path, line)
    return out


def read_infosearch(root: str | Path, name: str, main_metric: str, source: str = "",
                    revision: str | None = None) -> FieldTask:
    root = Path(root)
    corpus = _corpus(config_files(root, "corpus"))
    queries: dict[str, FieldQuery] = {}
    for path in config_files(root, "queries"):
        for line, row in read_rows(path):
            qid = check_id(require(row, "_id" if "_id" in row or "id" not in row else "id", path, line),
                           path, line, "query id")
            if qid in queries:
                raise DataFormatError(path, line, f"duplicate query id {qid!r}", "give every query one row")
            queries[qid] = FieldQuery(qid, require(row, "text", path, line), {
                mode: require(row, field, path, line) for mode, field in
                zip(INFOSEARCH_MODES, ("instruction_og", "instruction_changed", "instruction_reversed"))})
    known = set(queries)
    qrels = {mode: _qrels(config_files(root, f"qrels_{suffix}", prefer_split="test"), known)
             for mode, suffix in zip(INFOSEARCH_MODES, ("og", "changed", "reversed"))}
    kept = tuple(q for q in queries.values() if q.id in qrels["ori"])  # the reference drops queries without og qrels
    if not kept:
        raise DataFormatError(root, None, "no query has og judgements (qrels_og)",
                              "add the og qrels of the queries (config qrels_og, split test)")
    every = tuple(corpus)
    return FieldTask(name, "infosearch", INFOSEARCH_MODES, kept, corpus, qrels, {q.id: every for q in kept},
                     main_metric, source, revision, {"layout": "infosearch"})


def read_nevir(root: str | Path, name: str, main_metric: str, source: str = "",
               revision: str | None = None) -> FieldTask:
    from followir.metrics.paired_accuracy import pairs_of

    root = Path(root)
    corpus = _corpus(config_files(root, "corpus"))
    queries: dict[str, FieldQuery] = {}
    where: dict[str, tuple[Path, int]] = {}
    for path in config_files(root, "queries", prefer_split="test"):
        for line, row in read_rows(path):
            qid = check_id(require(row, "_id" if "_id" in row or "id" not in row else "id", path, line),
                           path, line, "query id")
            if qid in queries:
                raise DataFormatError(path, line, f"duplicate query id {qid!r}", "give every query one row")
            queries[qid] = FieldQuery(qid, require(row, "text", path, line), {"query": ""})
            where[qid] = (path, line)
    try:
        pairs_of(queries)
    except ValueError as e:
        first = next(iter(where.values()))
        raise DataFormatError(first[0], None, str(e), "NevIR queries come in pairs '<key>_q1', '<key>_q2'") from None
    qrels_paths = config_files(root, "default", required=False, prefer_split="test") or \
        config_files(root, "qrels", prefer_split="test")
    qrels = _qrels(qrels_paths, set(queries))
    candidates: dict[str, list[str]] = {}
    for path in config_files(root, "top_ranked", prefer_split="test"):
        for line, row in read_rows(path):
            qid = require(row, "query-id", path, line)
            if qid not in queries:
                raise DataFormatError(path, line, f"top_ranked names unknown query {qid!r}",
                                      "remove the row or add the query to the queries config")
            ids = row.get("corpus-ids")
            if not isinstance(ids, (list, tuple)):
                raise DataFormatError(path, line, f"corpus-ids is {type(ids).__name__}, not a list",
                                      "give the pair's documents as a list of corpus ids")
            for doc in ids:
                if str(doc) not in corpus:
                    raise DataFormatError(path, line, f"candidate {doc!r} is not in the corpus",
                                          "add the document to the corpus or remove it from top_ranked")
            candidates.setdefault(qid, []).extend(str(d) for d in ids)
    for qid, (path, line) in where.items():
        if not any(r > 0 for r in qrels.get(qid, {}).values()):
            raise DataFormatError(path, line, f"query {qid!r} has no relevant document in the qrels",
                                  "judge the query's own document relevant (score 1)")
        if qid not in candidates:
            raise DataFormatError(path, line, f"query {qid!r} has no candidates in top_ranked",
                                  "add a top_ranked row with the pair's two documents")
    return FieldTask(name, "nevir", NEVIR_MODES, tuple(queries.values()), corpus, {"query": qrels},
                     {q: tuple(dict.fromkeys(c)) for q, c in candidates.items()}, main_metric, source, revision,
                     {"layout": "nevir"})


def ifir_domain_folder(root: str | Path, domain: str | None) -> tuple[Path, str]:
    """The folder of one IFIR domain: ``root/<domain>``, or ``root`` itself when it holds ``test_data.json``."""
    root = Path(root)
    if (root / "test_data.json").is_file():
        return root, domain or root.resolve().name
    if domain and (root / domain / "test_data.json").is_file():
        return root / domain, domain
    inside = f" in {domain}/" if domain else ""
    raise DataFormatError(root, None, f"no IFIR domain folder here (no test_data.json{inside})",
                          "pass a domain folder of songtingyu/IFIR (e.g. fiqa/ with fiqa-corpus.jsonl and "
                          "test_data.json)")


def read_ifir(root: str | Path, name: str, main_metric: str, domain: str | None = None, source: str = "",
              revision: str | None = None) -> FieldTask:
    folder, domain = ifir_domain_folder(root, domain)
    corpus_path = folder / f"{domain}-corpus.jsonl"
    if not corpus_path.is_file():
        raise DataFormatError(folder, None, f"no {corpus_path.name}", f"add {corpus_path.name} (_id, title, text)")
    corpus = _corpus([corpus_path])
    data_path = folder / "test_data.json"
    try:
        entries = json.loads(data_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(data_path, e.lineno, f"invalid JSON ({e.msg})",
                              "test_data.json is one JSON list of queries") from None
    if not isinstance(entries, list) or not entries:
        raise DataFormatError(data_path, None, "not a non-empty JSON list", "test_data.json is a list of queries")
    queries: list[FieldQuery] = []
    qrels: dict[str, dict[str, dict[str, int]]] = {"instruction": {}, "none": {}}
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"{data_path} entry {number}"
        if not isinstance(entry, dict):
            raise DataFormatError(where, None, f"a {type(entry).__name__}, not an object",
                                  "give every query as {_id, text, corpus, instructions}")
        qid = check_id(require(entry, "_id", where, None), where, None, "query id")
        if qid in seen:
            raise DataFormatError(where, None, f"duplicate query id {qid!r}", "give every query one entry")
        seen.add(qid)
        text = require(entry, "text", where, None)
        pool = entry.get("corpus")
        instructions = entry.get("instructions")
        if not isinstance(pool, list) or not isinstance(instructions, list) or not instructions:
            raise DataFormatError(where, None, "'corpus' and 'instructions' must be non-empty lists",
                                  "give the query its corpus list and its instructions")
        pool_ids = [str(c.get("_id")) if isinstance(c, dict) else str(c) for c in pool]
        queries.append(FieldQuery(qid, text, {"none": ""}))
        for k, inst in enumerate(instructions, start=1):
            at = f"{where} instruction {k}"
            if not isinstance(inst, dict) or not isinstance(inst.get("rel"), list):
                raise DataFormatError(at, None, "not an object with a 'rel' list",
                                      "give every instruction {instruction, level, rel}")
            try:
                level = int(inst.get("level", 0))
                rel = [pool_ids[int(i)] for i in inst["rel"]]
            except (TypeError, ValueError, IndexError):
                raise DataFormatError(at, None, f"level {inst.get('level')!r} or rel {inst['rel']!r} is not valid "
                                      f"(rel indexes the query's corpus list of {len(pool_ids)})",
                                      "give an integer level and indices into 'corpus'") from None
            missing = [d for d in rel if d not in corpus]
            if missing:
                raise DataFormatError(at, None, f"relevant documents {missing[:3]} are not in {corpus_path.name}",
                                      "add them to the corpus file")
            iid = f"{qid}.{k}"
            queries.append(FieldQuery(iid, text, {"instruction": require(inst, "instruction", at, None)},
                                      base=qid, level=level))
            qrels["instruction"][iid] = {d: 1 for d in rel}
    every = tuple(corpus)
    return FieldTask(name, "ifir", IFIR_MODES, tuple(queries), corpus, qrels, {q.id: every for q in queries},
                     main_metric, source, revision, {"layout": "ifir", "domain": domain})
