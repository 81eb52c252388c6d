"""BM25 over a whole corpus with bm25s, the text analysed exactly as followir's BM25 analyses it.

Text goes through ``followir.models.text_analysis.Analyzer`` (lowercase word tokens, NLTK's English stopwords,
Porter stems); bm25s receives the resulting term ids, so bm25s's own tokenizer never runs.

The variant is bm25s's ``method="robertson"`` by default, the classic Okapi BM25 that ``rank_bm25.BM25Okapi``
and followir's ``BM25`` implement: idf = ln((N - df + 0.5) / (df + 0.5)), term weight
tf / (tf + k1 (1 - b + b |d| / avgdl)), k1 = 1.5, b = 0.75, a query term counted once per occurrence. bm25s
leaves out the constant factor (k1 + 1); it is multiplied back so that scores equal followir's
``BM25(stats="corpus")`` and ``rank_bm25`` on the same tokens. One difference remains: a term in more than
half of the documents has a negative Robertson idf, which bm25s sets to 0 and rank_bm25 to 0.25 x the mean
idf. Stopword removal makes such terms rare; where none occurs in a query, rankings and scores agree exactly.
Other bm25s variants (``lucene``, ``atire``, ``bm25l``, ``bm25+``) are available through ``method``.

A document that shares no term with a query scores 0 and is not retrieved (as in Lucene); a run may therefore
hold fewer than k documents.
"""

from __future__ import annotations

import logging
import time
from typing import Mapping, Sequence

import numpy as np

from followir.models.base import NoProgress, Progress
from followir.models.text_analysis import Analyzer
from followir.records import Run
from followir.retrieval.topk import id_ranks, top_k

METHODS = ("robertson", "lucene", "atire", "bm25l", "bm25+")


def _import_bm25s():
    import bm25s

    # bm25s sets its logger to DEBUG when imported; let the application's logging settings decide instead
    library_logger = logging.getLogger("bm25s")
    if library_logger.level == logging.DEBUG:
        library_logger.setLevel(logging.NOTSET)
    return bm25s


class _Vocabulary:
    """Words to term ids; every distinct word is analysed (stopword test, stem) once."""

    def __init__(self, analyzer: Analyzer):
        self.analyzer = analyzer
        self.terms: dict[str, int] = {}
        self.words: dict[str, int] = {}  # word -> term id, -1 for stopwords

    def ids(self, text: str, grow: bool) -> list[int]:
        words = self.analyzer.words(text)
        new = [w for w in set(words) if w not in self.words]
        if new:
            for word, term in zip(new, self.analyzer.terms_of_words(new)):
                if term is None:
                    self.words[word] = -1
                elif term in self.terms:
                    self.words[word] = self.terms[term]
                elif grow:
                    self.words[word] = self.terms.setdefault(term, len(self.terms))
                # a query word whose stem no document has is left unmapped: it cannot match
        lookup = self.words.get
        return [i for i in (lookup(w, -1) for w in words) if i >= 0]


class LexicalIndex:
    """A bm25s index over ``texts`` (aligned with ``doc_ids``); ``search`` returns a ``Run``."""

    name = "bm25"

    def __init__(self, doc_ids: Sequence[str], texts: Sequence[str], *, k1: float = 1.5, b: float = 0.75,
                 method: str = "robertson", analyzer: Analyzer | None = None,
                 progress: Progress | None = None):
        bm25s = _import_bm25s()
        if len(doc_ids) != len(texts):
            raise ValueError(f"{len(doc_ids)} document ids but {len(texts)} texts")
        if not doc_ids:
            raise ValueError("cannot index an empty corpus")
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("document ids must be unique")
        if method not in METHODS:
            raise ValueError(f"method={method!r}: use one of {', '.join(METHODS)}")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"k1={k1}, b={b}: need k1 >= 0 and 0 <= b <= 1")
        self.k1, self.b, self.method = k1, b, method
        self.analyzer = analyzer or Analyzer()
        self.doc_ids = list(doc_ids)
        self._ranks = id_ranks(self.doc_ids)
        progress = progress or NoProgress()
        progress.start(len(texts), "documents")
        start = time.perf_counter()
        self._vocab = _Vocabulary(self.analyzer)
        corpus_ids = []
        for i, text in enumerate(texts):
            corpus_ids.append(self._vocab.ids(text, grow=True))
            if (i + 1) % 1000 == 0:
                progress.advance(1000)
        progress.advance(len(texts) % 1000)
        self._bm25 = bm25s.BM25(k1=k1, b=b, method=method, dtype="float64")
        if not self._vocab.terms:
            raise ValueError("no document has a single indexable term (all empty or stopwords)")
        self._bm25.index(bm25s.tokenization.Tokenized(ids=corpus_ids, vocab=dict(self._vocab.terms)),
                         create_empty_token=False, show_progress=False)
        # bm25s's Robertson term weight omits the constant (k1 + 1) of the classic formula
        self._scale = (k1 + 1.0) if method == "robertson" else 1.0
        self.index_seconds = time.perf_counter() - start

    def describe(self) -> dict:
        return {"index": "bm25s", "method": self.method, "k1": self.k1, "b": self.b,
                "documents": len(self.doc_ids), "terms": len(self._vocab.terms), **self.analyzer.describe()}

    def scores(self, text: str) -> np.ndarray:
        """BM25 score of every document for one query text (0 where no term matches)."""
        ids = self._vocab.ids(text, grow=False)
        if not ids:
            return np.zeros(len(self.doc_ids))
        return self._bm25.get_scores_from_ids(ids) * self._scale

    def search(self, queries: Mapping[str, str], k: int, progress: Progress | None = None,
               name: str = "bm25") -> Run:
        """The top ``k`` documents of every query (``queries``: query id -> the text BM25 sees)."""
        progress = progress or NoProgress()
        progress.start(len(queries), "queries")
        out: dict[str, dict[str, float]] = {}
        for qid, text in queries.items():
            scores = self.scores(text)
            best = top_k(scores, k, self._ranks)
            out[qid] = {self.doc_ids[i]: float(scores[i]) for i in best if scores[i] > 0}
            progress.advance(1)
        return Run(out, name=name)
