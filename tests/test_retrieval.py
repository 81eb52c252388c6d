"""Full-collection retrieval: top-k with followir's tie rule, exact dense search against brute force, BM25
through bm25s against followir's BM25 and rank_bm25, the HNSW option against exact search, the BEIR reader."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from followir.data import load_task
from followir.data.beir import dataset_key, read_beir_folder
from followir.errors import DataFormatError, MissingDependencyError
from followir.models.base import RankRequest
from followir.models.bm25 import BM25
from followir.models.embedding import EmbeddingReranker
from followir.models.templates import get_template
from followir.models.text_analysis import Analyzer
from followir.records import Document, rank_documents
from followir.retrieval import HNSWSettings, Searcher, SearchRequest, id_ranks, top_k
from followir.retrieval.dense import exact_search
from followir.retrieval.lexical import LexicalIndex

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "beir-scifact"


# --- top k and exact dense search ------------------------------------------------------------------------

def test_top_k_breaks_ties_by_document_id_descending():
    ranks = id_ranks(["d1", "d2", "d3", "d4", "d5"])
    scores = np.array([0.5, 0.9, 0.9, 0.1, 0.9])
    assert top_k(scores, 2, ranks).tolist() == [4, 2]  # d5, d3: the tie at 0.9 keeps the largest ids
    assert top_k(scores, 4, ranks).tolist() == [4, 2, 1, 0]
    assert top_k(scores, 10, ranks).tolist() == [4, 2, 1, 0, 3]  # k above the corpus size: everything
    assert top_k(scores, 0, ranks).tolist() == []
    with pytest.raises(ValueError, match="NaN"):
        top_k(np.array([1.0, np.nan]), 1, id_ranks(["a", "b"]))


def test_exact_search_on_a_small_matrix_by_hand():
    ids = ["a", "b", "c", "d"]
    docs = np.array([[1, 0], [0, 1], [1, 1], [1, 0]], dtype=np.float32)
    queries = np.array([[1, 0], [0, 2]], dtype=np.float32)
    # q1 scores a=1 b=0 c=1 d=1: the three-way tie orders d, c, a. q2 scores a=0 b=2 c=2 d=0: c, b, then d.
    expected = [([3, 2, 0], [1, 1, 1]), ([2, 1, 3], [2, 2, 0])]
    for block_elements in (1, 4, 1 << 20):  # one query per block, one per block, all at once
        found = exact_search(queries, docs, 3, id_ranks(ids), block_elements=block_elements)
        assert [(i.tolist(), s.tolist()) for i, s in found] == expected


def test_exact_search_equals_brute_force_ranking():
    # Small integer vectors: every product is exact in float32 whatever the BLAS kernel, and ties are common.
    rng = np.random.default_rng(7)
    docs = rng.integers(-3, 4, size=(500, 16)).astype(np.float32)
    queries = rng.integers(-3, 4, size=(40, 16)).astype(np.float32)
    ids = [f"doc{i:03d}" for i in rng.permutation(500)]
    found = exact_search(queries, docs, 25, id_ranks(ids), block_elements=2000)
    for q, (idx, scores) in zip(queries, found):
        full = docs @ q
        reference = rank_documents({ids[i]: float(full[i]) for i in range(500)})[:25]
        assert [ids[i] for i in idx] == reference
        np.testing.assert_array_equal(scores, full[idx])
        assert len(set(full[idx].tolist())) < 25  # the cut went through ties


class TableEncoder(EmbeddingReranker):
    """An embedding model whose vectors are written down: results can be worked out by hand."""

    def __init__(self, vectors: dict[str, list[float]], similarity: str):
        self.vectors = {t: np.asarray(v, dtype=np.float32) for t, v in vectors.items()}
        self.similarity = similarity
        self.template = get_template("plain")
        self.name = "table"
        self.seen: list[str] = []

    def encode(self, texts, progress=None):
        self.seen.extend(texts)
        return {t: self.vectors[t] for t in texts}


def test_dense_index_uses_cosine_or_dot_as_the_model_requires():
    vectors = {"long": [3.0, 0.0], "diag": [1.0, 1.0], "q": [1.0, 0.2]}
    corpus = {"d1": Document("d1", "long"), "d2": Document("d2", "diag")}
    dot = Searcher(TableEncoder(vectors, "dot"), corpus).search([SearchRequest("1", "q")], 10)
    cosine = Searcher(TableEncoder(vectors, "cosine"), corpus).search([SearchRequest("1", "q")], 10)
    assert dot.ranking("1") == ["d1", "d2"] and dot.scores["1"]["d1"] == pytest.approx(3.0)
    assert dot.scores["1"]["d2"] == pytest.approx(1.2)
    norm_q = math.hypot(1.0, 0.2)
    assert cosine.scores["1"]["d1"] == pytest.approx(1.0 / norm_q, rel=1e-6)
    assert cosine.scores["1"]["d2"] == pytest.approx(1.2 / (norm_q * math.sqrt(2)), rel=1e-6)


def test_dense_index_encodes_documents_once_and_renders_queries_with_the_template():
    encoder = TableEncoder({"x": [1.0, 0.0], "y": [0.0, 1.0], "q i": [0.0, 1.0], "q": [1.0, 0.0]}, "dot")
    searcher = Searcher(encoder, {"a": Document("a", "x"), "b": Document("b", "y")})
    assert encoder.seen == ["x", "y"]
    run = searcher.search([SearchRequest("1", "q", "i"), SearchRequest("2", "q")], 1)
    assert encoder.seen[2:] == ["q i", "q"]  # "{query} {instruction}", collapsing without an instruction
    assert run.scores == {"1": {"b": 1.0}, "2": {"a": 1.0}}


def test_searcher_refuses_pair_scorers_and_bad_requests():
    class PairScorer:
        name = "cross"

        def describe(self):
            return {"family": "cross-encoder"}

    with pytest.raises(ValueError, match="cannot search a whole collection"):
        Searcher(PairScorer(), {"a": Document("a", "x")})
    searcher = Searcher(BM25(), {"a": Document("a", "solar panels")})
    with pytest.raises(ValueError, match="own query id"):
        searcher.search([SearchRequest("1", "solar"), SearchRequest("1", "panels")], 5)
    with pytest.raises(ValueError, match="top-k"):
        searcher.search([SearchRequest("1", "solar")], 0)
    with pytest.raises(ValueError, match="approximate"):
        Searcher(BM25(), {"a": Document("a", "x")}, approximate=HNSWSettings())


# --- BM25 through bm25s ----------------------------------------------------------------------------------

def test_bm25_score_by_hand():
    corpus = {"d1": Document("d1", "cats chase mice"), "d2": Document("d2", "dogs chase cats"),
              "d3": Document("d3", "birds sing")}
    run = Searcher(BM25(), corpus).search([SearchRequest("q", "mice")], 10)
    # "mice" is in 1 of 3 documents; d1 has 3 terms, the average is 8/3.
    idf = math.log((3 - 1 + 0.5) / (1 + 0.5))
    expected = idf * 1 * 2.5 / (1 + 1.5 * (1 - 0.75 + 0.75 * 3 / (8 / 3)))
    assert run.scores == {"q": {"d1": pytest.approx(expected, rel=1e-12)}}  # non-matching documents: left out


def test_bm25s_floors_negative_idf_at_zero_where_rank_bm25_uses_epsilon():
    """Where the bm25s Robertson variant differs from rank_bm25: terms in more than half the corpus."""
    rank_bm25 = pytest.importorskip("rank_bm25")
    texts = ["apple banana", "apple cherry", "apple date", "fig grape"]
    index = LexicalIndex(["a", "b", "c", "d"], texts)
    assert index.search({"q": "apple"}, 10).scores == {"q": {}}  # idf ln(1.5/3.5) < 0 -> 0: nothing retrieved
    analyze = Analyzer()
    reference = rank_bm25.BM25Okapi([analyze(t) for t in texts]).get_scores(analyze("apple"))
    assert (reference[:3] > 0).all() and reference[3] == 0  # rank_bm25 floors at 0.25 x mean idf instead


@pytest.fixture(scope="module")
def mini():
    return load_task("followir-mini")


def test_bm25s_search_equals_followir_bm25_with_corpus_statistics(mini):
    """Same tokens, same Robertson idf, same k1 and b: scores agree to 1e-12 and rankings exactly, because no
    query term of followir-mini is in more than half the corpus (the two floor negative idf differently)."""
    analyze = Analyzer()
    n = len(mini.corpus)
    df: dict[str, int] = {}
    for doc in mini.corpus.values():
        for term in set(analyze(doc.full_text)):
            df[term] = df.get(term, 0) + 1
    assert any(c > n / 2 for c in df.values())  # such terms exist ("said")...
    searcher = Searcher(BM25(stats="corpus"), mini.corpus)
    everything = tuple(mini.corpus)
    reference_model = BM25(stats="corpus")
    for variant in ("none", "og", "changed"):
        requests = [SearchRequest(q.id, q.text, q.instruction(variant)) for q in mini.queries]
        for r in requests:  # ...but no query uses one
            assert all(df.get(t, 0) <= n / 2 for t in analyze(f"{r.query} {r.instruction}"))
        run = searcher.search(requests, 1000)
        reference = reference_model.rerank(
            [RankRequest(r.query_id, "og", r.query, r.instruction, everything) for r in requests],
            mini.corpus)
        for r, ref in zip(requests, reference):
            matching = {d: s for d, s in ref.items() if s > 0}
            assert run.ranking(r.query_id) == rank_documents(matching)
            got = run.scores[r.query_id]
            assert max(abs(got[d] - matching[d]) / max(abs(matching[d]), 1.0) for d in got) < 1e-11  # 12 digits


def test_top_k_cut_keeps_the_first_k_of_the_full_ranking(mini):
    searcher = Searcher(BM25(), mini.corpus)
    requests = [SearchRequest(q.id, q.text, q.instruction_og) for q in mini.queries]
    full, cut = searcher.search(requests, 1000), searcher.search(requests, 7)
    for r in requests:
        assert cut.ranking(r.query_id) == full.ranking(r.query_id)[:7]


@pytest.mark.realdata
@pytest.mark.slow
def test_bm25s_search_matches_rank_bm25_on_scifact():
    rank_bm25 = pytest.importorskip("rank_bm25")
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"real SciFact data not found at {SCIFACT}")
    data = read_beir_folder(SCIFACT)
    analyze = Analyzer()
    ids = list(data.corpus)
    tokens = [analyze(data.corpus[d].full_text) for d in ids]
    reference = rank_bm25.BM25Okapi(tokens, k1=1.5, b=0.75, epsilon=0.25)
    assert all(v > 0 for v in reference.idf.values())  # no SciFact term is in more than half the abstracts
    queries = dict(list(data.queries.items())[:30])
    run = LexicalIndex(ids, [data.corpus[d].full_text for d in ids]).search(queries, 100)
    for qid, text in queries.items():
        ref = reference.get_scores(analyze(text))
        expected = rank_documents({ids[i]: float(ref[i]) for i in np.flatnonzero(ref > 0)})[:100]
        assert run.ranking(qid) == expected
        np.testing.assert_allclose([run.scores[qid][d] for d in expected],
                                   [ref[ids.index(d)] for d in expected], rtol=1e-9)


# --- approximate search ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_hnsw_recall_at_10_against_exact_search():
    pytest.importorskip("faiss", reason="pip install 'followir[ann]'")
    from followir.retrieval.approximate import HNSWIndex
    from followir.retrieval.dense import normalize

    rng = np.random.default_rng(0)
    docs = normalize(rng.normal(size=(4000, 64)).astype(np.float32))
    queries = normalize(rng.normal(size=(200, 64)).astype(np.float32))
    ranks = id_ranks([f"d{i}" for i in range(4000)])
    exact = exact_search(queries, docs, 10, ranks)
    index = HNSWIndex(docs, HNSWSettings(ef_search=64))  # a narrower beam than the default, so not exact
    approx = index.search(queries, 10, ranks)
    recall = np.mean([len(set(a.tolist()) & set(e.tolist())) / 10 for (a, _), (e, _) in zip(approx, exact)])
    assert recall >= 0.9
    for q, (idx, scores) in zip(queries, approx):  # scores are exact inner products, best first
        np.testing.assert_allclose(scores, docs[idx] @ q, rtol=1e-5, atol=1e-6)
        assert np.all(np.diff(scores) <= 0)


def test_approximate_search_through_the_searcher_returns_exact_scores():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    vectors = {f"t{i}": rng.normal(size=8).tolist() for i in range(300)}
    corpus = {f"d{i}": Document(f"d{i}", f"t{i}") for i in range(300)}
    encoder = TableEncoder({**vectors, "q": vectors["t5"]}, "cosine")
    searcher = Searcher(encoder, corpus, approximate=HNSWSettings(ef_search=64))
    run = searcher.search([SearchRequest("1", "q")], 5)
    assert run.ranking("1")[0] == "d5" and run.scores["1"]["d5"] == pytest.approx(1.0, abs=1e-5)


def test_missing_faiss_names_the_install_command(monkeypatch):
    from followir.retrieval.approximate import HNSWIndex

    monkeypatch.setitem(sys.modules, "faiss", None)  # makes "import faiss" fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'followir\[ann\]'"):
        HNSWIndex(np.zeros((2, 2), dtype=np.float32))


# --- BEIR folders ----------------------------------------------------------------------------------------

def write_beir(folder: Path, corpus, queries, qrels, queries_name="queries.jsonl"):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (folder / queries_name).write_text("".join(json.dumps(r) + "\n" for r in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                               "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels))


def test_beir_reader_keeps_judged_queries_and_drops_unknown_documents(tmp_path):
    write_beir(tmp_path / "beir-scifact",
               [{"_id": "d1", "title": "T", "text": "x"}, {"_id": "d2", "text": "y"}],
               [{"_id": "1", "text": "q one"}, {"_id": "2", "text": "q two"}],
               [("1", "d1", 1), ("1", "gone", 1)])
    data = read_beir_folder(tmp_path / "beir-scifact")
    assert data.queries == {"1": "q one"} and data.qrels.to_dict() == {"1": {"d1": 1}}
    assert data.dropped_judgements == 1 and data.corpus["d1"].full_text == "T x"
    assert dataset_key(data.name) == "scifact"


def test_beir_reader_errors_name_the_file_and_the_fix(tmp_path):
    write_beir(tmp_path / "a", [{"_id": "d1", "text": "x"}, {"_id": "d1", "text": "y"}], [], [("1", "d1", 1)])
    with pytest.raises(DataFormatError, match=r"corpus.jsonl:2: document 'd1' appears twice"):
        read_beir_folder(tmp_path / "a")
    write_beir(tmp_path / "b", [{"_id": "d1", "text": "x"}], [{"_id": "1", "text": "q"}], [("7", "d1", 1)])
    with pytest.raises(DataFormatError, match="judged queries are not in queries.jsonl"):
        read_beir_folder(tmp_path / "b")
    with pytest.raises(DataFormatError, match="qrels/dev.tsv"):
        read_beir_folder(tmp_path / "b", split="dev")
