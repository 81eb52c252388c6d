"""Records of the field's other benchmarks (InfoSearch, NevIR, IFIR): queries asked in several *modes*.

A FollowIR ``Task`` has exactly two instructions per query (og, changed). These benchmarks ask more or other
things: InfoSearch ranks every query under the og (``ori``), instructed (``ins``) and reversed (``rev``)
instruction; NevIR ranks each query of a negation pair without instruction (``query``); IFIR ranks each
(query, instruction) with its instruction (``instruction``) and each base query without one (``none``). A
``FieldTask`` holds the queries, their instruction per mode, the judgements per mode and the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from followir.records import Document

INFOSEARCH_MODES = ("ori", "ins", "rev")
NEVIR_MODES = ("query",)
IFIR_MODES = ("instruction", "none")


@dataclass(frozen=True)
class FieldQuery:
    """One query: its text, its instruction per mode (``""`` for none) and, for IFIR, its base query and level."""

    id: str
    text: str
    instructions: Mapping[str, str]
    base: str | None = None  # IFIR: the query this instruction belongs to
    level: int | None = None  # IFIR: the instruction's level (0 where the domain has none)


@dataclass(frozen=True)
class FieldTask:
    name: str
    kind: str  # infosearch, nevir or ifir
    modes: tuple[str, ...]
    queries: tuple[FieldQuery, ...]
    corpus: Mapping[str, Document]
    qrels: Mapping[str, Mapping[str, Mapping[str, int]]]  # mode -> query id -> document id -> relevance
    candidates: Mapping[str, tuple[str, ...]]
    main_metric: str
    source: str = ""
    revision: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
