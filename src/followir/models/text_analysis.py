"""Text analysis for lexical models: lowercase word tokens, English stopwords removed, Porter stems.

Stopwords are NLTK's English list as shipped by bm25s (``STOPWORDS_EN_PLUS``); stemming is the
original Porter algorithm from PyStemmer (Snowball's C implementation).
"""

from __future__ import annotations

import re
from functools import cached_property

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


class Analyzer:
    """Turns text into terms. Callable; deterministic; caches stems per distinct word.

    >>> Analyzer()("The hospitals were paying ransoms")
    ['hospit', 'pai', 'ransom']
    """

    def __init__(self, stopwords: str = "en", stemmer: str | None = "porter"):
        self.stopwords_name = stopwords
        self.stemmer_name = stemmer
        self._stems: dict[str, str] = {}

    @cached_property
    def stopwords(self) -> frozenset[str]:
        if self.stopwords_name in ("", "none", None):
            return frozenset()
        if self.stopwords_name != "en":
            raise ValueError(f"unknown stopword list {self.stopwords_name!r}; use 'en' or 'none'")
        from bm25s.stopwords import STOPWORDS_EN_PLUS

        return frozenset(STOPWORDS_EN_PLUS)

    @cached_property
    def _stemmer(self):
        if not self.stemmer_name:
            return None
        import Stemmer

        return Stemmer.Stemmer(self.stemmer_name)

    def __call__(self, text: str) -> list[str]:
        words = self.words(text)
        terms = dict(zip(set(words), self.terms_of_words(list(set(words)))))
        return [t for t in (terms[w] for w in words) if t is not None]

    def words(self, text: str) -> list[str]:
        """Lowercased word tokens, stopwords included (the first step of ``__call__``)."""
        return TOKEN_PATTERN.findall(text.lower())

    def terms_of_words(self, words: list[str]) -> list[str | None]:
        """The term of each word: its stem, or None for a stopword. Stems are cached per word."""
        stop = self.stopwords
        if self._stemmer is None:
            return [None if w in stop else w for w in words]
        stems = self._stems
        new = [w for w in words if w not in stems]
        if new:
            stems.update(zip(new, self._stemmer.stemWords(new)))
        return [None if w in stop else stems[w] for w in words]

    def describe(self) -> dict:
        return {"stopwords": self.stopwords_name, "stemmer": self.stemmer_name, "token_pattern": TOKEN_PATTERN.pattern}
