"""Step 4: candidates per topic, as the paper built them.

Every document is chunked (:mod:`.chunking`); each model of the pool ranks the passages for the topic's query
under the og narrative (BM25 over the passages through followir's bm25s index, embedding models through
followir's ``Searcher``: exact, or HNSW with ``approximate``; their encoders, caches and any distributed path
they have are the ones ``followir`` uses everywhere); a document scores its best passage (MaxP, Dai and Callan
2019). The candidates of a topic are all its judged-relevant documents plus the best others of the pool, up to
``depth`` in all.

How the pool was combined the paper does not say ("a pool of five models to select the top non-relevant
documents"). The default here is TREC depth pooling, round-robin: every model's first document, then every
model's second, and so on, skipping documents already taken, until the list is full (each model contributes
equally; no score scales are compared). ``fusion="rrf"`` uses reciprocal rank fusion (k = 60) instead.

Resumable: passages are written once; each model's passage run is written to ``pool/<model>.trec`` when it is
done, stamped (``pool/<model>.trec.json``) with what it depends on: the passages, the pool's queries, the passage
depth and approximate search. A rerun reads back every run whose stamp still matches, so changing ``depth`` or
``fusion`` only picks the candidates again, and adding a model searches with that model alone. Model names and the
collection are checked before anything is deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

from followir.atomic import write_json
from followir.construction.chunking import ChunkSettings, PassageTexts, document_of, iter_passages, write_passages
from followir.construction.collections import iter_documents
from followir.construction.topics import load_og_qrels, load_topics
from followir.construction.workfiles import CANDIDATES, POOL, write_rows
from followir.records import Document, Run, rank_documents

log = logging.getLogger(__name__)

FUSIONS = ("round-robin", "rrf")
POOL_QUERIES = ("og", "none")
RRF_K = 60


@dataclass(frozen=True)
class PoolSettings:
    chunk: ChunkSettings = ChunkSettings()
    depth: int = 1000            # candidates per topic
    passage_depth: int = 3000    # passages each model retrieves per topic, before MaxP
    fusion: str = "round-robin"
    instruction: str = "og"      # the pool's query: title + og narrative, or the title alone

    def __post_init__(self):
        if self.depth < 1 or self.passage_depth < 1:
            raise ValueError(f"depth={self.depth}, passage_depth={self.passage_depth}: both must be at least 1")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion={self.fusion!r}: use one of {', '.join(FUSIONS)}")
        if self.instruction not in POOL_QUERIES:
            raise ValueError(f"pool instruction {self.instruction!r}: use one of {', '.join(POOL_QUERIES)}")


def maxp(run: Mapping[str, float]) -> dict[str, tuple[float, str]]:
    """Per document, its best passage score and that passage (MaxP).

    >>> maxp({"d1#0": 1.0, "d1#1": 3.0, "d2#0": 2.0})
    {'d1': (3.0, 'd1#1'), 'd2': (2.0, 'd2#0')}
    """
    best: dict[str, tuple[float, str]] = {}
    for passage, score in run.items():
        doc = document_of(passage)
        if doc not in best or score > best[doc][0] or (score == best[doc][0] and passage < best[doc][1]):
            best[doc] = (score, passage)
    return best


def fuse(rankings: Sequence[Sequence[str]], fusion: str = "round-robin") -> list[str]:
    """One ranking from several (best first, each document once).

    >>> fuse([["a", "b", "c"], ["d", "a", "e"]])
    ['a', 'd', 'b', 'c', 'e']
    >>> fuse([["a", "b", "c"], ["d", "a", "e"]], "rrf")
    ['a', 'd', 'b', 'c', 'e']
    """
    if fusion == "rrf":
        scores: dict[str, float] = {}
        for ranking in rankings:
            for rank, doc in enumerate(ranking, 1):
                scores[doc] = scores.get(doc, 0.0) + 1.0 / (RRF_K + rank)
        return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
    out, seen = [], set()
    for rank in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking) and ranking[rank] not in seen:
                seen.add(ranking[rank])
                out.append(ranking[rank])
    return out


def select_candidates(relevant: Sequence[str], pooled: Sequence[str], depth: int) -> list[str]:
    """All ``relevant`` documents, then pooled others in order, ``depth`` in all (more if relevant alone are more).

    >>> select_candidates(["r1", "r2"], ["x", "r1", "y", "z"], 4)
    ['r1', 'r2', 'x', 'y']
    """
    chosen = list(dict.fromkeys(relevant))
    taken = set(chosen)
    for doc in pooled:
        if len(chosen) >= depth:
            break
        if doc not in taken:
            taken.add(doc)
            chosen.append(doc)
    return chosen


def _passage_run(model, passages: Path, count: int, queries: Mapping[str, tuple[str, str]], k: int,
                 approximate, progress) -> Run:
    from followir.models.bm25 import BM25
    from followir.retrieval import Searcher, SearchRequest

    requests = [SearchRequest(q, text, instruction) for q, (text, instruction) in queries.items()]
    if isinstance(model, BM25):
        # bm25s over the passages, read from disk in one pass: no list of texts is held
        from followir.models.templates import get_template
        from followir.retrieval.lexical import LexicalIndex

        template = get_template("plain")
        ids = [row["id"] for row in iter_passages(passages)]
        index = LexicalIndex(ids, PassageTexts(passages, count, template.render_passage), k1=model.k1, b=model.b,
                             analyzer=model.analyzer, progress=progress)
        return index.search({r.query_id: template.render_query(r.query, r.instruction) for r in requests}, k,
                            name=model.name)
    corpus = {row["id"]: Document(row["id"], row["text"], row["title"]) for row in iter_passages(passages)}
    searcher = Searcher(model, corpus, approximate=approximate, progress=progress)
    return searcher.search(requests, k)


def check_models(models: Sequence[str]) -> dict[str, str]:
    """model -> its family, for every model of the pool; raises (naming the fix) on an unknown name or a model that
    cannot search a collection. Run before anything is deleted or written."""
    from followir.models.registry import resolve
    from followir.retrieval.searcher import SEARCHING_FAMILIES, cannot_search

    if not models:
        raise ValueError("the pool needs at least one retrieval model (e.g. bm25)")
    families = {}
    for name in models:
        spec = resolve(name)
        if spec.family not in SEARCHING_FAMILIES:
            raise ValueError(cannot_search(name, spec.family))
        families[name] = spec.family
    return families


def run_stamp(model: str, family: str | None, passages: Mapping, queries: Mapping[str, tuple[str, str]],
              settings: PoolSettings, approximate) -> dict:
    """What a model's passage run depends on (``pool/<model>.trec.json``): the passages (collection, chunk sizes),
    the pool's queries (topics, their text, og narrative or none) and passage depth, and for embedding models the
    approximate-search settings. Candidates per topic and fusion are not in it: they only pick from the runs."""
    text = json.dumps(sorted((q, list(v)) for q, v in queries.items()), ensure_ascii=False)
    stamp = {"model": model, "passages": dict(passages), "passage_depth": settings.passage_depth,
             "pool_query": settings.instruction, "topics": list(queries),
             "queries": hashlib.sha256(text.encode()).hexdigest(),
             "approximate": None if family == "bm25" or not approximate else asdict(approximate)}
    return json.loads(json.dumps(stamp))  # as it reads back from the file


def run_candidates(work: str | Path, collection: str | Path, models: Sequence[str], *,
                   settings: PoolSettings = PoolSettings(), approximate=None, load=None,
                   progress=None, check=check_models) -> dict[str, list[str]]:
    """Write ``pool/`` (passages, one passage run per model) and ``candidates.jsonl``; returns topic -> docs.

    The model names (``check``, unless ``None``) and the collection are checked first, so a mistyped one deletes
    nothing. A saved passage run is kept while what it depends on (:func:`run_stamp`) is unchanged."""
    from followir.construction.collections import check_collection
    from followir.data.trec import read_run, write_run

    if not models:
        raise ValueError("the pool needs at least one retrieval model (e.g. bm25)")
    families = check(models) if check is not None else {}
    work = Path(work)
    topics = load_topics(work)
    qrels = load_og_qrels(work)
    recorded = {"collection": str(collection), "chunk": asdict(settings.chunk)}
    pool = work / POOL
    passages = pool / "passages.jsonl"
    stamp = pool / "passages.json"
    fresh = passages.exists() and stamp.exists() and json.loads(stamp.read_text())["settings"] == recorded
    if not fresh:
        check_collection(collection)  # before the passages and runs made from the last one go
    pool.mkdir(parents=True, exist_ok=True)
    if not fresh:
        # the stamp and the passage runs go first, the stamp comes back last: a run killed in between leaves no
        # stamp, so the next one chunks again instead of pairing new passages with old runs (or the reverse)
        stamp.unlink(missing_ok=True)
        for old in [*pool.glob("*.trec.json"), *pool.glob("*.trec")]:
            old.unlink()
        docs, count = write_passages(iter_documents(collection), passages, settings.chunk)
        write_json(stamp, {"settings": recorded, "documents": docs, "passages": count})
    count = json.loads(stamp.read_text())["passages"]
    queries = {t.number: (t.title, t.narrative if settings.instruction == "og" else "") for t in topics}
    run_settings = {**asdict(settings), "models": list(models), "topics": list(queries),
                    "approximate": asdict(approximate) if approximate else None}
    settings_file = pool / "pool.json"  # the last run's settings, for the record; each run has its own stamp
    write_json(settings_file, run_settings)
    load = load or _load_model
    rankings: dict[str, list[list[str]]] = {t: [] for t in queries}
    best_passage: dict[tuple[str, str], tuple[int, int, str]] = {}  # (topic, doc) -> (rank, model order, passage)
    for order, name in enumerate(models):
        path = pool / f"{file_name(name)}.trec"
        run_file = pool / f"{file_name(name)}.trec.json"
        wanted = run_stamp(name, families.get(name), recorded, queries, settings, approximate)
        if path.exists() and run_file.exists() and json.loads(run_file.read_text()) == wanted:
            log.info("pool: %s's passage run is read back from %s", name, path)
            run = read_run(path)
        else:
            if path.exists():
                log.warning("pool: %s's passage run was made with other settings (or is unstamped); searched again",
                            name)
            run_file.unlink(missing_ok=True)  # the stamp goes first and comes back last
            path.unlink(missing_ok=True)
            model = load(name)
            run = _passage_run(model, passages, count, queries, settings.passage_depth, approximate,
                               progress(f"pool: {name}") if progress else None)
            write_run(run, path, tag=file_name(name))
            write_json(run_file, wanted)
        for topic in queries:
            docs = maxp(run.scores.get(topic, {}))
            ranking = rank_documents({d: s for d, (s, _) in docs.items()})
            rankings[topic].append(ranking)
            for rank, doc in enumerate(ranking):
                key = (topic, doc)
                if key not in best_passage or (rank, order) < best_passage[key][:2]:
                    best_passage[key] = (rank, order, docs[doc][1])
    in_collection = {row["doc"] for row in iter_passages(passages) if row["i"] == 0}
    out: dict[str, list[str]] = {}
    rows = []
    for topic in queries:
        relevant = [d for d in sorted(qrels.relevant(topic)) if d in in_collection]
        out[topic] = select_candidates(relevant, fuse(rankings[topic], settings.fusion), settings.depth)
        for rank, doc in enumerate(out[topic], 1):
            found = best_passage.get((topic, doc))
            rows.append({"topic": topic, "doc": doc, "rank": rank,
                         "passage": found[2] if found else f"{doc}#0", "pooled": found is not None})
    write_rows(work / CANDIDATES, rows)
    return out


def file_name(model: str) -> str:
    """A model name as a file name: ``bm25`` stays, ``org/model`` becomes ``org_model``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model"


def _load_model(name: str):
    from followir.models.registry import load_model

    return load_model(name)
