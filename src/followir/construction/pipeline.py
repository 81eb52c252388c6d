"""``build_benchmark``: every step in order, each skipped when its output is already in the work folder (delete a
step's file, or pass ``redo``, to run it again). It stops, saying what to do, where a person is needed: changed
narratives still drafts, or og-relevant documents not yet judged."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from followir.construction import workfiles as files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildPlan:
    work: Path
    output: Path
    collection: str
    topics: str | None = None
    qrels: str | None = None
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    limit: int | None = None
    narratives: str | None = None
    generator: str | None = None
    judgements: str | None = None
    models: tuple[str, ...] = ("bm25",)
    pool: object = None          # PoolSettings
    approximate: object = None   # HNSWSettings
    corpus_text: str = "passage"
    query_field: str = "title"
    name: str | None = None
    redo: frozenset[str] = field(default_factory=frozenset)


STEPS = ("topics", "narratives", "judging", "judgements", "candidates", "output")


def build_benchmark(plan: BuildPlan, *, chat_loader=None, model_loader=None, progress=None,
                    say=log.info) -> dict:
    """Run the steps that are not done; returns the validation report."""
    from followir.construction.candidates import PoolSettings, run_candidates
    from followir.construction.judgements import prepare_judging, run_judgements
    from followir.construction.narratives import run_narratives
    from followir.construction.output import run_output
    from followir.construction.topics import run_topics

    work = Path(plan.work)
    work.mkdir(parents=True, exist_ok=True)

    def todo(step: str, name: str) -> bool:
        done = (work / name).exists() and step not in plan.redo
        if done:
            say(f"{step}: done already ({work / name})")
        return not done

    if todo("topics", files.TOPICS):
        if not plan.topics or not plan.qrels:
            raise ValueError("the topics step needs --topics and --qrels")
        chosen = run_topics(plan.topics, plan.qrels, work, include=set(plan.include) or None,
                            exclude=set(plan.exclude), limit=plan.limit)
        say(f"topics: {len(chosen)} selected")
    if todo("narratives", files.NARRATIVES):
        if plan.narratives:
            run_narratives(work, written=plan.narratives)
        elif plan.generator:
            chat = (chat_loader or _load_chat)(plan.generator)
            run_narratives(work, chat=chat)
        else:
            raise ValueError("the narratives step needs --narratives FILE (written by people) or --generator")
        say("narratives: written")
    from followir.construction.narratives import load_narratives

    load_narratives(work)  # refuses drafts, naming the command that accepts them
    if todo("judging", files.JUDGING):
        count, missing = prepare_judging(work, plan.collection)
        say(f"judging: {count} og-relevant documents to re-judge ({len(missing)} not in the collection)")
    if todo("judgements", files.JUDGEMENTS):
        run_judgements(work, judgements=plan.judgements)
        say("judgements: final")
    if todo("candidates", files.CANDIDATES):
        run_candidates(work, plan.collection, list(plan.models), settings=plan.pool or PoolSettings(),
                       approximate=plan.approximate, load=model_loader, progress=progress)
        say("candidates: pooled")
    report = run_output(work, plan.output, name=plan.name, collection=plan.collection,
                        corpus_text=plan.corpus_text, query_field=plan.query_field)
    say(f"output: {plan.output} ({'valid' if report['ok'] else 'PROBLEMS: ' + '; '.join(report['problems'])})")
    return report


def _load_chat(spec: str):
    from followir.llm.chat import load_chat_model

    return load_chat_model(spec)


def redo_steps(names: Sequence[str]) -> frozenset[str]:
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise ValueError(f"--redo {', '.join(unknown)}: use step names {', '.join(STEPS)}")
    return frozenset(names)
