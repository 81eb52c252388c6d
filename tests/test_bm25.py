"""BM25 against rank_bm25.BM25Okapi (the paper's implementation), by hand, and the analyzers it relies on.

The registered ``bm25`` (``analysis="paper"``) must equal the reference's ``clean()`` + ``BM25Okapi``
(orionw/FollowIR models/bm25/evaluate_bm25.py), restated in ``reference_clean`` below with the real NLTK
stemmer. The ``regex`` analysis (``bm25-regex``): pool mode must equal
``BM25Okapi(pool_tokens).get_scores(query_tokens)``; corpus mode must equal
``BM25Okapi(corpus_tokens).get_batch_scores(query_tokens, pool_rows)``; both with the Analyzer's tokens and
query text ``query + " " + instruction``.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from followir.data import load_task
from followir.models.base import RankRequest
from followir.models.bm25 import BM25
from followir.models.text_analysis import Analyzer
from followir.records import VARIANTS, Document, rank_documents

rank_bm25 = pytest.importorskip("rank_bm25", reason="pip install rank-bm25 (the test extra)")

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "data" / "beir-scifact"
K1, B, EPS = 1.5, 0.75, 0.25


def okapi(tokens):
    return rank_bm25.BM25Okapi(tokens, k1=K1, b=B, epsilon=EPS)


def assert_matches(ours: dict[str, float], pool: tuple[str, ...], ref_scores) -> None:
    """Scores equal to rtol 1e-9 and identical rankings by followir.records.rank_documents (ties by doc id,
    descending) on both sides. The two implementations sum per-term contributions and the mean idf in
    different orders, so scores may differ in the last bits; on this data that never swaps two documents,
    so rankings are compared exactly, without rounding the scores first."""
    assert list(ours) == list(pool)
    ref = dict(zip(pool, map(float, ref_scores)))
    np.testing.assert_allclose([ours[d] for d in pool], [ref[d] for d in pool], rtol=1e-9, atol=1e-12)
    assert rank_documents(ours) == rank_documents(ref)


# --- parity on the packaged benchmark -----------------------------------------------------------------

@pytest.fixture(scope="module")
def mini():
    return load_task("followir-mini")


@pytest.fixture(scope="module")
def mini_requests(mini):
    return [RankRequest(q.id, v, q.text, q.instruction(v), mini.candidates[q.id])
            for q in mini.queries for v in VARIANTS]


def test_pool_mode_matches_rank_bm25_on_followir_mini(mini, mini_requests):
    ours = BM25(analysis="regex", k1=K1, b=B, epsilon=EPS).rerank(mini_requests, mini.corpus)
    analyze = Analyzer()
    assert len(ours) == len(mini_requests) == 2 * len(mini.queries)
    for request, scores in zip(mini_requests, ours):
        assert request.text == f"{request.query} {request.instruction}"
        pool = request.candidates
        ref = okapi([analyze(mini.corpus[d].full_text) for d in pool]).get_scores(analyze(request.text))
        assert (ref > 0).any()
        assert_matches(scores, pool, ref)


def test_corpus_mode_matches_rank_bm25_on_followir_mini(mini, mini_requests):
    ours = BM25(analysis="regex", k1=K1, b=B, epsilon=EPS, stats="corpus").rerank(mini_requests, mini.corpus)
    analyze = Analyzer()
    ids = list(mini.corpus)
    row = {d: i for i, d in enumerate(ids)}
    reference = okapi([analyze(mini.corpus[d].full_text) for d in ids])
    for request, scores in zip(mini_requests, ours):
        pool = request.candidates
        ref = reference.get_batch_scores(analyze(request.text), [row[d] for d in pool])
        assert_matches(scores, pool, ref)


def test_og_and_changed_differ_only_through_the_instruction(mini, mini_requests):
    ours = BM25(analysis="regex").rerank(mini_requests, mini.corpus)
    by_variant = {(r.query_id, r.variant): s for r, s in zip(mini_requests, ours)}
    changed = sum(by_variant[q.id, "og"] != by_variant[q.id, "changed"] for q in mini.queries)
    assert changed == len(mini.queries)  # every changed instruction adds words, so scores move


# --- parity on real SciFact text ----------------------------------------------------------------------

INSTRUCTIONS = [
    "Relevant abstracts report original experimental or clinical evidence, not reviews or editorials.",
    "A relevant document must describe results in human patients, not only in mouse or cell culture models.",
    "Documents that merely mention the disease in passing without measuring an outcome are not relevant.",
    "Only randomized controlled trials or large cohort studies with quantitative results count as relevant.",
    "Studies about the molecular mechanism are relevant, while purely epidemiological surveys are not.",
]
QUERY_IDS = ["13", "36", "51", "113", "163"]
POOL_SIZES = [300, 600, 1000, 450, 800]


@pytest.fixture(scope="module")
def scifact():
    corpus_file = SCIFACT / "corpus.jsonl"
    if not corpus_file.exists():
        pytest.skip(f"real SciFact data not found at {corpus_file}")
    corpus = {}
    with corpus_file.open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            corpus[rec["_id"]] = Document(rec["_id"], rec["text"], rec.get("title", ""))
    with (SCIFACT / "queries.test.jsonl").open(encoding="utf-8") as f:
        queries = {q["_id"]: q["text"] for q in map(json.loads, f)}
    analyze = Analyzer()
    ids = list(corpus)
    tokens = [analyze(corpus[d].full_text) for d in ids]
    whole = okapi(tokens)
    rng = random.Random(1234)
    requests = []
    for qid, instruction, size in zip(QUERY_IDS, INSTRUCTIONS, POOL_SIZES):
        # A FollowIR-like pool: the first stage's top documents for the bare query plus random filler.
        first_stage = np.argsort(-whole.get_scores(analyze(queries[qid])), kind="stable")
        top = [ids[i] for i in first_stage[: size - 100]]
        rest = sorted(set(ids) - set(top))
        pool = top + rng.sample(rest, 100)
        rng.shuffle(pool)  # candidate order must not matter
        requests.append(RankRequest(qid, "og", queries[qid], instruction, tuple(pool)))
    return {"corpus": corpus, "ids": ids, "tokens": dict(zip(ids, tokens)), "whole": whole,
            "requests": requests}


@pytest.mark.realdata
def test_pool_mode_matches_rank_bm25_on_scifact(scifact):
    corpus, tokens, requests = scifact["corpus"], scifact["tokens"], scifact["requests"]
    ours = BM25(analysis="regex", k1=K1, b=B, epsilon=EPS).rerank(requests, corpus)
    analyze = Analyzer()
    floored = 0
    for request, scores in zip(requests, ours):
        pool = request.candidates
        assert 300 <= len(pool) <= 1000
        reference = okapi([tokens[d] for d in pool])
        floored += sum(v == EPS * reference.average_idf for v in reference.idf.values())
        ref = reference.get_scores(analyze(request.text))
        assert_matches(scores, pool, ref)
    assert floored > 0  # real pools contain terms in more than half their documents


@pytest.mark.realdata
def test_corpus_mode_matches_rank_bm25_on_scifact(scifact):
    corpus, ids, whole, requests = scifact["corpus"], scifact["ids"], scifact["whole"], scifact["requests"]
    ours = BM25(analysis="regex", k1=K1, b=B, epsilon=EPS, stats="corpus").rerank(requests, corpus)
    analyze = Analyzer()
    row = {d: i for i, d in enumerate(ids)}
    for request, scores in zip(requests, ours):
        pool = request.candidates
        ref = whole.get_batch_scores(analyze(request.text), [row[d] for d in pool])
        assert_matches(scores, pool, ref)


@pytest.mark.realdata
def test_pool_and_corpus_statistics_give_different_scores(scifact):
    request = scifact["requests"][0]
    pool_scores = BM25(analysis="regex").rerank([request], scifact["corpus"])[0]
    corpus_scores = BM25(analysis="regex", stats="corpus").rerank([request], scifact["corpus"])[0]
    assert not np.allclose(list(pool_scores.values()), list(corpus_scores.values()))


# --- hand-computed tiny case --------------------------------------------------------------------------

TINY = {
    "d1": Document("d1", "cat cat dog"),
    "d2": Document("d2", "cat fish emu"),
    "d3": Document("d3", "bird fish fish owl bird"),
}


def bm25_term(idf: float, tf: int, length: int, avgdl: float) -> float:
    return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avgdl))


def tiny_expected(query_terms: list[str]) -> dict[str, float]:
    # N = 3 documents of lengths 3, 3, 5: avgdl = 11/3.
    n, avgdl = 3, 11 / 3
    df = {"cat": 2, "dog": 1, "fish": 2, "emu": 1, "bird": 1, "owl": 1}
    raw = {t: math.log(n - f + 0.5) - math.log(f + 0.5) for t, f in df.items()}
    # cat and fish are in 2 of 3 documents: log(1.5) - log(2.5) < 0, floored to eps * mean idf.
    assert raw["cat"] < 0 and raw["fish"] < 0
    mean_idf = (2 * math.log(1.5 / 2.5) + 4 * math.log(2.5 / 1.5)) / 6
    assert math.isclose(mean_idf, sum(raw.values()) / len(raw))
    idf = {t: (EPS * mean_idf if v < 0 else v) for t, v in raw.items()}
    tf = {"d1": {"cat": 2, "dog": 1}, "d2": {"cat": 1, "fish": 1, "emu": 1},
          "d3": {"bird": 2, "fish": 2, "owl": 1}}
    length = {"d1": 3, "d2": 3, "d3": 5}
    return {d: sum(bm25_term(idf.get(t, 0.0), tf[d].get(t, 0), length[d], avgdl) for t in query_terms)
            for d in TINY}


def test_tiny_case_by_hand():
    analyze = Analyzer()
    assert [analyze(d.text) for d in TINY.values()] == [d.text.split() for d in TINY.values()]
    request = RankRequest("q", "og", "cat owl", "dog zebra", ("d1", "d2", "d3"))
    scores = BM25(analysis="regex", k1=K1, b=B, epsilon=EPS).rerank([request], TINY)[0]
    expected = tiny_expected(["cat", "owl", "dog", "zebra"])  # zebra is in no document: adds nothing
    assert expected["d1"] > expected["d3"] > expected["d2"] > 0
    for d in TINY:
        assert scores[d] == pytest.approx(expected[d], rel=1e-11)  # 12 significant digits
    # The hand formula is rank_bm25's.
    ref = okapi([d.text.split() for d in TINY.values()]).get_scores(["cat", "owl", "dog", "zebra"])
    np.testing.assert_allclose(ref, [expected[d] for d in TINY], rtol=1e-11)  # 12 significant digits
    assert rank_documents(scores) == ["d1", "d3", "d2"]


def test_tiny_floored_idf_value():
    # d2 matches only cat, whose idf is the floor: score = eps * mean_idf * tf-part.
    scores = BM25(analysis="regex").rerank([RankRequest("q", "og", "cat", "", ("d1", "d2", "d3"))], TINY)[0]
    mean_idf = math.log(2.5 / 1.5) / 3
    assert scores["d2"] == pytest.approx(EPS * mean_idf * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 3 / (11 / 3))))
    assert scores["d3"] == 0.0


def test_tiny_corpus_mode_uses_whole_corpus_statistics():
    request = RankRequest("q", "og", "cat owl", "dog", ("d3", "d1"))
    corpus_scores = BM25(analysis="regex", stats="corpus").rerank([request], TINY)[0]
    expected = tiny_expected(["cat", "owl", "dog"])
    assert list(corpus_scores) == ["d3", "d1"]
    # scores are rounded to 12 significant digits
    assert corpus_scores == pytest.approx({"d3": expected["d3"], "d1": expected["d1"]}, rel=1e-11)
    # Pool mode on the same two documents: N = 2, avgdl = 4, every term has df 1, idf = log(1.5/1.5) = 0.
    pool_scores = BM25(analysis="regex").rerank([request], TINY)[0]
    assert pool_scores == {"d3": 0.0, "d1": 0.0}


def test_duplicate_query_terms_count_once_per_occurrence():
    single = BM25(analysis="regex").rerank([RankRequest("q", "og", "dog owl", "", tuple(TINY))], TINY)[0]
    doubled = BM25(analysis="regex").rerank([RankRequest("q", "og", "dog dog owl", "dogs", tuple(TINY))], TINY)[0]
    expected = tiny_expected(["dog", "dog", "owl", "dog"])  # 'dogs' stems to 'dog'
    for d in TINY:
        assert doubled[d] == pytest.approx(expected[d], rel=1e-11)  # 12 significant digits
    assert doubled["d1"] == pytest.approx(3 * single["d1"], rel=1e-11)  # 12 significant digits  # d1 has dog, not owl
    assert doubled["d3"] == pytest.approx(single["d3"], rel=1e-11)  # 12 significant digits  # d3 has owl only
    ref = okapi([d.text.split() for d in TINY.values()]).get_scores(["dog", "dog", "owl", "dog"])
    np.testing.assert_allclose([doubled[d] for d in TINY], ref, rtol=1e-11)  # 12 significant digits


def test_empty_query_and_unknown_terms_score_zero():
    for text in ["", "the of and", "zebra giraffe"]:
        scores = BM25(analysis="regex").rerank([RankRequest("q", "og", text, "", tuple(TINY))], TINY)[0]
        assert scores == {"d1": 0.0, "d2": 0.0, "d3": 0.0}


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="stats='bogus'"):
        BM25(analysis="regex", stats="bogus")
    with pytest.raises(ValueError, match="b=1.5"):
        BM25(analysis="regex", b=1.5)


# --- the Analyzer -------------------------------------------------------------------------------------

def test_analyzer_removes_stopwords_and_stems():
    analyze = Analyzer()
    assert analyze("The hospitals were paying ransoms") == ["hospit", "pai", "ransom"]
    assert analyze("Running studies of the effects and their causes") == ["run", "studi", "effect", "caus"]
    tokens = analyze("Which of these is not about the hospitals in a city?")
    assert not {"which", "of", "these", "is", "not", "about", "the", "in", "a"} & set(tokens)
    assert tokens == ["hospit", "citi"]


def test_analyzer_lowercases_and_drops_single_characters():
    assert Analyzer()("A B-cell x Y HOSPITALS, 3 42") == ["cell", "hospit", "42"]


def test_analyzer_without_stemmer_or_stopwords():
    assert Analyzer(stemmer=None)("The hospitals") == ["hospitals"]
    assert Analyzer(stopwords="none", stemmer=None)("The hospitals") == ["the", "hospitals"]
    with pytest.raises(ValueError, match="unknown stopword list"):
        Analyzer(stopwords="fr")("text")


SAMPLE = ("Hospitals across the region reported ransomware attacks; the attackers demanded payments "
          "while hospital networks and patient records were encrypted, disrupting running operations.")


def test_analyzer_is_deterministic():
    first = Analyzer()(SAMPLE)
    warm = Analyzer()
    warm("hospital records encrypted operations")  # a warm stem cache must not change anything
    assert warm(SAMPLE) == first == Analyzer()(SAMPLE) == warm(SAMPLE)


def test_analyzer_is_deterministic_across_hash_seeds():
    # The stem cache is filled from a set, whose order depends on PYTHONHASHSEED.
    code = ("import json; from followir.models.text_analysis import Analyzer; "
            f"print(json.dumps(Analyzer()({SAMPLE!r})))")
    outputs = {subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == Analyzer()(SAMPLE)


# --- the paper's analysis (the registered bm25) ------------------------------------------------------

import string  # noqa: E402

from followir.models.text_analysis import PaperAnalyzer, nltk_english_stopwords  # noqa: E402

nltk_porter = pytest.importorskip("nltk.stem.porter", reason="pip install nltk (a core dependency)")
_STEM = nltk_porter.PorterStemmer().stem
_STOP = set(nltk_english_stopwords())


def reference_clean(s: str) -> str:
    """orionw/FollowIR models/bm25/evaluate_bm25.py lines 21-26 (clean), restated."""
    s = s.lower()
    s = " ".join([_STEM(w) for w in s.split(" ") if w not in _STOP])
    s = s.translate(str.maketrans("", "", string.punctuation))
    return s.strip()


def reference_scores(query: str, instruction: str, passages: list[str]) -> np.ndarray:
    """Lines 33-49: passages cleaned and split on spaces, query and instruction cleaned separately."""
    bm25 = okapi([[t for t in reference_clean(p).split(" ") if t] for p in passages])
    joined = (reference_clean(query) + " " + reference_clean(instruction.strip())).strip()
    return bm25.get_scores([t for t in joined.split(" ") if t])


def test_stopwords_are_nltks_179_word_list_and_bm25s_plus_list():
    words = nltk_english_stopwords()
    assert len(words) == len(set(words)) == 179
    assert words[:6] == ("i", "me", "my", "myself", "we", "our") and words[-2:] == ("wouldn", "wouldn't")
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    assert set(words) == set(STOPWORDS_EN_PLUS)
    # the 19 contractions nltk_data added in Feb 2025 (PR #228) are not in the list the paper used
    assert not {"i'm", "he's", "they're", "we've"} & set(words)


def test_paper_analyzer_stems_as_nltk_and_differs_from_the_regex_analysis():
    paper, regex = PaperAnalyzer(), Analyzer()
    assert paper("dying news") == ["die", "news"]  # NLTK's irregular forms
    assert regex("dying news") == ["dy", "new"]  # PyStemmer's original Porter
    # punctuation is removed after stemming, so an attached comma blocks the stem
    assert paper("dying, ransoms.") == ["dying", "ransoms"]
    # only single spaces split; newlines stay inside a term; the ends of the whole text are stripped
    assert paper("\nhospitals\nclosed  the, the u.s.\n") == ["hospitals\nclos", "the", "us"]
    assert paper("war the \n b") == ["war", "\n", "b"]  # a bare newline is a term mid-text
    for text in ["The hospitals were dying, news of paying ransoms.", "\nrunning\n  the, a\nb dying news .", "  ",
                 "U.S. officials -- (said) \"nothing\"\t at all!"]:
        assert paper(text) == [t for t in reference_clean(text).split(" ") if t]


def test_paper_bm25_matches_the_reference_on_followir_mini(mini):
    requests = [RankRequest(q.id, v, q.text, q.instruction(v), mini.candidates[q.id])
                for q in mini.queries for v in ("og", "changed", "none")]
    ours = BM25().rerank(requests, mini.corpus)
    assert BM25().describe()["settings"]["analysis"] == "paper"
    for request, scores in zip(requests, ours):
        pool = request.candidates
        ref = reference_scores(request.query, request.instruction, [mini.corpus[d].full_text for d in pool])
        assert (ref > 0).any()
        assert_matches(scores, pool, ref)


@pytest.mark.realdata
def test_paper_bm25_matches_the_reference_on_scifact(scifact):
    corpus, requests = scifact["corpus"], scifact["requests"]
    ours = BM25().rerank(requests, corpus)
    for request, scores in zip(requests, ours):
        pool = request.candidates
        assert_matches(scores, pool, reference_scores(request.query, request.instruction,
                                                      [corpus[d].full_text for d in pool]))


def test_paper_analysis_stems_each_distinct_token_once(monkeypatch):
    analyzer = PaperAnalyzer()
    calls = []
    stem = analyzer._stem
    monkeypatch.setattr(analyzer, "_stem", lambda w: calls.append(w) or stem(w))
    corpus = {f"d{i}": Document(f"d{i}", "hospitals were paying ransoms, hospitals paid") for i in range(50)}
    index_bm25 = BM25()
    index_bm25.analyzer = analyzer
    index_bm25.rerank([RankRequest("q", "og", "hospitals ransoms", "paid", tuple(corpus))], corpus)
    assert sorted(calls) == sorted({"hospitals", "paying", "ransoms,", "paid", "ransoms"})


def test_bm25_regex_is_registered_and_bm25_is_the_paper_analysis():
    from followir.models.registry import load_model

    assert load_model("bm25").describe()["settings"]["analysis"] == "paper"
    assert load_model("bm25-regex").describe()["settings"]["analysis"] == "regex"
    with pytest.raises(ValueError, match="analysis"):
        BM25(analysis="snowball")
