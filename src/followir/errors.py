"""Exceptions raised by followir. Every data error names the file, the line and the fix."""

from __future__ import annotations


class FollowIRError(Exception):
    """Base class for followir errors."""


class DataFormatError(FollowIRError, ValueError):
    """Bad input data: says which file, which line or row, what is wrong and how to fix it.

    >>> str(DataFormatError("qrels.txt", 3, "relevance 'x' is not an integer", "use 0, 1 or 2"))
    "qrels.txt:3: relevance 'x' is not an integer. Fix: use 0, 1 or 2"
    """

    def __init__(self, path: object, line: int | None, problem: str, fix: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}. Fix: {fix}")


def did_you_mean(name: str, known) -> str:
    """`` Did you mean 'bm25'?`` for a near miss among ``known`` names, else an empty string.

    >>> did_you_mean("bm52", ["bm25", "bm25-corpus", "e5-base-v2"])
    " Did you mean 'bm25'?"
    """
    import difflib

    close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class UnknownNameError(FollowIRError, KeyError):
    """A task or model name that is not registered and is not a path."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class MissingDependencyError(FollowIRError, ImportError):
    """An optional dependency is missing; the message holds the exact pip command."""


class APIError(FollowIRError, RuntimeError):
    """A remote model service refused, failed or is not configured; the message says what to do. Credentials in
    the message (a server may echo the key in its error body) are masked (``followir.redaction``)."""

    def __str__(self) -> str:
        from followir.redaction import redact

        return redact(super().__str__())


class ModelOutputError(FollowIRError, RuntimeError):
    """A model or server produced an unusable output (a non-finite score or vector); names the model, the query
    and the document. Such outputs are never cached."""


class InputTooLongError(FollowIRError, ValueError):
    """A query plus instruction does not fit a model's input limit, and the family cannot cut it (only
    documents are truncated); names the query and the limit."""


class OptionError(FollowIRError, ValueError):
    """A command-line option (or its library argument) has a value that cannot work; names the option."""
