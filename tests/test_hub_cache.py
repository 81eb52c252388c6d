"""The hub code path, offline, against a local cache laid out exactly as huggingface_hub lays it out.

``<cache>/datasets--<owner>--<name>/{blobs/<hash>, snapshots/<revision>/<file> -> ../../blobs/<hash>,
refs/main}``. huggingface_hub reads ``HF_HUB_OFFLINE`` and ``HF_HUB_CACHE`` into ``huggingface_hub.constants``
when it is imported, so besides the environment the tests set those constants; ``snapshot_download`` reads
them on every call, and its HTTP hook refuses every request while offline mode is on.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from followir.data import load_task
from followir.data.catalog import TASKS
from followir.errors import FollowIRError

ROBUST04 = TASKS["robust04"].original
ROBUST04_MTEB = TASKS["robust04"].mteb
NEWS21 = TASKS["news21"].original
CORE17 = TASKS["core17"].original

ORIGINAL_README = """\
---
language:
- en
task_categories:
- text-retrieval
config_names:
- corpus
dataset_info:
- config_name: qrels_og
  features:
  - name: query-id
    dtype: string
  - name: corpus-id
    dtype: string
  - name: score
    dtype: float64
configs:
- config_name: qrels_og
  data_files:
  - split: test
    path: qrels_og/test.jsonl
- config_name: qrels_changed
  data_files:
  - split: test
    path: qrels_changed/test.jsonl
- config_name: corpus
  data_files:
  - split: corpus
    path: corpus.jsonl
- config_name: queries
  data_files:
  - split: queries
    path: queries.jsonl
- config_name: top_ranked
  data_files:
  - split: top_ranked
    path: top_ranked.jsonl
license: mit
---
"""

MTEB_README = """\
---
configs:
- config_name: corpus
  data_files:
  - path: corpus/corpus-*
    split: corpus
- config_name: queries
  data_files:
  - path: queries/queries-*
    split: queries
- config_name: instruction
  data_files:
  - path: instruction/instruction-*
    split: instruction
- config_name: default
  data_files:
  - path: data/default-*
    split: test
- config_name: qrel_diff
  data_files:
  - path: qrel_diff/qrel_diff-*
    split: qrel_diff
- config_name: top_ranked
  data_files:
  - path: top_ranked/top_ranked-*
    split: top_ranked
---
"""

CORPUS = [
    {"_id": "FBIS3-1_0", "title": "", "text": "The Cali cartel exports cocaine to Europe."},
    {"_id": "FBIS3-2_0", "title": "", "text": "Police broke up a smuggling ring run by the mafia."},
    {"_id": "LA0101-3_1", "title": "", "text": "Stock markets rose on Tuesday."},
    {"_id": "LA0101-4_0", "title": "Polio", "text": "Polio cases rose in Nigeria this year."},
]
QUERIES = [
    {"_id": "301", "text": "international organized crime",
     "instruction_og": "A relevant document identifies the organization and the type of illegal activity.",
     "instruction_changed": "A relevant document identifies the organization, its activity and a country.",
     "keywords": "cartel, mafia", "short_query": "organization and activity"},
    {"_id": "302", "text": "polio outbreaks",
     "instruction_og": "Relevant documents give data on outbreaks.",
     "instruction_changed": "Relevant documents give data on outbreaks in Africa.",
     "keywords": "polio", "short_query": "outbreak data"},
]
QRELS_OG = {"301": {"FBIS3-1_0": 1, "FBIS3-2_0": 2, "LA0101-3_1": 0}, "302": {"LA0101-4_0": 1}}
QRELS_CHANGED = {"301": {"FBIS3-1_0": 1, "FBIS3-2_0": 0, "LA0101-3_1": 0}, "302": {"LA0101-4_0": 1}}
CANDIDATES = {"301": ("FBIS3-1_0", "FBIS3-2_0", "LA0101-3_1"), "302": ("LA0101-4_0", "FBIS3-1_0")}


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")


def _parquet(rows: list[dict]) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue().to_pybytes()


def _qrel_rows(qrels: dict, suffix: str = "") -> list[dict]:
    # As the hub stores them: float64 scores.
    return [{"query-id": q + suffix, "corpus-id": d, "score": float(r)} for q, docs in qrels.items()
            for d, r in docs.items()]


def original_files() -> dict[str, bytes]:
    return {
        "README.md": ORIGINAL_README.encode("utf-8"),
        "corpus.jsonl": _jsonl(CORPUS),
        "queries.jsonl": _jsonl(QUERIES),
        "qrels_og/test.jsonl": _jsonl(_qrel_rows(QRELS_OG)),
        "qrels_changed/test.jsonl": _jsonl(_qrel_rows(QRELS_CHANGED)),
        "top_ranked.jsonl": _jsonl([{"qid": q, "pid": d} for q, docs in CANDIDATES.items() for d in docs]),
    }


def mteb_files() -> dict[str, bytes]:
    variants = ("og", "changed")
    return {
        "README.md": MTEB_README.encode("utf-8"),
        "corpus/corpus-00000-of-00001.parquet": _parquet(CORPUS),
        "queries/queries-00000-of-00001.parquet": _parquet(
            [{"_id": f"{q['_id']}-{v}", "text": q["text"]} for q in QUERIES for v in variants]),
        "instruction/instruction-00000-of-00001.parquet": _parquet(
            [{"query-id": f"{q['_id']}-{v}", "instruction": q[f"instruction_{v}"]}
             for q in QUERIES for v in variants]),
        "data/default-00000-of-00001.parquet": _parquet(
            _qrel_rows(QRELS_OG, "-og") + _qrel_rows(QRELS_CHANGED, "-changed")),
        "top_ranked/top_ranked-00000-of-00001.parquet": _parquet(
            [{"query-id": f"{q}-{v}", "corpus-ids": list(docs)}
             for q, docs in CANDIDATES.items() for v in variants]),
        "qrel_diff/qrel_diff-00000-of-00001.parquet": _parquet(
            [{"query-id": "301", "corpus-ids": ["FBIS3-2_0"]}, {"query-id": "302", "corpus-ids": []}]),
    }


def add_snapshot(cache: Path, repo_id: str, revision: str, files: dict[str, bytes],
                 ref: str | None = "main") -> Path:
    """Store ``files`` as huggingface_hub does: contents in blobs/, relative links in snapshots/<rev>/."""
    owner, name = repo_id.split("/")
    storage = cache / f"datasets--{owner}--{name}"
    snapshot = storage / "snapshots" / revision
    for rel, content in files.items():
        blob = storage / "blobs" / hashlib.sha256(content).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref is not None:
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / ref).write_text(revision)  # no trailing newline, as huggingface_hub writes it
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty hub cache, selected through HF_HUB_CACHE, with HF_HUB_OFFLINE=1."""
    constants = pytest.importorskip("huggingface_hub.constants")
    cache = tmp_path / "hf-cache" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _assert_tiny_task(task) -> None:
    assert [q.id for q in task.queries] == ["301", "302"]
    assert task.query("301").instruction_changed == QUERIES[0]["instruction_changed"]
    assert set(task.corpus) == {d["_id"] for d in CORPUS}
    assert task.corpus["LA0101-4_0"].title == "Polio"
    assert task.qrels_og.to_dict() == QRELS_OG
    assert task.qrels_changed.to_dict() == QRELS_CHANGED
    assert all(type(r) is int for docs in task.qrels_og.judgements.values() for r in docs.values())
    assert dict(task.candidates) == CANDIDATES
    assert dict(task.changed_documents) == {"301": {"FBIS3-2_0"}, "302": frozenset()}


def test_robust04_from_the_offline_cache(hub_cache):
    snapshot = add_snapshot(hub_cache, ROBUST04.repo_id, ROBUST04.revision, original_files())
    storage = hub_cache / "datasets--jhu-clsp--robust04-instructions"
    assert snapshot == storage / "snapshots" / ROBUST04.revision
    task = load_task("robust04")
    assert task.name == "robust04"
    assert task.revision == ROBUST04.revision == "a5a1c4fe2bc528ac12e83f8cdf82178da85d2f1d"
    assert task.source == "hf:jhu-clsp/robust04-instructions"
    assert task.main_metric == "map_cut_1000"
    assert task.metadata["layout"] == "original"
    _assert_tiny_task(task)
    assert task.query("301").keywords == "cartel, mafia"
    assert task.query("301").short_instruction == "organization and activity"


def test_news21_main_metric_is_ndcg_at_5(hub_cache):
    add_snapshot(hub_cache, NEWS21.repo_id, NEWS21.revision, original_files())
    task = load_task("news21")
    assert task.main_metric == "ndcg_cut_5"
    assert task.source == "hf:jhu-clsp/news21-instructions"
    assert task.revision == NEWS21.revision
    _assert_tiny_task(task)


def test_robust04_mteb_layout(hub_cache):
    # Only the MTEB snapshot is cached: layout='mteb' must go to mteb/Robust04InstructionRetrieval.
    add_snapshot(hub_cache, ROBUST04_MTEB.repo_id, ROBUST04_MTEB.revision, mteb_files())
    task = load_task("robust04", layout="mteb")
    assert task.source == "hf:mteb/Robust04InstructionRetrieval"
    assert task.revision == ROBUST04_MTEB.revision == "0495a5cb69aa8fa5bca81bd56ac248911c19eeb6"
    assert task.main_metric == "map_cut_1000"
    assert task.metadata["layout"] == "mteb"
    _assert_tiny_task(task)
    assert task.query("301").keywords is None


def test_both_layouts_of_robust04_give_the_same_task(hub_cache):
    add_snapshot(hub_cache, ROBUST04.repo_id, ROBUST04.revision, original_files())
    add_snapshot(hub_cache, ROBUST04_MTEB.repo_id, ROBUST04_MTEB.revision, mteb_files())
    original, mteb = load_task("robust04"), load_task("robust04", layout="mteb")
    assert [(q.id, q.text, q.instruction_og, q.instruction_changed) for q in original.queries] == \
        [(q.id, q.text, q.instruction_og, q.instruction_changed) for q in mteb.queries]
    assert dict(original.corpus) == dict(mteb.corpus)
    assert original.qrels_og == mteb.qrels_og and original.qrels_changed == mteb.qrels_changed
    assert dict(original.candidates) == dict(mteb.candidates)
    assert dict(original.changed_documents) == dict(mteb.changed_documents)


def test_explicit_cache_dir(hub_cache, tmp_path):
    other = tmp_path / "elsewhere"
    add_snapshot(other, ROBUST04.repo_id, ROBUST04.revision, original_files())
    task = load_task("robust04", cache_dir=other)  # hub_cache (the default) is empty
    assert task.revision == ROBUST04.revision
    _assert_tiny_task(task)


def test_revision_override(hub_cache):
    newer = "1" * 40
    add_snapshot(hub_cache, ROBUST04.repo_id, newer, original_files())
    task = load_task("robust04", revision=newer)
    assert task.revision == newer
    _assert_tiny_task(task)


def test_missing_snapshot_says_how_to_fix(hub_cache):
    # A snapshot at another revision does not stand in for the pinned one.
    add_snapshot(hub_cache, CORE17.repo_id, "2" * 40, original_files())
    with pytest.raises(FollowIRError) as info:
        load_task("core17")
    message = str(info.value)
    assert CORE17.repo_id in message and CORE17.revision in message
    assert "HF_HUB_OFFLINE" in message
    assert "Fix:" in message


def test_hf_id_with_revision(hub_cache):
    revision = "0123456789abcdef0123456789abcdef01234567"
    add_snapshot(hub_cache, "someone/mydata", revision, original_files(), ref=None)
    task = load_task(f"hf:someone/mydata@{revision}")
    assert task.name == "mydata"
    assert task.source == "hf:someone/mydata"
    assert task.revision == revision
    assert task.main_metric == "map_cut_1000"
    assert task.metadata["layout"] == "original"  # detected
    _assert_tiny_task(task)


def test_hf_id_without_revision_follows_refs_main(hub_cache):
    revision = "89abcdef0123456789abcdef0123456789abcdef"
    add_snapshot(hub_cache, "someone/mteb-style", revision, mteb_files(), ref="main")
    task = load_task("hf:someone/mteb-style")
    assert task.source == "hf:someone/mteb-style"
    assert task.metadata["layout"] == "mteb"  # detected
    _assert_tiny_task(task)


def test_hf_id_missing_from_cache(hub_cache):
    with pytest.raises(FollowIRError) as info:
        load_task("hf:someone/not-cached")
    assert "someone/not-cached@main" in str(info.value)  # the ref it looked for, not "@None"
    assert "HF_HUB_OFFLINE" in str(info.value)
