"""The judging store: one SQLite file; every judgement is its own committed transaction (WAL), so nothing is lost
when the page or the server dies, and several assessors (several browser tabs, one server) write at once.

Tables: ``judgements`` (topic, doc, assessor, relevant, note, time, narrative; one row per assessor, document and
changed narrative, a new judgement replacing the old), ``adjudications`` (the final label where assessors disagree,
per changed narrative) and ``prejudgements`` (a model's score and label, shown only when asked).

``narrative`` is :func:`narrative_hash` of the changed narrative the judgement was made against. The readers take
``current`` (topic -> the hash of its changed narrative now) and count only the rows made against it: when a
changed narrative is rewritten, the judgements made against the old one stay in the file, for the record, but no
longer count, and the page asks for those documents again. Rows from before the column existed (hash ``''``) are
taken as made against the narrative current when :meth:`JudgementStore.stamp_unstamped` first runs.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Optional

from followir.judge.agreement import Agreement, cohen_kappa

SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements (topic TEXT NOT NULL, doc TEXT NOT NULL, assessor TEXT NOT NULL,
    relevant INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '', time TEXT NOT NULL, narrative TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (topic, doc, assessor, narrative));
CREATE TABLE IF NOT EXISTS adjudications (topic TEXT NOT NULL, doc TEXT NOT NULL, relevant INTEGER NOT NULL,
    adjudicator TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', time TEXT NOT NULL, narrative TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (topic, doc, narrative));
CREATE TABLE IF NOT EXISTS prejudgements (topic TEXT NOT NULL, doc TEXT NOT NULL, model TEXT NOT NULL,
    score REAL NOT NULL, relevant INTEGER NOT NULL, PRIMARY KEY (topic, doc, model));
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def narrative_hash(changed: str) -> str:
    """What a judgement records of the changed narrative it was made against (whitespace does not count).

    >>> narrative_hash("a  b") == narrative_hash("a b") != narrative_hash("a c")
    True
    """
    return hashlib.sha256(" ".join(changed.split()).encode()).hexdigest()[:16]


Current = Optional[Mapping[str, str]]  # topic -> narrative_hash of its changed narrative now; None: every row


def _counts(current: Current, topic: str, narrative: str) -> bool:
    return current is None or current.get(topic) == narrative


def in_overlap(topic: str, doc: str, overlap: float) -> bool:
    """Whether every assessor judges this document (a fixed share ``overlap`` of them, chosen by a hash);
    any other document is judged by the first assessor to reach it."""
    if overlap >= 1:
        return True
    digest = hashlib.sha256(f"{topic}\t{doc}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < overlap


class JudgementStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            _migrate(db)
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def save(self, topic: str, doc: str, assessor: str, relevant: bool, note: str = "", narrative: str = "") -> None:
        """One judgement, made against the changed narrative whose :func:`narrative_hash` is ``narrative``."""
        with self._db() as db:  # one transaction, committed before the page moves on
            db.execute("INSERT OR REPLACE INTO judgements (topic, doc, assessor, relevant, note, time, narrative) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (topic, doc, assessor, int(bool(relevant)), note.strip(), now(), narrative))

    def adjudicate(self, topic: str, doc: str, adjudicator: str, relevant: bool, note: str = "",
                   narrative: str = "") -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO adjudications (topic, doc, relevant, adjudicator, note, time, "
                       "narrative) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (topic, doc, int(bool(relevant)), adjudicator, note.strip(), now(), narrative))

    def stamp_unstamped(self, current: Mapping[str, str]) -> int:
        """Give rows saved without a narrative hash (older stores, or callers that gave none) the hash of their
        topic's changed narrative now; returns how many rows were stamped."""
        stamped = 0
        with self._db() as db:
            for topic, digest in current.items():
                for table in ("judgements", "adjudications"):
                    stamped += db.execute(f"UPDATE OR IGNORE {table} SET narrative=? WHERE topic=? AND narrative=''",
                                          (digest, topic)).rowcount
        return stamped

    def stale(self, current: Mapping[str, str]) -> int:
        """How many judgements were made against a changed narrative other than the current one (kept, not
        counted)."""
        return sum(1 for t, n in self._db().execute("SELECT topic, narrative FROM judgements")
                   if not _counts(current, t, n))

    def save_prejudgements(self, model: str, rows: list[tuple[str, str, float, bool]]) -> None:
        with self._db() as db:
            db.executemany("INSERT OR REPLACE INTO prejudgements VALUES (?, ?, ?, ?, ?)",
                           [(t, d, model, float(s), int(r)) for t, d, s, r in rows])

    def prejudgement(self, topic: str, doc: str) -> tuple[str, float, int] | None:
        row = self._db().execute("SELECT model, score, relevant FROM prejudgements WHERE topic=? AND doc=? "
                                 "ORDER BY model LIMIT 1", (topic, doc)).fetchone()
        return tuple(row) if row else None

    def judgements(self, assessor: str | None = None, current: Current = None) \
            -> dict[tuple[str, str, str], tuple[int, str, str]]:
        """(topic, doc, assessor) -> (relevant, note, time), of the judgements made against ``current``'s
        narratives (``None``: every row; where one assessor has several, the latest)."""
        sql = "SELECT topic, doc, assessor, relevant, note, time, narrative FROM judgements"
        rows = self._db().execute(sql + (" WHERE assessor=?" if assessor else "") + " ORDER BY time",
                                  (assessor,) if assessor else ()).fetchall()
        return {(t, d, a): (r, n, tm) for t, d, a, r, n, tm, h in rows if _counts(current, t, h)}

    def judged_by(self, current: Current = None) -> dict[tuple[str, str], dict[str, int]]:
        """(topic, doc) -> assessor -> relevant."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for (t, d, a), (r, _, _) in self.judgements(current=current).items():
            out.setdefault((t, d), {})[a] = r
        return out

    def adjudications(self, current: Current = None) -> dict[tuple[str, str], int]:
        rows = self._db().execute("SELECT topic, doc, relevant, narrative FROM adjudications ORDER BY time")
        return {(t, d): r for t, d, r, h in rows if _counts(current, t, h)}

    def final_labels(self, current: Current = None) -> tuple[dict[tuple[str, str], int], list[tuple[str, str]]]:
        """The final label of each judged document (the adjudication, else the assessors' shared label) and the
        documents whose assessors disagree and that no one has adjudicated; with ``current``, only what was
        judged against those changed narratives."""
        adjudicated = self.adjudications(current)
        final, disputed = {}, []
        for key, labels in sorted(self.judged_by(current).items()):
            if key in adjudicated:
                final[key] = adjudicated[key]
            elif len(set(labels.values())) == 1:
                final[key] = next(iter(labels.values()))
            else:
                disputed.append(key)
        for key, label in adjudicated.items():
            final.setdefault(key, label)
        return final, disputed

    def pairwise_kappa(self, current: Current = None) -> dict[tuple[str, str], Agreement]:
        by_assessor: dict[str, dict[tuple[str, str], int]] = {}
        for (t, d, a), (r, _, _) in self.judgements(current=current).items():
            by_assessor.setdefault(a, {})[(t, d)] = r
        names = sorted(by_assessor)
        return {(a, b): cohen_kappa(by_assessor[a], by_assessor[b])
                for i, a in enumerate(names) for b in names[i + 1:]}

    def model_agreement(self, current: Current = None) -> dict[str, Agreement]:
        """Each pre-judging model's agreement with the people's final labels."""
        final, _ = self.final_labels(current)
        models: dict[str, dict[tuple[str, str], int]] = {}
        for t, d, m, r in self._db().execute("SELECT topic, doc, model, relevant FROM prejudgements"):
            models.setdefault(m, {})[(t, d)] = r
        return {m: cohen_kappa(labels, final) for m, labels in sorted(models.items())}


def _migrate(db: sqlite3.Connection) -> None:
    """Stores from before the ``narrative`` column: rebuild both tables with it (``''``, unstamped) in their key."""
    for table in ("judgements", "adjudications"):
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        if columns and "narrative" not in columns:
            db.execute(f"ALTER TABLE {table} RENAME TO {table}_before_narrative")
    db.executescript(SCHEMA)
    for table in ("judgements", "adjudications"):
        old = f"{table}_before_narrative"
        if db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (old,)).fetchone():
            columns = ", ".join(row[1] for row in db.execute(f"PRAGMA table_info({old})"))
            db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {old}")
            db.execute(f"DROP TABLE {old}")
