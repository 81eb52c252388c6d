"""A persistent cache of scores and embeddings in SQLite (WAL mode, one transaction per batch).

Keys cover everything that changes an output: the model fingerprint (model id and revision, family,
template, settings) and a hash of the exact input text (query, instruction and document as the model
sees them). A run killed at any moment loses at most the batch in flight; a rerun recomputes nothing
already stored. Several processes may share one cache file: SQLite serialises writers, and
``INSERT OR IGNORE`` makes concurrent writes of the same key harmless (a key always maps to the same value).
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from followir.errors import FollowIRError, ModelOutputError

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "followir"


def text_key(*parts: str) -> str:
    """A stable key for the exact text(s) a model sees.

    >>> text_key("q", "d") == text_key("q", "d") != text_key("qd")
    True
    """
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def fingerprint(description: Mapping[str, object]) -> str:
    """Key of a model configuration: a hash of its canonical JSON description."""
    return text_key(json.dumps(description, sort_keys=True, default=str))


BUSY_TIMEOUT_S = 60.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL mode (persistent), waiting out other processes doing the same.

    Changing the journal mode needs the file to itself, and SQLite can answer "database is locked" at once,
    without its busy handler, when several processes open a fresh cache together; so this retries.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)


SQLITE_HEADER = b"SQLite format 3\x00"


class CacheFileError(FollowIRError, ValueError):
    """The cache path is a folder, not an SQLite file, or cannot be opened."""


def check_cache_file(path: str | Path) -> None:
    """Refuse, before any work, a cache path that is a folder, lies below a file, or holds something other than
    an SQLite database (an empty or absent file is fine: it becomes a new cache)."""
    path = Path(path)
    fix = "pass --cache a file path (e.g. ~/.cache/followir/cache.sqlite), or --cache none"
    if path.is_dir():
        raise CacheFileError(f"the cache {path} is a folder, not a file. Fix: {fix}")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise CacheFileError(f"the cache {path} lies below {parent}, which is a file. Fix: {fix}")
    if path.is_file() and path.stat().st_size:
        try:
            with path.open("rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError as e:
            raise CacheFileError(f"cannot read the cache {path} ({e.strerror}). Fix: {fix}") from None
        if head != SQLITE_HEADER:
            raise CacheFileError(f"the cache {path} is not an SQLite database (followir keeps its scores in "
                                 f"SQLite; this file would be overwritten). Fix: {fix}")


def open_database(path: str | Path, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit: ``Transaction``), WAL, waiting on locks."""
    check_cache_file(path)
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                             check_same_thread=check_same_thread)
        db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        _use_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise
        raise CacheFileError(f"cannot open the cache {path} ({e}). Fix: pass --cache a writable SQLite file, "
                             f"or --cache none") from None
    return db


def finite_scores(items: Mapping[str, float]) -> list[tuple[str, float]]:
    """The items as (key, float) rows; a non-finite value is an error (nothing non-finite is ever cached)."""
    rows = [(k, float(v)) for k, v in items.items()]
    bad = [k for k, v in rows if not np.isfinite(v)]
    if bad:
        raise ModelOutputError(f"refusing to cache {len(bad)} non-finite score(s) (key {bad[0]})")
    return rows


def finite_vector(key: str, value) -> np.ndarray:
    arr = np.ascontiguousarray(value, dtype=np.float32)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ModelOutputError(f"refusing to cache embedding {key}: shape {arr.shape}, "
                               f"{int(arr.size - np.isfinite(arr).sum())} non-finite value(s)")
    return arr


class Cache:
    """Scores (float per key) and embeddings (float32 vector per key) of one model fingerprint."""

    def __init__(self, path: str | Path, model_key: str):
        self.path = Path(path)
        check_cache_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.model_key = model_key
        self._local = threading.local()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS scores (model TEXT NOT NULL, key TEXT NOT NULL, "
                       "value REAL NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID")
            db.execute("CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, key TEXT NOT NULL, "
                       "dim INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID")
            db.execute("CREATE TABLE IF NOT EXISTS models (model TEXT PRIMARY KEY, description TEXT NOT NULL)")
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def _connect(self, write: bool = True) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_database(self.path)
        return Transaction(db, write)

    def describe(self, description: Mapping[str, object]) -> None:
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO models VALUES (?, ?)",
                       (self.model_key, json.dumps(description, sort_keys=True, default=str)))

    def get_scores(self, keys: Sequence[str]) -> dict[str, float]:
        found = self._select("scores", "key, value", keys)
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return {k: float(v) for k, v in found}

    def put_scores(self, items: Mapping[str, float]) -> None:
        if not items:
            return
        rows = [(self.model_key, k, v) for k, v in finite_scores(items)]
        with self._connect() as db:
            db.executemany("INSERT OR IGNORE INTO scores VALUES (?, ?, ?)", rows)
        self.writes += len(items)

    def get_embeddings(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found = self._select("embeddings", "key, value", keys)
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return {k: np.frombuffer(v, dtype=np.float32) for k, v in found}

    def put_embeddings(self, items: Mapping[str, np.ndarray]) -> None:
        if not items:
            return
        rows = []
        for k, v in items.items():
            arr = finite_vector(k, v)
            rows.append((self.model_key, k, int(arr.size), arr.tobytes()))
        with self._connect() as db:
            db.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?, ?)", rows)
        self.writes += len(items)

    def embedding_dim(self) -> int | None:
        """The dimension of the embeddings already stored for this model (None when there are none)."""
        with self._connect(write=False) as db:
            row = db.execute("SELECT dim FROM embeddings WHERE model = ? LIMIT 1", (self.model_key,)).fetchone()
        return None if row is None else int(row[0])

    def count(self, table: str = "scores") -> int:
        if table not in ("scores", "embeddings"):
            raise ValueError(table)
        with self._connect(write=False) as db:
            return db.execute(f"SELECT COUNT(*) FROM {table} WHERE model = ?", (self.model_key,)).fetchone()[0]

    def _select(self, table: str, columns: str, keys: Iterable[str]) -> list[tuple]:
        unique = list(dict.fromkeys(keys))
        out: list[tuple] = []
        with self._connect(write=False) as db:
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                out.extend(db.execute(f"SELECT {columns} FROM {table} WHERE model = ? AND key IN ({marks})",
                                      (self.model_key, *chunk)).fetchall())
        return out


class Transaction:
    """``with`` block = one SQLite transaction (COMMIT, or ROLLBACK on error). Writers take the write lock
    at BEGIN (IMMEDIATE) so concurrent writers queue instead of failing; readers never block on writers (WAL)."""

    def __init__(self, db: sqlite3.Connection, write: bool = True):
        self.db = db
        self.write = write

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE" if self.write else "BEGIN")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
