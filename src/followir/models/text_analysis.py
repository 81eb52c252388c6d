r"""Text analysis for lexical models.

Two analyzers, chosen by name (``make_analyzer``):

- ``paper`` (``PaperAnalyzer``): exactly the FollowIR reference's ``clean()``
  (orionw/FollowIR ``models/bm25/evaluate_bm25.py`` lines 21-26, 34, 40-48): lowercase, split on single
  spaces, drop NLTK English stopwords, stem each space token with NLTK's ``PorterStemmer`` (default
  NLTK_EXTENSIONS mode) with its punctuation still attached, delete ``string.punctuation`` after stemming,
  strip the ends of the whole cleaned text, split on spaces again and drop empty tokens. Quirks kept:
  ``"word,"`` is stemmed as ``"word,"`` and becomes ``"word"`` (so "dying," gives "dying", "dying" gives
  "die"); newlines and tabs do not split tokens (``"a\nb"`` is one term); a stopword with punctuation
  attached (``"the,"``) is not dropped.
- ``regex`` (``Analyzer``): lowercase ``\w\w+`` tokens, the same stopwords, PyStemmer's original Porter
  algorithm. Faster-looking text, different stems ("dying" -> "dy", "news" -> "new").

Both analyse each distinct token once (stems are cached per token).
"""

from __future__ import annotations

import re
import string
from functools import cached_property, lru_cache
from importlib import resources

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
ANALYZERS = ("paper", "regex")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


@lru_cache(maxsize=None)
def nltk_english_stopwords() -> tuple[str, ...]:
    """NLTK's 179-word English stopword list as the paper used it (packaged data, see the file's header)."""
    text = (resources.files("followir.models") / "data" / "nltk_english_stopwords.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


class PaperAnalyzer:
    """The reference BM25's ``clean()`` followed by its ``split(" ")``, token for token.

    >>> PaperAnalyzer()("The hospitals were dying, news of paying ransoms.")
    ['hospit', 'dying', 'news', 'pay', 'ransoms']
    """

    name = "paper"
    strips_edges = True  # the reference strips the whole cleaned text: see ``strip_edges``

    def __init__(self):
        self._terms: dict[str, str | None] = {}

    @cached_property
    def stopwords(self) -> frozenset[str]:
        return frozenset(nltk_english_stopwords())

    @cached_property
    def _stem(self):
        from nltk.stem.porter import PorterStemmer

        return PorterStemmer().stem  # default mode: NLTK_EXTENSIONS, as the reference

    def words(self, text: str) -> list[str]:
        """Space tokens of the lowercased text (empty tokens included; they analyse to nothing)."""
        return text.lower().split(" ")

    def terms_of_words(self, words: list[str]) -> list[str | None]:
        """Each token's term, or None when it is a stopword or nothing is left after punctuation removal."""
        terms = self._terms
        for word in set(words).difference(terms):
            if word in self.stopwords:
                terms[word] = None
            else:
                terms[word] = self._stem(word).translate(_PUNCTUATION) or None
        return [terms[w] for w in words]

    @staticmethod
    def strip_edges(terms: list[str]) -> list[str]:
        """What ``" ".join(terms).strip().split(" ")`` keeps: leading whitespace off the first terms and
        trailing whitespace off the last ones (a term of whitespace only, such as "\n", vanishes there
        but stays a term in the middle of a text)."""
        start, end = 0, len(terms)
        while start < end and not terms[start].strip():
            start += 1
        while end > start and not terms[end - 1].strip():
            end -= 1
        out = terms[start:end]
        if out:
            out[0] = out[0].lstrip()
            out[-1] = out[-1].rstrip()
        return out

    def __call__(self, text: str) -> list[str]:
        return self.strip_edges([t for t in self.terms_of_words(self.words(text)) if t is not None])

    def describe(self) -> dict:
        return {"analysis": "paper", "stopwords": "nltk-english-179", "stemmer": "nltk-porter",
                "tokens": "split on ' ', punctuation removed after stemming"}


def make_analyzer(analysis: str = "paper", stopwords: str = "en", stemmer: str | None = "porter"):
    """``paper`` (the reference's analysis; stopwords/stemmer do not apply) or ``regex`` (``Analyzer``)."""
    if analysis == "paper":
        if stopwords != "en" or stemmer != "porter":
            raise ValueError("analysis='paper' uses NLTK's stopwords and Porter stemmer as the paper did; "
                             "use analysis='regex' to choose stopwords or stemmer")
        return PaperAnalyzer()
    if analysis == "regex":
        return Analyzer(stopwords, stemmer)
    raise ValueError(f"analysis={analysis!r}: use one of {', '.join(ANALYZERS)}")


class Analyzer:
    """The ``regex`` analysis: turns text into terms. Callable; deterministic; caches stems per distinct word.

    >>> Analyzer()("The hospitals were paying ransoms")
    ['hospit', 'pai', 'ransom']
    """

    name = "regex"
    strips_edges = False

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
        return {"analysis": "regex", "stopwords": self.stopwords_name, "stemmer": self.stemmer_name,
                "token_pattern": TOKEN_PATTERN.pattern}
