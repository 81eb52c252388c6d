"""Every chat request and its answer, stored in SQLite so an interrupted run resumes without paying twice.

The same file and conventions as ``followir.cache``: WAL mode, one transaction per write, ``INSERT OR
IGNORE`` (a key always maps to the same answer, so concurrent writers are harmless). Rows are keyed by the
model's fingerprint (its description: provider, endpoint, model id and revision) and a hash of the exact
messages and generation options (temperature, max_tokens, seed, top_p).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from followir.cache import Transaction, check_cache_file, fingerprint, open_database, text_key
from followir.errors import APIError


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def request_key(messages: Sequence[Mapping[str, str]], options: Mapping[str, object]) -> str:
    """Hash of the exact messages and generation options of one request."""
    return text_key(json.dumps({"messages": [dict(m) for m in messages], "options": dict(options)},
                               sort_keys=True, ensure_ascii=False))


class ChatCache:
    def __init__(self, path: str | Path, description: Mapping[str, object]):
        self.path = Path(path)
        check_cache_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from followir.models.runtime import with_local_weights

        description = with_local_weights(description)  # a local model folder is keyed by its weights too
        self.model_key = fingerprint(description)
        self._local = threading.local()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS completions (model TEXT NOT NULL, key TEXT NOT NULL, "
                       "response TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, "
                       "PRIMARY KEY (model, key)) WITHOUT ROWID")
            db.execute("CREATE TABLE IF NOT EXISTS models (model TEXT PRIMARY KEY, description TEXT NOT NULL)")
            db.execute("INSERT OR IGNORE INTO models VALUES (?, ?)",
                       (self.model_key, json.dumps(description, sort_keys=True, default=str)))

    def _connect(self, write: bool = True) -> Transaction:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_database(self.path, check_same_thread=False)
        return Transaction(db, write)

    def get(self, key: str) -> Completion | None:
        with self._connect(write=False) as db:
            row = db.execute("SELECT response, prompt_tokens, completion_tokens FROM completions "
                             "WHERE model = ? AND key = ?", (self.model_key, key)).fetchone()
        return None if row is None else Completion(row[0], row[1], row[2])

    def contains(self, keys: Sequence[str]) -> set[str]:
        unique = list(dict.fromkeys(keys))
        found: set[str] = set()
        with self._connect(write=False) as db:
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(k for (k,) in db.execute(
                    f"SELECT key FROM completions WHERE model = ? AND key IN ({marks})", (self.model_key, *chunk)))
        return found

    def put(self, key: str, completion: Completion) -> None:
        if not isinstance(completion.text, str):
            raise APIError(f"refusing to cache a chat answer that is not text ({completion.text!r})")
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?, ?)",
                       (self.model_key, key, completion.text, completion.prompt_tokens,
                        completion.completion_tokens))

    def count(self) -> int:
        with self._connect(write=False) as db:
            return db.execute("SELECT COUNT(*) FROM completions WHERE model = ?", (self.model_key,)).fetchone()[0]
