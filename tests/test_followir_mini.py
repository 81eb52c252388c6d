"""The packaged followir-mini benchmark meets its specification and is in sync with its sources."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from followir.data import load_task

ROOT = Path(__file__).resolve().parents[1]
NEGATION = re.compile(r"\b(not|no|never|nor|without|excluding|except)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def mini():
    return load_task("followir-mini")


def _words(text):
    return len(text.split())


def test_topics_and_instructions(mini):
    assert len(mini.queries) >= 12
    negated = 0
    for q in mini.queries:
        assert 40 <= _words(q.instruction_og) <= 90, q.id
        assert q.instruction_changed.startswith(q.instruction_og), q.id  # the changed one adds to the og
        assert _words(q.instruction_changed) > _words(q.instruction_og)
        assert q.keywords and q.short_instruction
        negated += bool(NEGATION.search(q.instruction_og))
    assert negated >= len(mini.queries) / 2


def test_passages_and_judgements(mini):
    for q in mini.queries:
        candidates = mini.candidates[q.id]
        assert len(candidates) >= 25
        for doc_id in candidates:
            assert 60 <= _words(mini.corpus[doc_id].text) <= 250, doc_id
        og = mini.qrels_og.relevant(q.id)
        changed = mini.qrels_changed.relevant(q.id)
        assert len(og) >= 8
        assert changed <= og  # the changed instruction only narrows
        assert len(mini.changed_documents[q.id]) >= 3
        assert mini.changed_documents[q.id] == og - changed


def test_packaged_files_match_sources():
    if not (ROOT / "benchmarks-src").is_dir():
        pytest.skip("topic sources are not in this checkout")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_followir_mini.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_every_topic_has_a_rationale_and_lexical_traps():
    import json

    from followir.models.text_analysis import Analyzer

    analyze = Analyzer()
    sources = sorted((ROOT / "benchmarks-src" / "followir-mini").glob("topic_*.json"))
    if not sources:
        pytest.skip("topic sources are not in this checkout")
    for path in sources:
        topic = json.loads(path.read_text())
        assert topic["rationale"].strip().endswith(".")
        traps = [p for p in topic["passages"] if p["kind"] == "trap"]
        assert len(traps) >= 5
        query_terms = set(analyze(topic["query"]))
        instruction_terms = set(analyze(topic["instruction_changed"]))
        for p in traps:
            terms = set(analyze(p["text"]))
            # traps share several of the query's and instructions' words (stemmed)
            assert len((query_terms | instruction_terms) & terms) >= 3, (path.name, p["id"])
