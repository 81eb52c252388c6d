"""Step 1: (query, instruction) pairs from TREC topic files, jsonl/parquet files or hub datasets.

- TREC topic files: the ``<title>`` is the query (``query_field='description'`` uses ``<desc>``) and the
  ``<narr>`` the instruction; the pair id is ``<file label>:<topic number>`` (``robust04:301``), the topic is the
  number. A directory stands for every TREC topic file and jsonl/parquet file in it.
- jsonl/parquet rows (local files, or ``hf:owner/name[@revision]``): ``query``, ``instruction`` (or
  ``narrative``), ``id`` (or ``_id``; default: ``<file>:<line>``), optional ``topic`` (default: the id).
- Evaluation topics are excluded by topic id: ``exclude=["followir"]`` (or ``robust04``, ``news21``,
  ``core17``) uses FollowIR's topic numbers, shipped with the package and joined with the task's own query
  ids when its dataset is in the local hub cache; any other task name or folder (``followir-mini``, a
  local dataset, ``hf:...``) contributes its query ids.
- Pairs with an empty narrative or query are dropped, then duplicates (same query and instruction up to case
  and spacing; the first is kept). Every count is reported.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from followir.data.tables import read_rows
from followir.data.trec import read_topics
from followir.errors import DataFormatError, FollowIRError
from followir.training.files import write_jsonl, write_manifest

log = logging.getLogger(__name__)

FOLLOWIR_TASKS = ("robust04", "news21", "core17")
TABLE_SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class NarrativePair:
    id: str
    topic: str
    query: str
    instruction: str
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=None)
def followir_topic_ids() -> dict[str, frozenset[str]]:
    """FollowIR's topic numbers per task, shipped with the package (``followir_topics.yaml``)."""
    text = (resources.files("followir.training") / "followir_topics.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if set(raw) != set(FOLLOWIR_TASKS):
        raise ValueError(f"followir_topics.yaml must list exactly {FOLLOWIR_TASKS}, found {sorted(raw)}")
    return {task: frozenset(str(n) for n in ids) for task, ids in raw.items()}


def _cached_task_ids(task: str) -> set[str] | None:
    """Topic ids from the task's hub dataset when it is in the local hub cache (never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        from followir.data.catalog import TASKS
        from followir.data.configs import config_files

        dataset = TASKS[task].dataset("original")
        folder = snapshot_download(repo_id=dataset.repo_id, repo_type="dataset", revision=dataset.revision,
                                   local_files_only=True, allow_patterns=["README.md", "queries.jsonl", "queries/*"])
        ids = set()
        for path in config_files(folder, "queries"):
            for _, row in read_rows(path):
                ids.add(re.sub(r"-(og|changed)$", "", str(row.get("_id", row.get("id", "")))))
        return ids - {""} or None
    except Exception as e:  # not cached, or cached partially: the packaged list covers it
        log.debug("task %s is not in the local hub cache (%s); using the packaged topic ids", task, e)
        return None


def exclusion_ids(names: Sequence[str]) -> dict[str, dict]:
    """For each evaluation task named, the topic ids to exclude and where they came from."""
    from followir.data.catalog import GROUPS

    out: dict[str, dict] = {}
    for name in names:
        if name.lower() == "none":  # an explicit "exclude nothing" (the pipeline excludes followir by default)
            continue
        for task in GROUPS.get(name, (name,)):
            if task in FOLLOWIR_TASKS:
                ids = set(followir_topic_ids()[task])
                origin = "package list (followir_topics.yaml)"
                cached = _cached_task_ids(task)
                if cached is not None:
                    ids |= cached
                    origin += " + local hub cache"
            else:
                from followir.data.loading import load_task

                try:
                    loaded = load_task(task)
                except FollowIRError as e:
                    raise FollowIRError(f"cannot read the topics of evaluation task {task!r} to exclude them: {e}. "
                                        f"Fix: name robust04/news21/core17/followir, a local task folder, or give "
                                        f"the ids with --exclude-id / --exclude-ids-file") from None
                ids = {q.id for q in loaded.queries}
                origin = f"task {loaded.source or task}"
            out[task] = {"ids": sorted(ids), "origin": origin}
    return out


def read_ids_file(path: str | Path) -> list[str]:
    """Topic ids, one per line (blank lines and ``#`` comments ignored)."""
    ids = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(line)
    return ids


# -- reading sources -------------------------------------------------------------------------------------

def _label(path: Path) -> str:
    name = path.name
    for suffix in (".txt", ".xml", ".jsonl", ".json", ".parquet"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name[len("topics."):] if name.startswith("topics.") else name


def _is_topic_file(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(1 << 16).lower()
    except OSError:
        return False
    return "<top>" in head or "<topic" in head  # SGML <top> blocks or XML <topic number=...> elements


def _read_topic_file(path: Path, query_field: str) -> list[NarrativePair]:
    label = _label(path)
    out = []
    for topic in read_topics(path):
        query = topic.title if query_field == "title" else topic.description
        out.append(NarrativePair(f"{label}:{topic.number}", topic.number, query, topic.narrative, str(path)))
    return out


def _first(row: dict, keys: Sequence[str]) -> object:
    for key in keys:
        if row.get(key) is not None:
            return row[key]
    return None


def _read_table(path: Path, source: str | None = None) -> list[NarrativePair]:
    out = []
    for line, row in read_rows(path):
        query, instruction = _first(row, ("query",)), _first(row, ("instruction", "narrative"))
        if query is None or instruction is None:
            raise DataFormatError(path, line, f"row lacks 'query' or 'instruction' (fields: {sorted(row)})",
                                  "give every row 'query', 'instruction' and 'id' fields")
        pair_id = _first(row, ("id", "_id"))
        pair_id = str(pair_id) if pair_id is not None else f"{_label(path)}:{line}"
        topic = _first(row, ("topic",))
        out.append(NarrativePair(pair_id, str(topic) if topic is not None else pair_id, str(query),
                                 str(instruction), source or str(path)))
    return out


def read_source(spec: str, query_field: str = "title") -> list[NarrativePair]:
    """Pairs from one source: a TREC topic file, a jsonl/parquet file, a directory of them, or ``hf:id``."""
    if query_field not in ("title", "description"):
        raise ValueError(f"query_field={query_field!r}: use 'title' or 'description'")
    if spec.startswith("hf:"):
        from followir.data.hub import fetch_dataset

        repo_id, _, revision = spec[3:].partition("@")
        folder = fetch_dataset(repo_id, revision or None)
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in TABLE_SUFFIXES and p.is_file())
        pairs = [pair for f in files for pair in _read_table(f, source=spec)]
        if not pairs:
            raise DataFormatError(spec, None, "no jsonl/parquet rows with query and instruction fields",
                                  "use a dataset whose rows have 'query', 'instruction' and 'id' fields")
        return pairs
    path = Path(spec)
    if path.is_dir():
        pairs = []
        for f in sorted(p for p in path.iterdir() if p.is_file()):
            if f.suffix.lower() in TABLE_SUFFIXES:
                pairs.extend(_read_table(f))
            elif _is_topic_file(f):
                pairs.extend(_read_topic_file(f, query_field))
        if not pairs:
            raise DataFormatError(path, None, "no TREC topic files or jsonl/parquet files in this folder",
                                  "point at topic files (<top> blocks) or jsonl rows with query/instruction/id")
        return pairs
    if not path.exists():
        raise DataFormatError(path, None, "no such file or folder",
                              "give a TREC topic file, a jsonl/parquet file, a folder, or hf:owner/name")
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _read_table(path)
    return _read_topic_file(path, query_field)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def select_pairs(pairs: Iterable[NarrativePair], excluded: Iterable[str] = ()) -> tuple[list[NarrativePair], dict]:
    """Drop excluded topics, empty narratives or queries, then duplicates; returns the pairs and the counts."""
    excluded = set(excluded)
    counts = Counter()
    seen_text: set[tuple[str, str]] = set()
    seen_ids: Counter = Counter()
    kept = []
    for pair in pairs:
        counts["read"] += 1
        if pair.topic in excluded:
            counts["excluded"] += 1
            continue
        if not pair.instruction.strip():
            counts["empty_narrative"] += 1
            continue
        if not pair.query.strip():
            counts["empty_query"] += 1
            continue
        key = (_norm(pair.query), _norm(pair.instruction))
        if key in seen_text:
            counts["duplicates"] += 1
            continue
        seen_text.add(key)
        seen_ids[pair.id] += 1
        if seen_ids[pair.id] > 1:  # same id, different text: keep both under distinct ids
            pair = NarrativePair(f"{pair.id}#{seen_ids[pair.id]}", pair.topic, pair.query, pair.instruction,
                                 pair.source)
        kept.append(pair)
    counts["kept"] = len(kept)
    order = ("read", "excluded", "empty_narrative", "empty_query", "duplicates", "kept")
    return kept, {k: counts.get(k, 0) for k in order}


def build_narratives(sources: Sequence[str], output: str | Path, exclude: Sequence[str] = (),
                     exclude_ids: Iterable[str] = (), query_field: str = "title", limit: int | None = None) -> dict:
    """Read, exclude, clean and write ``narratives.jsonl`` (+ its manifest); returns the manifest.

    ``limit`` keeps only the first pairs (in source order) after the others are dropped: a small first run.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit={limit}: keep at least one narrative, or pass no limit")
    if not sources:
        raise ValueError("no narrative sources given: pass TREC topic files, jsonl files, folders or hf: ids")
    pairs: list[NarrativePair] = []
    per_source = {}
    for spec in sources:
        found = read_source(spec, query_field)
        per_source[spec] = len(found)
        pairs.extend(found)
    excluded_by_task = exclusion_ids(exclude)
    excluded = set(exclude_ids)
    for entry in excluded_by_task.values():
        excluded |= set(entry["ids"])
    kept, counts = select_pairs(pairs, excluded)
    if limit is not None and len(kept) > limit:
        counts["beyond_limit"] = len(kept) - limit
        kept = kept[:limit]
        counts["kept"] = limit
    excluded_hits = Counter(p.topic for p in pairs if p.topic in excluded)
    counts["per_source"] = per_source
    counts["excluded_topics"] = sorted(excluded_hits, key=lambda t: (len(t), t))
    log.info("narratives: %s", {k: v for k, v in counts.items() if not isinstance(v, (dict, list))})
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(output, (p.to_dict() for p in kept))
    options = {"sources": list(sources), "exclude": list(exclude), "exclude_ids": sorted(set(exclude_ids)),
               "query_field": query_field, "limit": limit,
               "exclusion": {task: {"origin": e["origin"], "ids": len(e["ids"])} for task, e in
                             excluded_by_task.items()}}
    return write_manifest(output, "narratives", {}, options, counts)
