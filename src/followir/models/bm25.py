r"""BM25 as the FollowIR paper ran it: Okapi BM25 over each query's candidate pool.

``analysis="paper"`` (the default, the registered ``bm25``) analyses text exactly as the reference's
``clean()`` (orionw/FollowIR ``models/bm25/evaluate_bm25.py``; see ``text_analysis.PaperAnalyzer``):
query and instruction are cleaned separately and their terms joined (reference lines 40-48).
``analysis="regex"`` (registered as ``bm25-regex``) is followir's earlier analysis: ``\w\w+`` tokens of
``query + " " + instruction``, PyStemmer's Porter stems (``text_analysis.Analyzer``).
Scores equal ``rank_bm25.BM25Okapi`` built on the pool's tokens (k1=1.5, b=0.75, negative idf floored to
``epsilon * mean idf``), but computed with numpy over term-id arrays: every document is analysed once per
run and shared by og and changed queries and across queries, and pool statistics are computed once per
distinct pool.

``stats="corpus"`` uses collection-wide statistics (N, document frequencies, average length and the
idf floor over the whole corpus) instead of each pool's.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from followir.models.base import NoProgress, Progress, RankRequest
from followir.models.text_analysis import Analyzer, PaperAnalyzer, make_analyzer
from followir.records import Document

SIGNIFICANT_DIGITS = 12


def round_significant(x: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Scores rounded to ``digits`` significant digits, so that mathematically equal scores tie exactly
    whatever the floating-point summation order (ties then fall to the document id, as everywhere).

    >>> round_significant(np.array([6.166046685956969, 6.166046685956967, 0.0])).tolist()
    [6.16604668596, 6.16604668596, 0.0]
    """
    magnitude = np.floor(np.log10(np.abs(x), where=x != 0, out=np.zeros_like(x)))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(x * scale) / scale


class _TermIndex:
    """Documents as (sorted unique term ids, counts, length), analysed once.

    Every distinct word is analysed once (stem, or stopword) and mapped to a term id; a document then
    costs one C-level dictionary lookup per token and a few numpy calls.
    """

    def __init__(self, analyzer: Analyzer | PaperAnalyzer):
        self.analyzer = analyzer
        self.vocab: dict[str, int] = {}  # term -> id
        self.term_of_id: list[str] = []
        self.word_ids: dict[str, int] = {}  # word -> term id, -1 for stopwords
        self.row: dict[str, int] = {}
        self.terms: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.lengths: list[int] = []

    def _ids(self, words: list[str]) -> np.ndarray:
        word_ids = self.word_ids
        new = set(words).difference(word_ids)
        if new:
            new_words = list(new)
            for word, term in zip(new_words, self.analyzer.terms_of_words(new_words)):
                word_ids[word] = -1 if term is None else self._term_id(term)
        ids = np.fromiter(map(word_ids.__getitem__, words), dtype=np.int64, count=len(words))
        ids = ids[ids >= 0]
        if self.analyzer.strips_edges and ids.size:
            ids = self._strip_edges(ids)
        return ids

    def _term_id(self, term: str) -> int:
        term_id = self.vocab.get(term)
        if term_id is None:
            term_id = self.vocab[term] = len(self.term_of_id)
            self.term_of_id.append(term)
        return term_id

    def _strip_edges(self, ids: np.ndarray) -> np.ndarray:
        """The reference strips the whole cleaned text, so the first and last terms may lose whitespace
        ("\n" at a passage's end); rare, so the whole list is redone only then."""
        first, last = self.term_of_id[ids[0]], self.term_of_id[ids[-1]]
        if first == first.lstrip() and last == last.rstrip():
            return ids
        kept = self.analyzer.strip_edges([self.term_of_id[i] for i in ids])
        return np.asarray([self._term_id(t) for t in kept], dtype=np.int64)

    def add(self, doc_id: str, text: str) -> None:
        if doc_id in self.row:
            return
        ids = self._ids(self.analyzer.words(text))
        terms, counts = np.unique(ids, return_counts=True)
        self.row[doc_id] = len(self.terms)
        self.terms.append(terms)
        self.counts.append(counts.astype(np.float64))
        self.lengths.append(int(ids.size))

    def query_terms(self, request: RankRequest) -> tuple[np.ndarray, np.ndarray]:
        """Query term ids with their multiplicity (rank_bm25 adds a term once per occurrence).
        Terms no document contains score 0 and are dropped. The paper analysis cleans query and
        instruction separately (the instruction stripped first) and joins the terms (reference lines 40-48)."""
        if isinstance(self.analyzer, PaperAnalyzer):
            terms = self.analyzer(request.query) + self.analyzer(request.instruction.strip())
        else:
            terms = self.analyzer(request.text)
        ids = [self.vocab[t] for t in terms if t in self.vocab]
        if not ids:
            return np.empty(0, dtype=np.int64), np.empty(0)
        terms, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        return terms, counts.astype(np.float64)


class _Stats:
    """idf per term id (dense over the vocabulary) and average document length for one document set."""

    def __init__(self, index: _TermIndex, rows: np.ndarray, epsilon: float):
        n = rows.size
        all_terms = np.concatenate([index.terms[r] for r in rows]) if n else np.empty(0, dtype=np.int64)
        df = np.bincount(all_terms, minlength=len(index.vocab)).astype(np.float64)
        present = df > 0
        idf = np.log(n - df + 0.5) - np.log(df + 0.5)
        mean_idf = float(idf[present].mean()) if present.any() else 0.0
        idf[present & (idf < 0)] = epsilon * mean_idf
        idf[~present] = 0.0
        self.idf = idf
        lengths = np.asarray([index.lengths[r] for r in rows], dtype=np.float64)
        self.avgdl = float(lengths.sum() / n) if n else 0.0


class BM25:
    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25, stats: str = "pool",
                 stopwords: str = "en", stemmer: str | None = "porter", analysis: str = "paper"):
        if stats not in ("pool", "corpus"):
            raise ValueError(f"stats={stats!r}: use 'pool' (per-query candidate pool) or 'corpus'")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"k1={k1}, b={b}: need k1 >= 0 and 0 <= b <= 1")
        self.k1, self.b, self.epsilon, self.stats = k1, b, epsilon, stats
        self.analyzer = make_analyzer(analysis, stopwords, stemmer)

    def describe(self) -> dict:
        return {"family": "bm25", "settings": {"k1": self.k1, "b": self.b, "epsilon": self.epsilon,
                                               "stats": self.stats, **self.analyzer.describe()}}

    def rerank(self, requests: Sequence[RankRequest], corpus: Mapping[str, Document],
               progress: Progress | None = None) -> list[dict[str, float]]:
        progress = progress or NoProgress()
        progress.start(len(requests), "rankings")
        index = _TermIndex(self.analyzer)
        needed = corpus if self.stats == "corpus" else {d: None for r in requests for d in r.candidates}
        for doc_id in needed:
            index.add(doc_id, corpus[doc_id].full_text)
        corpus_stats = None
        if self.stats == "corpus":
            corpus_stats = _Stats(index, np.arange(len(index.terms)), self.epsilon)
        pool_stats: dict[tuple[str, ...], _Stats] = {}
        results = []
        for request in requests:
            rows = np.fromiter((index.row[d] for d in request.candidates), dtype=np.int64,
                               count=len(request.candidates))
            stats = corpus_stats
            if stats is None:
                stats = pool_stats.get(request.candidates)
                if stats is None:
                    stats = pool_stats[request.candidates] = _Stats(index, rows, self.epsilon)
            scores = self._score(index, rows, stats, *index.query_terms(request))
            results.append(dict(zip(request.candidates, scores.tolist())))
            progress.advance(1)
        return results

    def _score(self, index: _TermIndex, rows: np.ndarray, stats: _Stats, q_terms: np.ndarray,
               q_counts: np.ndarray) -> np.ndarray:
        n = rows.size
        scores = np.zeros(n)
        if n == 0 or q_terms.size == 0:
            return scores
        sizes = np.fromiter((index.terms[r].size for r in rows), dtype=np.int64, count=n)
        terms = np.concatenate([index.terms[r] for r in rows])
        tf = np.concatenate([index.counts[r] for r in rows])
        owner = np.repeat(np.arange(n), sizes)
        hit = np.isin(terms, q_terms)
        terms, tf, owner = terms[hit], tf[hit], owner[hit]
        lengths = np.fromiter((index.lengths[r] for r in rows), dtype=np.float64, count=n)
        norm = self.k1 * (1 - self.b + self.b * lengths / stats.avgdl) if stats.avgdl else np.full(n, self.k1)
        weight = q_counts[np.searchsorted(q_terms, terms)] * stats.idf[terms]
        contribution = weight * tf * (self.k1 + 1) / (tf + norm[owner])
        return round_significant(np.bincount(owner, weights=contribution, minlength=n))
