"""The score cache (``followir.cache``): values round-trip, and processes opening one fresh file together all
get in. The second case failed before: ``PRAGMA journal_mode=WAL`` answered "database is locked" at once, without
SQLite's busy handler, to some of several processes opening a new cache together (5 of 20 trials with six
processes here; CI saw it in the shared-cache test of ``tests/test_resume.py``)."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3

import numpy as np
import pytest

from followir.cache import Cache


def test_scores_and_embeddings_round_trip_per_model(tmp_path):
    path = tmp_path / "c.sqlite"
    a, b = Cache(path, "model-a"), Cache(path, "model-b")
    a.put_scores({"k1": 0.25, "k2": 0.75})
    a.put_scores({"k1": 0.9})  # a key maps to one value: the first write stays
    b.put_scores({"k1": 0.5})
    assert a.get_scores(["k1", "k2", "k3"]) == {"k1": 0.25, "k2": 0.75}
    assert b.get_scores(["k1", "k2"]) == {"k1": 0.5}
    assert (a.hits, a.misses) == (2, 1)
    a.put_embeddings({"e": np.array([1.0, -2.0, 0.5])})
    (vector,) = a.get_embeddings(["e"]).values()
    assert vector.dtype == np.float32 and vector.tolist() == [1.0, -2.0, 0.5]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _open_and_write(path, barrier, results) -> None:
    barrier.wait()  # every process opens the fresh file at the same moment
    try:
        Cache(path, "m").put_scores({f"k{os.getpid()}": 0.5})
        results.put("ok")
    except Exception as e:  # reported to the test, which names it
        results.put(repr(e))


@pytest.mark.slow
def test_processes_opening_a_fresh_cache_together_all_get_in(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    processes_per_trial, trials = 6, 8
    for trial in range(trials):
        path = tmp_path / f"fresh{trial}.sqlite"
        barrier, results = ctx.Barrier(processes_per_trial), ctx.Queue()
        workers = [ctx.Process(target=_open_and_write, args=(path, barrier, results))
                   for _ in range(processes_per_trial)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        outcomes = [results.get(timeout=10) for _ in workers]
        assert outcomes == ["ok"] * processes_per_trial, f"trial {trial}: {outcomes}"
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == processes_per_trial
