"""p-MRR against a control: does a model *follow* the changed instruction, or only *react* to its added words?

p-MRR rewards any downward movement of the changed documents. Under the og instruction they are relevant, so a
good model ranks them near the top, and from there most movement is down: a model that ignores what the change
means but reacts to its words can score well above zero. The control tells the two apart.

For every query, the control instruction is the og instruction with a **relevance-neutral edit of the same
length (in words) as the real change**, put where the change put its words (``difflib`` on the word sequences;
the og words the change replaced stay, so the control only adds). Two generators:

- ``neutral``: a neutral sentence about reading carefully (``NEUTRAL_TEXT``), repeated or cut to the length;
- ``shuffled``: the changed instruction's added words, in an order that carries no meaning (shuffled with a
  ``random.Random`` seeded by ``seed`` and the query id, so reruns give the same text). The same generator is
  shuffled again until the order differs from the change's, so the control never repeats the changed
  instruction. A change that adds fewer than two distinct words (one word, or one word repeated) has no other
  order: for that query the control falls back to ``neutral``, and the result records, per query, which
  generator made its control (``control_generators``) and which queries fell back (``fell_back``).

The control run ranks the same candidates under the control instruction. **Control p-MRR** is p-MRR with the
control run in place of the changed run (against the og run, over the changed documents of the changed qrels):
how far the model moves those documents for reasons other than following. The analysis reports p-MRR, control
p-MRR and their per-query paired difference (p-MRR minus control p-MRR), each with a 95% bootstrap interval over
queries, and a paired randomization test of the difference.
"""

from __future__ import annotations

import difflib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from followir.metrics.pmrr import p_mrr_per_query
from followir.metrics.uncertainty import Interval, bootstrap_interval, paired_randomization_test
from followir.models.base import Progress, RankRequest, Reranker
from followir.records import Run, Task

GENERATORS = ("neutral", "shuffled")
NEUTRAL_TEXT = ("Please read each document carefully and take as much time as you need before you decide how "
                "well it answers the question.")


def added_words(og: str, changed: str) -> list[tuple[int, list[str]]]:
    """Where the changed instruction adds words to the og one: ``(position in the og words, added words)``.

    >>> added_words("Find reports on floods.", "Find recent reports on floods. Ignore Asia.")
    [(1, ['recent']), (4, ['Ignore', 'Asia.'])]
    """
    a, b = og.split(), changed.split()
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("insert", "replace") and j2 > j1:
            edits.append((i2 if tag == "replace" else i1, b[j1:j2]))
    return edits


def shuffled_words(words: Sequence[str], seed: int, query_id: str) -> list[str] | None:
    """The added words in an order other than the change's, or None when none exists (fewer than two distinct
    words). Shuffled with ``random.Random(f"{seed}:{query_id}")``, again and again until the order differs, so
    the same seed and query give the same order.

    >>> shuffled_words(["excluded."], 0, "q") is None
    True
    """
    words = list(words)
    if len(set(words)) < 2:
        return None
    rng = random.Random(f"{seed}:{query_id}")
    shuffled = list(words)
    for _ in range(1000):   # with two or more distinct words a shuffle keeps the order at most half the time
        rng.shuffle(shuffled)
        if shuffled != words:
            return shuffled
    return words[1:] + words[:1]   # never reached in practice; a rotation differs when two words differ


def control_words_used(words: Sequence[str], generator: str, seed: int, query_id: str) -> tuple[list[str], str]:
    """``len(words)`` words of the control edit and the generator that made them: ``shuffled`` falls back to
    ``neutral`` when the added words have no other order.

    >>> control_words_used(["Ignore"], "shuffled", 0, "q")
    (['Please'], 'neutral')
    """
    n = len(words)
    if generator == "shuffled":
        shuffled = shuffled_words(words, seed, query_id) if n else []
        if shuffled is not None:
            return shuffled, "shuffled"
        generator = "neutral"
    if generator == "neutral":
        base = NEUTRAL_TEXT.split()
        return (base * (n // len(base) + 1))[:n], "neutral"
    raise ValueError(f"unknown control generator {generator!r}; use one of {', '.join(GENERATORS)}")


def control_words(words: Sequence[str], generator: str, seed: int, query_id: str) -> list[str]:
    """``len(words)`` words of the control edit.

    >>> control_words(["Ignore", "Asia."], "neutral", 0, "q")
    ['Please', 'read']
    >>> control_words(["Ignore", "Asia."], "shuffled", 0, "q")
    ['Asia.', 'Ignore']
    """
    return control_words_used(words, generator, seed, query_id)[0]


def control_edit(og: str, changed: str, generator: str, seed: int = 0, query_id: str = "") -> tuple[str, str]:
    """The control instruction and the generator that made it (``neutral`` where ``shuffled`` fell back)."""
    edits = added_words(og, changed)
    words, used = control_words_used([w for _, ws in edits for w in ws], generator, seed, query_id)
    fill = iter(words)
    at: dict[int, list[str]] = {}
    for position, ws in edits:
        at.setdefault(position, []).extend(next(fill) for _ in ws)
    out: list[str] = []
    og_words = og.split()
    for i in range(len(og_words) + 1):
        out.extend(at.get(i, []))
        if i < len(og_words):
            out.append(og_words[i])
    return " ".join(out), used


def control_instruction(og: str, changed: str, generator: str, seed: int = 0, query_id: str = "") -> str:
    """The og instruction with the control edit in place of the change's added words (og words all kept).

    >>> control_instruction("Find reports on floods.", "Find reports on floods. Ignore Asia.", "neutral")
    'Find reports on floods. Please read'
    """
    return control_edit(og, changed, generator, seed, query_id)[0]


@dataclass(frozen=True)
class ControlResult:
    model: Mapping[str, object]
    task: str
    generator: str
    seed: int
    instructions: Mapping[str, str]  # query id -> control instruction
    added: Mapping[str, int]  # query id -> words the change added (the control's length)
    p_mrr: float
    control_p_mrr: float
    difference: float
    per_query: Mapping[str, Mapping[str, float]]  # "p-MRR", "control p-MRR", "difference" -> qid -> value
    intervals: Mapping[str, Interval]
    test: Mapping[str, object]
    runs: Mapping[str, Run]
    timings: Mapping[str, float]
    generators_used: Mapping[str, str] = field(default_factory=dict)  # query id -> generator that made its control

    @property
    def fell_back(self) -> list[str]:
        """Queries whose shuffled control fell back to the neutral sentence (fewer than two distinct words)."""
        return sorted(q for q, g in self.generators_used.items() if g != self.generator)

    def to_dict(self, run_files: Mapping[str, str] | None = None) -> dict:
        def finite(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {
            "task": self.task, "generator": self.generator, "seed": self.seed,
            "neutral_text": NEUTRAL_TEXT if "neutral" in {self.generator, *self.generators_used.values()} else None,
            "control_generators": dict(self.generators_used), "fell_back": self.fell_back,
            "queries": len(self.per_query["difference"]),
            "p-MRR": finite(self.p_mrr), "control p-MRR": finite(self.control_p_mrr),
            "difference": finite(self.difference),
            "intervals": {k: {m: finite(x) for m, x in v.to_dict().items()} for k, v in self.intervals.items()},
            "paired_test": dict(self.test),
            "per_query": {k: dict(v) for k, v in self.per_query.items()},
            "control_instructions": dict(self.instructions), "added_words": dict(self.added),
            "timings": dict(self.timings),
            **({"run_files": dict(run_files)} if run_files else {}),
        }


def _mean(values: Mapping[str, float]) -> float:
    return math.fsum(values[q] for q in sorted(values)) / len(values) if values else float("nan")


def run_control(model: Reranker, task: Task, generator: str = "neutral", *, seed: int = 0,
                resamples: int = 10_000, progress: Progress | None = None) -> ControlResult:
    """Rank og, changed and control for every query of ``task`` and score p-MRR against the control."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown control generator {generator!r}; use one of {', '.join(GENERATORS)}")
    edits = {q.id: control_edit(q.instruction_og, q.instruction_changed, generator, seed, q.id)
             for q in task.queries}
    instructions = {q: text for q, (text, _) in edits.items()}
    used = {q: g for q, (_, g) in edits.items()}
    added = {q.id: sum(len(w) for _, w in added_words(q.instruction_og, q.instruction_changed))
             for q in task.queries}
    requests = [RankRequest(q.id, v, q.text, q.instruction(v) if v != "control" else instructions[q.id],
                            task.candidates[q.id]) for v in ("og", "changed", "control") for q in task.queries]
    start = time.perf_counter()
    ranked = model.rerank(requests, task.corpus, progress)
    rank_s = time.perf_counter() - start
    runs: dict[str, dict[str, dict[str, float]]] = {"og": {}, "changed": {}, "control": {}}
    for request, scores in zip(requests, ranked, strict=True):
        if set(request.candidates) - set(scores):
            raise RuntimeError(f"{getattr(model, 'name', 'model')} left candidates of query {request.query_id} "
                               f"({request.variant}) unscored; every candidate must be scored")
        runs[request.variant][request.query_id] = dict(scores)
    return score_control(task, runs, generator, seed, instructions, added,
                         {"name": getattr(model, "name", type(model).__name__), **model.describe()},
                         resamples, {"rank_s": rank_s}, used)


def score_control(task: Task, runs: Mapping[str, Mapping[str, Mapping[str, float]]], generator: str, seed: int,
                  instructions: Mapping[str, str], added: Mapping[str, int], model: Mapping[str, object],
                  resamples: int = 10_000, timings: Mapping[str, float] | None = None,
                  generators_used: Mapping[str, str] | None = None) -> ControlResult:
    pq = p_mrr_per_query(runs["og"], runs["changed"], task.changed_documents)
    pq_control = p_mrr_per_query(runs["og"], runs["control"], task.changed_documents)
    shared = sorted(set(pq) & set(pq_control))
    diff = {q: pq[q] - pq_control[q] for q in shared}
    per_query = {"p-MRR": pq, "control p-MRR": pq_control, "difference": diff}
    intervals = {k: bootstrap_interval(v, resamples=resamples) for k, v in per_query.items()}
    test = paired_randomization_test(pq, pq_control, resamples).to_dict() if shared else {}
    return ControlResult(model, task.name, generator, seed, instructions, added, _mean(pq), _mean(pq_control),
                         _mean(diff), per_query, intervals, test,
                         {v: Run(dict(r), name=str(model.get("name", "followir"))) for v, r in runs.items()},
                         dict(timings or {}), dict(generators_used or {q: generator for q in instructions}))


def write_control(result: ControlResult, folder: str | Path) -> Path:
    """Write the control run (``<task>.control-<generator>.trec``) and merge the result into ``results.json``
    under ``control.<task>.<generator>``."""
    from followir.analyses.results_file import update_results
    from followir.data.trec import write_run

    folder = Path(folder)
    name = f"{result.task}.control-{result.generator}.trec"
    write_run(result.runs["control"], folder / name, tag=str(result.model.get("name", "followir")))
    return update_results(folder, result.model, "control", f"{result.task}.{result.generator}",
                          result.to_dict({"control": name}))
