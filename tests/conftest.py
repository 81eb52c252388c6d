"""Shared fixtures for the followir test suite."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The suite depends on nothing in the user's environment: scores and embeddings go to a cache of the session's
# own (never ~/.cache/followir or $FOLLOWIR_CACHE), and no test waits on the hub (tests of the hub code lay files
# out as the hub serves them, or set the hub variables in a subprocess of their own).
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="followir-tests-"))
os.environ["FOLLOWIR_CACHE"] = str(_SESSION_DIR / "cache.sqlite")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("HF_ENDPOINT", None)
# Nor on the terminal's width: rich lays tables out to $COLUMNS (80 when output is piped). Tests that check how
# output looks at a given width set COLUMNS themselves, in a subprocess (tests/test_first_hour.py).
os.environ["COLUMNS"] = "160"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def trec_data_dir() -> Path:
    """The real TREC topics and qrels in ``<repo>/../shared/data/trec``; skips the test when absent."""
    folder = SHARED_DATA / "trec"
    if not folder.is_dir():
        pytest.skip(f"real TREC data not found at {folder}")
    return folder.resolve()


@pytest.fixture
def progress(request):
    """``progress("step")`` prints a line at once, through pytest's output capture, so that a long test never
    runs silent for minutes: ``    [12.3 s] test_name: step``."""
    import time

    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    started = time.perf_counter()

    def say(step: str) -> None:
        if reporter is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"    [{time.perf_counter() - started:6.1f} s] {request.node.name}: {step}")

    say.bar = lambda label="", every=30.0: PrintingProgress(say, label, every)
    return say


class PrintingProgress:
    """The models' ``Progress`` protocol for tests: a line every ``every`` seconds (and at the end)."""

    def __init__(self, say, label: str = "", every: float = 30.0):
        self.say, self.every = (lambda text: say(f"{label}: {text}")) if label else say, every
        self.total, self.done, self.unit, self.last = 0, 0, "items", 0.0

    def start(self, total: int, unit: str) -> None:
        import time

        self.total, self.done, self.unit, self.last = total, 0, unit, time.perf_counter()
        self.say(f"0/{total:,} {unit}")

    def advance(self, n: int) -> None:
        import time

        self.done += n
        if time.perf_counter() - self.last >= self.every or self.done >= self.total:
            self.last = time.perf_counter()
            self.say(f"{self.done:,}/{self.total:,} {self.unit}")


def write_mini_subset(dest: Path, query_ids: list[str], per_query: int | None = None,
                      words: int | None = None) -> Path:
    """A local task folder holding only ``query_ids`` of the packaged followir-mini (same layout), for tests that
    run a slow model end to end but need only a few queries of it: with ``per_query``, each query keeps its
    first candidates (its changed documents first, so p-MRR stays defined); with ``words``, passages keep their
    first words."""
    import json

    import followir.benchmarks

    source = Path(followir.benchmarks.__file__).parent / "followir_mini"
    wanted = set(query_ids)
    rows = {}
    for name in ("queries.jsonl", "top_ranked.jsonl", "qrels_og/test.jsonl", "qrels_changed/test.jsonl",
                 "corpus.jsonl"):
        rows[name] = [json.loads(line) for line in (source / name).read_text(encoding="utf-8").splitlines() if line]
    if per_query is not None:
        changed = {(r["query-id"], r["corpus-id"]) for r in rows["qrels_og/test.jsonl"] if r["score"] > 0} - {
            (r["query-id"], r["corpus-id"]) for r in rows["qrels_changed/test.jsonl"] if r["score"] > 0}
        kept: dict[str, list[str]] = {}
        for r in sorted(rows["top_ranked.jsonl"], key=lambda r: ((r["qid"], r["pid"]) not in changed, r["pid"])):
            if r["qid"] in wanted and len(kept.setdefault(r["qid"], [])) < per_query:
                kept[r["qid"]].append(r["pid"])
        chosen = {(q, p) for q, pids in kept.items() for p in pids}
        rows["top_ranked.jsonl"] = [r for r in rows["top_ranked.jsonl"] if (r["qid"], r["pid"]) in chosen]
        for name in ("qrels_og/test.jsonl", "qrels_changed/test.jsonl"):
            rows[name] = [r for r in rows[name] if (r["query-id"], r["corpus-id"]) in chosen]
    if words is not None:
        rows["corpus.jsonl"] = [{**r, "text": " ".join(r["text"].split()[:words])} for r in rows["corpus.jsonl"]]
    candidates = {r["pid"] for r in rows["top_ranked.jsonl"] if r["qid"] in wanted}
    keep = {"queries.jsonl": lambda r: r["_id"] in wanted, "top_ranked.jsonl": lambda r: r["qid"] in wanted,
            "qrels_og/test.jsonl": lambda r: r["query-id"] in wanted,
            "qrels_changed/test.jsonl": lambda r: r["query-id"] in wanted,
            "corpus.jsonl": lambda r: r["_id"] in candidates}
    for name, rows_of in rows.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows_of if keep[name](r)), encoding="utf-8")
    return dest
