"""The judging store: one SQLite file; every judgement is its own committed transaction (WAL), so nothing is lost
when the page or the server dies, and several assessors (several browser tabs, one server) write at once.

Tables: ``judgements`` (topic, doc, assessor, relevant, note, time; one row per assessor and document, a new
judgement replacing the old), ``adjudications`` (the final label where assessors disagree) and
``prejudgements`` (a model's score and label, shown only when asked).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

from followir.judge.agreement import Agreement, cohen_kappa

SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements (topic TEXT NOT NULL, doc TEXT NOT NULL, assessor TEXT NOT NULL,
    relevant INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '', time TEXT NOT NULL, PRIMARY KEY (topic, doc, assessor));
CREATE TABLE IF NOT EXISTS adjudications (topic TEXT NOT NULL, doc TEXT NOT NULL, relevant INTEGER NOT NULL,
    adjudicator TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', time TEXT NOT NULL, PRIMARY KEY (topic, doc));
CREATE TABLE IF NOT EXISTS prejudgements (topic TEXT NOT NULL, doc TEXT NOT NULL, model TEXT NOT NULL,
    score REAL NOT NULL, relevant INTEGER NOT NULL, PRIMARY KEY (topic, doc, model));
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def save(self, topic: str, doc: str, assessor: str, relevant: bool, note: str = "") -> None:
        with self._db() as db:  # one transaction, committed before the page moves on
            db.execute("INSERT OR REPLACE INTO judgements VALUES (?, ?, ?, ?, ?, ?)",
                       (topic, doc, assessor, int(bool(relevant)), note.strip(), now()))

    def adjudicate(self, topic: str, doc: str, adjudicator: str, relevant: bool, note: str = "") -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO adjudications VALUES (?, ?, ?, ?, ?, ?)",
                       (topic, doc, int(bool(relevant)), adjudicator, note.strip(), now()))

    def save_prejudgements(self, model: str, rows: list[tuple[str, str, float, bool]]) -> None:
        with self._db() as db:
            db.executemany("INSERT OR REPLACE INTO prejudgements VALUES (?, ?, ?, ?, ?)",
                           [(t, d, model, float(s), int(r)) for t, d, s, r in rows])

    def prejudgement(self, topic: str, doc: str) -> tuple[str, float, int] | None:
        row = self._db().execute("SELECT model, score, relevant FROM prejudgements WHERE topic=? AND doc=? "
                                 "ORDER BY model LIMIT 1", (topic, doc)).fetchone()
        return tuple(row) if row else None

    def judgements(self, assessor: str | None = None) -> dict[tuple[str, str, str], tuple[int, str, str]]:
        """(topic, doc, assessor) -> (relevant, note, time)."""
        sql = "SELECT topic, doc, assessor, relevant, note, time FROM judgements"
        rows = self._db().execute(sql + (" WHERE assessor=?" if assessor else ""),
                                  (assessor,) if assessor else ()).fetchall()
        return {(t, d, a): (r, n, tm) for t, d, a, r, n, tm in rows}

    def judged_by(self) -> dict[tuple[str, str], dict[str, int]]:
        """(topic, doc) -> assessor -> relevant."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for (t, d, a), (r, _, _) in self.judgements().items():
            out.setdefault((t, d), {})[a] = r
        return out

    def adjudications(self) -> dict[tuple[str, str], int]:
        return {(t, d): r for t, d, r in self._db().execute("SELECT topic, doc, relevant FROM adjudications")}

    def final_labels(self) -> tuple[dict[tuple[str, str], int], list[tuple[str, str]]]:
        """The final label of each judged document (the adjudication, else the assessors' shared label) and the
        documents whose assessors disagree and that no one has adjudicated."""
        adjudicated = self.adjudications()
        final, disputed = {}, []
        for key, labels in sorted(self.judged_by().items()):
            if key in adjudicated:
                final[key] = adjudicated[key]
            elif len(set(labels.values())) == 1:
                final[key] = next(iter(labels.values()))
            else:
                disputed.append(key)
        for key, label in adjudicated.items():
            final.setdefault(key, label)
        return final, disputed

    def pairwise_kappa(self) -> dict[tuple[str, str], Agreement]:
        by_assessor: dict[str, dict[tuple[str, str], int]] = {}
        for (t, d, a), (r, _, _) in self.judgements().items():
            by_assessor.setdefault(a, {})[(t, d)] = r
        names = sorted(by_assessor)
        return {(a, b): cohen_kappa(by_assessor[a], by_assessor[b])
                for i, a in enumerate(names) for b in names[i + 1:]}

    def model_agreement(self) -> dict[str, Agreement]:
        """Each pre-judging model's agreement with the people's final labels."""
        final, _ = self.final_labels()
        models: dict[str, dict[tuple[str, str], int]] = {}
        for t, d, m, r in self._db().execute("SELECT topic, doc, model, relevant FROM prejudgements"):
            models.setdefault(m, {})[(t, d)] = r
        return {m: cohen_kappa(labels, final) for m, labels in sorted(models.items())}
