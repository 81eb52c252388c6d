"""Keywords and short instructions for the length ablation, generated from the full instruction where the data
lacks them (the MTEB layout has neither), with the FollowIR paper's two Appendix H prompts.

- The prompts are the templates ``keywords`` and ``short-instruction`` of ``followir/llm/prompts.yaml``; both
  are filled with the og (full) instruction, as the paper did for the TREC collections.
- Any chat model works: ``followir.llm.chat.load_chat_model`` (OpenAI-compatible endpoints, local transformers
  models; answers cached in SQLite) or any object with ``complete(messages) -> str``.
- An answer is checked: keywords must be a JSON list of one or two non-empty strings, none of the words the
  prompt forbids; a short instruction must be non-empty and at most ``max_words`` words. A malformed answer is
  asked for again in the same conversation (the bad answer, then a follow-up saying what was wrong, from
  ``ablation_prompts.yaml``), at most ``max_attempts`` times in all. What still fails is reported as a
  ``GenerationFailure``, never dropped silently.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Mapping, Protocol, Sequence

import yaml

from followir.errors import FollowIRError
from followir.models.base import NoProgress, Progress
from followir.records import Query

log = logging.getLogger(__name__)

KINDS = ("keywords", "short")
PROMPTS = {"keywords": "keywords", "short": "short-instruction"}
RETRY_PROMPTS = {"keywords": "keywords-retry", "short": "short-instruction-retry"}
FIELDS = {"keywords": "keywords", "short": "short_instruction"}
MAX_TOKENS = {"keywords": 48, "short": 64}
# The keywords prompt asks for keywords "that are not documents, questions, answer, or articles".
FORBIDDEN_KEYWORDS = frozenset({"document", "documents", "question", "questions", "answer", "answers",
                                "article", "articles"})
GENERATE_MODES = ("missing", "all")


class ChatModel(Protocol):
    """The least a generator must do: answer one conversation. ``followir.llm`` models also offer
    ``complete_many`` (batched, concurrent, with progress) and ``options`` (sampling settings), used when present."""

    def complete(self, messages: list[dict]) -> str: ...


class MalformedAnswer(ValueError):
    """A generator answer that cannot be used; the message says what is wrong with it."""


class MissingVariantsError(FollowIRError, ValueError):
    """The data lacks keywords or short instructions and no generator was given."""


@dataclass(frozen=True)
class GenerationFailure:
    query_id: str
    kind: str  # keywords or short
    attempts: int
    problem: str
    last_answer: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GenerationReport:
    """What was generated (query id -> kind -> text as the model sees it), how many attempts each took, and
    what failed. Empty when the data had every keyword and short instruction."""

    generator: Mapping[str, object] = field(default_factory=dict)
    generated: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    attempts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    failures: tuple[GenerationFailure, ...] = ()

    def to_dict(self) -> dict:
        return {"generator": dict(self.generator),
                "generated": {q: dict(v) for q, v in self.generated.items()},
                "attempts": {q: dict(v) for q, v in self.attempts.items()},
                "failures": [f.to_dict() for f in self.failures]}


# -- checking answers -----------------------------------------------------------------------------------------
_LIST = re.compile(r"\[[^\[\]]*\]", re.DOTALL)
_PREFIX = re.compile(r"^\s*(abstract command|short instruction|command)\s*:\s*", re.IGNORECASE)


def parse_keywords(answer: str) -> list[str]:
    """The keywords of an answer: its first JSON list, of one or two non-empty strings.

    >>> parse_keywords('Keywords: ["Trivia", "Wikipedia"]')
    ['Trivia', 'Wikipedia']
    >>> parse_keywords('Trivia, Wikipedia')
    Traceback (most recent call last):
    ...
    followir.analyses.instruction_variants.MalformedAnswer: it is not a JSON list of strings
    """
    match = _LIST.search(answer)
    try:
        value = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedAnswer("it is not a JSON list of strings")
    keywords = [" ".join(v.split()) for v in value]
    if not 1 <= len(keywords) <= 2:
        raise MalformedAnswer(f"it lists {len(keywords)} keywords, not one or two")
    if not all(keywords):
        raise MalformedAnswer("a keyword is empty")
    forbidden = [k for k in keywords if k.lower() in FORBIDDEN_KEYWORDS]
    if forbidden:
        raise MalformedAnswer(f"{forbidden[0]!r} is one of the words the instructions exclude")
    return keywords


def parse_short(answer: str, max_words: int = 30) -> str:
    """The short instruction of an answer: its first non-empty line, without an ``Abstract Command:`` label
    or surrounding quotes; non-empty and at most ``max_words`` words.

    >>> parse_short('Abstract Command: "Find a news article that answers this question."')
    'Find a news article that answers this question.'
    """
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    text = _PREFIX.sub("", lines[0]) if lines else ""
    text = text.strip().strip("*`'\"").strip()
    if not text:
        raise MalformedAnswer("it is empty")
    words = len(text.split())
    if words > max_words:
        raise MalformedAnswer(f"it has {words} words, more than {max_words}")
    return text


# -- the follow-up prompts -------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def retry_prompts() -> dict[str, str]:
    """The validated follow-up messages of ``ablation_prompts.yaml``: name -> text with ``{problem}``."""
    source = "followir/analyses/ablation_prompts.yaml"
    raw = yaml.safe_load((resources.files("followir.analyses") / "ablation_prompts.yaml").read_text("utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: expected a mapping of names to prompts")
    out = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) - {"description", "user"} or "user" not in entry:
            raise ValueError(f"{source}: {name!r} must have 'user' (and optionally 'description') only")
        found = {p for _, p, _, _ in string.Formatter().parse(entry["user"]) if p is not None}
        if found != {"problem"}:
            raise ValueError(f"{source}: {name}.user must use exactly the placeholder {{problem}}, "
                             f"uses {sorted(found)}")
        out[name] = entry["user"]
    missing = set(RETRY_PROMPTS.values()) - set(out)
    if missing:
        raise ValueError(f"{source}: missing entries {sorted(missing)}")
    return out


def _first_messages(kind: str, instruction: str) -> list[dict[str, str]]:
    from followir.llm.prompts import get_prompt

    return get_prompt(PROMPTS[kind]).messages(instruction=instruction)


# -- generating ------------------------------------------------------------------------------------------------
class VariantGenerator:
    """Asks ``chat`` for keywords or short instructions, checks each answer, asks again when malformed."""

    def __init__(self, chat: ChatModel, max_attempts: int = 3, max_words: int = 30):
        if max_attempts < 1:
            raise ValueError(f"max_attempts={max_attempts}: use at least 1")
        if max_words < 1:
            raise ValueError(f"max_words={max_words}: use at least 1")
        self.chat, self.max_attempts, self.max_words = chat, max_attempts, max_words

    def describe(self) -> dict:
        chat = self.chat
        about = chat.describe() if hasattr(chat, "describe") else {"class": type(chat).__name__}
        options = getattr(chat, "options", None)
        return {"name": getattr(chat, "name", type(chat).__name__), **about,
                **({"options": options.to_dict()} if hasattr(options, "to_dict") else {}),
                "prompts": dict(PROMPTS), "max_attempts": self.max_attempts, "max_words": self.max_words}

    def parse(self, kind: str, answer: str) -> str:
        """The text the ablation gives the model (keywords joined by ', ')."""
        if kind == "keywords":
            return ", ".join(parse_keywords(answer))
        if kind == "short":
            return parse_short(answer, self.max_words)
        raise ValueError(f"unknown kind {kind!r}; use one of {KINDS}")

    def generate(self, kind: str, instructions: Mapping[str, str], progress: Progress | None = None
                 ) -> tuple[dict[str, str], dict[str, int], list[GenerationFailure]]:
        """Query id -> text for every instruction that gave a good answer within ``max_attempts``; the
        attempts each took; the failures."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; use one of {KINDS}")
        conversations = {qid: _first_messages(kind, text) for qid, text in instructions.items()}
        done: dict[str, str] = {}
        attempts: dict[str, int] = {}
        problems: dict[str, tuple[str, str]] = {}
        pending = list(conversations)
        for attempt in range(self.max_attempts):
            if not pending:
                break
            answers = self._ask([conversations[q] for q in pending], kind, attempt, progress)
            retry = []
            for qid, answer in zip(pending, answers, strict=True):
                attempts[qid] = attempt + 1
                try:
                    done[qid] = self.parse(kind, answer)
                    problems.pop(qid, None)
                except MalformedAnswer as e:
                    problems[qid] = (str(e), answer)
                    follow_up = retry_prompts()[RETRY_PROMPTS[kind]].format(problem=str(e))
                    conversations[qid] = [*conversations[qid], {"role": "assistant", "content": answer},
                                          {"role": "user", "content": follow_up}]
                    retry.append(qid)
            if retry and attempt + 1 < self.max_attempts:
                log.info("%d malformed %s answers; asking again (attempt %d of %d)", len(retry), kind,
                         attempt + 2, self.max_attempts)
            pending = retry
        failures = [GenerationFailure(qid, kind, attempts[qid], *problems[qid]) for qid in pending]
        for failure in failures:
            log.warning("no usable %s for query %s after %d attempts: %s (last answer: %r)", kind,
                        failure.query_id, failure.attempts, failure.problem, failure.last_answer[:200])
        return done, attempts, failures

    def _ask(self, conversations: list[list[dict]], kind: str, attempt: int, progress: Progress | None
             ) -> list[str]:
        chat = self.chat
        options = getattr(chat, "options", None)
        if hasattr(chat, "complete_many") and dataclasses.is_dataclass(options):
            # a bounded answer length, and a seed per attempt (each attempt is its own cached request)
            opts = dataclasses.replace(options, max_tokens=min(options.max_tokens, MAX_TOKENS[kind]),
                                       seed=(options.seed or 0) + attempt)
            return list(chat.complete_many(conversations, opts, progress=progress))
        progress = progress or NoProgress()
        progress.start(len(conversations), "requests")
        answers = []
        for messages in conversations:
            answer = chat.complete(messages)
            if not isinstance(answer, str):
                raise TypeError(f"{type(chat).__name__}.complete returned {type(answer).__name__}, not str")
            answers.append(answer)
            progress.advance(1)
        return answers


def complete_variants(queries: Sequence[Query], generator: VariantGenerator | None = None,
                      generate: str = "missing", progress: Progress | None = None
                      ) -> tuple[tuple[Query, ...], GenerationReport]:
    """The queries with keywords and short instructions filled in.

    ``generate="missing"`` keeps what the data has and generates the rest; ``"all"`` generates every one. A
    query whose generation failed keeps no value for that kind (the report lists it); without a generator,
    missing values raise ``MissingVariantsError``.
    """
    if generate not in GENERATE_MODES:
        raise ValueError(f"generate={generate!r}: use one of {GENERATE_MODES}")
    todo = {kind: {q.id: q.instruction_og for q in queries
                   if generate == "all" or getattr(q, FIELDS[kind]) is None} for kind in KINDS}
    if not any(todo.values()):
        return tuple(queries), GenerationReport()
    if generator is None:
        counts = ", ".join(f"{kind} for {len(ids)} queries (e.g. {next(iter(ids))})"
                           for kind, ids in todo.items() if ids)
        raise MissingVariantsError(
            f"the data lacks {counts}. Fix: pass a generator (e.g. --generator openai:gpt-4o-mini, or "
            f"--generator local:smollm2-135m-instruct) to write them with the paper's prompts")
    generated: dict[str, dict[str, str]] = {}
    attempts: dict[str, dict[str, int]] = {}
    failures: list[GenerationFailure] = []
    for kind, instructions in todo.items():
        if not instructions:
            continue
        texts, tries, failed = generator.generate(kind, instructions, progress)
        for qid, text in texts.items():
            generated.setdefault(qid, {})[kind] = text
        for qid, n in tries.items():
            attempts.setdefault(qid, {})[kind] = n
        failures.extend(failed)
    out = []
    for q in queries:
        changes = {FIELDS[kind]: generated.get(q.id, {}).get(kind) for kind in KINDS if q.id in todo[kind]}
        out.append(dataclasses.replace(q, **changes) if changes else q)
    return tuple(out), GenerationReport(generator.describe(), generated, attempts, tuple(failures))
