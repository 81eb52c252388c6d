"""``build_benchmark``: every step in order. ``build.json`` in the work folder records, per step, the settings it
ran with and a hash of each input file it read. A step is skipped when its output is there and both still match;
otherwise, or when ``redo`` names it, it runs again and so does every step after it (saying which and why). It
stops, saying what to do, where a person is needed: changed narratives still drafts, or og-relevant documents not
yet judged.

What counts as an input: the work files a step reads; the files given to it (topics, qrels, written narratives,
judgements), by content; the collection by size and modification time (hashing millions of documents on every
run would cost more than it saves); and, for judgements from the judging page, the final labels in its store.
A step whose sources are not given on this run (no ``--topics``/``--qrels``, no ``--narratives``/``--generator``)
keeps what it recorded. Outputs a step made outside ``build-benchmark`` (its own subcommand), with no record, are
kept and recorded from then on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Sequence

from followir.construction import workfiles as files
from followir.construction.workfiles import plural

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


OUTPUTS = {"topics": (files.TOPICS, files.QRELS_OG), "narratives": (files.NARRATIVES,),
           "judging": (files.JUDGING,), "judgements": (files.JUDGEMENTS,), "candidates": (files.CANDIDATES,),
           "output": ()}  # the output step always runs: it is quick and ends by validating what it wrote


def build_benchmark(plan: BuildPlan, *, chat_loader=None, model_loader=None, progress=None,
                    say=log.info) -> dict:
    """Run the steps that are not done (or not done with these settings and inputs); returns the validation
    report."""
    from followir.construction.candidates import PoolSettings, run_candidates
    from followir.construction.judgements import prepare_judging, run_judgements
    from followir.construction.narratives import load_narratives, run_narratives
    from followir.construction.output import run_output
    from followir.construction.topics import run_topics

    check_plan(plan)  # a mistyped name or path fails here, before build.json marks any step for redo
    work = Path(plan.work)
    work.mkdir(parents=True, exist_ok=True)
    record = BuildRecord(work)
    redone: list[str] = []  # the steps run again so far; every later step runs again too

    def todo(step: str) -> bool:
        settings, inputs = step_settings(plan, step), step_inputs(plan, step)
        reason = None
        if redone:
            reason = f"an earlier step ({redone[0]}) ran again"
        elif step in plan.redo:
            reason = "--redo"
        else:
            missing = [n for n in OUTPUTS[step] if not (work / n).exists()]
            reason = (f"{missing[0]} is missing" if missing
                      else record.differs(step, settings, inputs))
        if reason is None:
            if step != "output":
                say(f"{step}: done already ({', '.join(str(work / n) for n in OUTPUTS[step])})")
            record.keep(step, settings, inputs)
            return False
        say(f"{step}: running{' again' if any((work / n).exists() for n in OUTPUTS[step]) else ''} ({reason})")
        if not redone:
            record.invalidate(STEPS[STEPS.index(step):], reason)  # a kill from here on redoes them next time
        redone.append(step)
        return True

    def done(step: str) -> None:
        record.keep(step, step_settings(plan, step), step_inputs(plan, step))

    if todo("topics"):
        if not plan.topics or not plan.qrels:
            raise ValueError("the topics step needs --topics and --qrels. Fix: give both")
        chosen = run_topics(plan.topics, plan.qrels, work, include=set(plan.include) or None,
                            exclude=set(plan.exclude), limit=plan.limit)
        say(f"topics: {len(chosen)} selected")
        done("topics")
    if todo("narratives"):
        if plan.narratives:
            run_narratives(work, written=plan.narratives)
        elif plan.generator:
            chat = (chat_loader or _load_chat)(plan.generator)
            run_narratives(work, chat=chat)
        else:
            raise ValueError("the narratives step needs --narratives FILE (written by people) or --generator")
        say("narratives: written")
        done("narratives")

    load_narratives(work)  # refuses drafts, naming the command that accepts them
    if todo("judging"):
        count, missing = prepare_judging(work, plan.collection)
        say(f"judging: {plural(count, 'og-relevant document')} to re-judge ({len(missing)} not in the collection)")
        done("judging")
    if todo("judgements"):
        run_judgements(work, judgements=plan.judgements)
        say("judgements: final")
        done("judgements")
    if todo("candidates"):
        run_candidates(work, plan.collection, list(plan.models), settings=plan.pool or PoolSettings(),
                       approximate=plan.approximate, load=model_loader, progress=progress)
        say("candidates: pooled")
        done("candidates")
    todo("output")
    report = run_output(work, plan.output, name=plan.name, collection=plan.collection,
                        corpus_text=plan.corpus_text, query_field=plan.query_field)
    done("output")
    say(f"output: {plan.output} ({'valid' if report['ok'] else 'PROBLEMS: ' + '; '.join(report['problems'])})")
    return report


def check_plan(plan: BuildPlan) -> None:
    """Everything a build can check without running a step: the files given exist, the collection exists and
    yields a document, the pool's models are known searchers, the output's settings are known. Raises, naming the
    option and the fix."""
    from followir.construction.candidates import check_models
    from followir.construction.collections import check_collection
    from followir.construction.output import CORPUS_TEXTS, QUERY_FIELDS
    from followir.errors import OptionError

    for option, given in (("--topics", plan.topics), ("--qrels", plan.qrels), ("--narratives", plan.narratives),
                          ("--judgements", plan.judgements)):
        if given is not None and not Path(given).is_file():
            raise OptionError(f"{option} {given}: no such file. Fix: give the path of an existing file")
    if bool(plan.topics) != bool(plan.qrels):
        raise OptionError("--topics and --qrels go together (the topics step reads both). Fix: give both, or "
                          "neither to keep the topics already selected")
    if plan.corpus_text not in CORPUS_TEXTS:
        raise OptionError(f"--corpus-text {plan.corpus_text}: use one of {', '.join(CORPUS_TEXTS)}")
    if plan.query_field not in QUERY_FIELDS:
        raise OptionError(f"--query-field {plan.query_field}: use one of {', '.join(QUERY_FIELDS)}")
    check_models(list(plan.models))
    check_collection(plan.collection)


# -- what each step ran with ----------------------------------------------------------------------------------
def _plain(value):
    """Settings as JSON values (dataclasses as dicts, sets sorted, tuples as lists, paths as strings)."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _where(source) -> str | None:
    """A file or folder given on the command line, as an absolute path (an ``irds:`` id or other name as given)."""
    if source is None:
        return None
    path = Path(source)
    return str(path.resolve()) if path.exists() else str(source)


def step_settings(plan: BuildPlan, step: str) -> dict | None:
    """What ``step`` runs with; ``None`` where its sources are not given on this run (the recorded ones stand)."""
    from followir.construction.candidates import PoolSettings

    if step == "topics":
        if not plan.topics and not plan.qrels:
            return None
        return _plain({"topics": _where(plan.topics), "qrels": _where(plan.qrels), "include": plan.include,
                       "exclude": plan.exclude, "limit": plan.limit})
    if step == "narratives":
        if plan.narratives:
            return {"narratives": _where(plan.narratives)}
        return {"generator": plan.generator} if plan.generator else None
    if step == "judging":
        return {"collection": _where(plan.collection)}
    if step == "judgements":
        return {"judgements": _where(plan.judgements) if plan.judgements else "judging page store"}
    if step == "candidates":
        return _plain({"collection": _where(plan.collection), "models": plan.models,
                       "pool": plan.pool or PoolSettings(), "approximate": plan.approximate})
    return _plain({"output": _where(plan.output), "name": plan.name, "collection": _where(plan.collection),
                   "corpus_text": plan.corpus_text, "query_field": plan.query_field})


def step_inputs(plan: BuildPlan, step: str) -> dict[str, str | None]:
    """name -> fingerprint of each input ``step`` reads."""
    work = Path(plan.work)
    mine = {name: file_hash(work / name) for name in _WORK_INPUTS[step]}
    if step == "topics":
        mine.update({"--topics": file_hash(plan.topics), "--qrels": file_hash(plan.qrels)}
                    if plan.topics or plan.qrels else {})
    elif step == "narratives" and plan.narratives:
        mine["--narratives"] = file_hash(plan.narratives)
    elif step == "judgements":
        mine["--judgements" if plan.judgements else files.JUDGE_DB] = (
            file_hash(plan.judgements) if plan.judgements else _store_hash(work))
    if step in ("judging", "candidates", "output"):
        mine["--collection"] = collection_fingerprint(plan.collection)
    return mine


_WORK_INPUTS = {"topics": (), "narratives": (files.TOPICS,), "judging": (files.TOPICS, files.QRELS_OG),
                "judgements": (files.JUDGING, files.NARRATIVES),
                "candidates": (files.TOPICS, files.QRELS_OG),
                # the pool's stamp stands for its passages, which it is written after (hashing them would read
                # the whole chunked collection)
                "output": (files.TOPICS, files.QRELS_OG, files.NARRATIVES, files.JUDGEMENTS, files.CANDIDATES,
                           f"{files.POOL}/passages.json")}


def file_hash(path) -> str | None:
    """sha256 of a file's bytes (of every file under a folder, with their names); ``None`` if it is absent."""
    if path is None:
        return None
    path = Path(path)
    if not path.exists():
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def collection_fingerprint(source) -> str:
    """A collection's name, size and modification time (of every file under a folder); an ``irds:`` id as is."""
    path = Path(str(source))
    if not path.exists():
        return str(source)
    entries = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    text = "\n".join(f"{p.relative_to(path) if path.is_dir() else p.name}\t{p.stat().st_size}\t"
                      f"{p.stat().st_mtime_ns}" for p in entries)
    return hashlib.sha256(text.encode()).hexdigest()


def _store_hash(work: Path) -> str | None:
    """The judging page's final labels, counting only judgements against the current changed narratives."""
    db = work / files.JUDGE_DB
    if not db.exists() or not (work / files.NARRATIVES).exists():
        return None
    from followir.construction.judgements import store_labels

    try:
        labels, disputed = store_labels(work, db)
    except Exception:  # noqa: BLE001 - drafts or a broken store: the step itself says what is wrong
        return None
    text = json.dumps([sorted([list(k), v] for k, v in labels.items()), sorted(map(list, disputed))])
    return hashlib.sha256(text.encode()).hexdigest()


class BuildRecord:
    """``build.json``: step -> {"settings", "inputs"} (or {"redo": why} while a run that redoes it is under way),
    rewritten atomically after every change."""

    def __init__(self, work: Path):
        self.path = work / files.CONFIG
        try:
            data = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        except json.JSONDecodeError:
            log.warning("%s is not valid JSON; every step runs again", self.path)
            data = {"steps": {step: {"redo": "build.json was unreadable"} for step in STEPS}}
        self.steps: dict[str, dict] = dict(data.get("steps", {}))

    def differs(self, step: str, settings: dict | None, inputs: dict) -> str | None:
        """Why ``step`` must run again, or ``None``."""
        old = self.steps.get(step)
        if old is None:
            return None  # made outside build-benchmark: kept, and recorded from now on
        if "redo" in old:
            return f"an earlier run that redoes it did not finish ({old['redo']})"
        if settings is not None and old.get("settings") is not None and old["settings"] != settings:
            changed = sorted(k for k in set(old["settings"]) | set(settings)
                             if old["settings"].get(k) != settings.get(k))
            return "settings changed: " + ", ".join(changed)
        before = old.get("inputs", {})
        changed = sorted(k for k, v in inputs.items() if k in before and before[k] != v)
        return "inputs changed: " + ", ".join(changed) if changed else None

    def keep(self, step: str, settings: dict | None, inputs: dict) -> None:
        old = self.steps.get(step, {})
        if settings is None:
            settings = old.get("settings")
        merged = {**old.get("inputs", {}), **inputs} if "redo" not in old else dict(inputs)
        self.steps[step] = {"settings": settings, "inputs": merged}
        self._write()

    def invalidate(self, steps, reason: str) -> None:
        for step in steps:
            self.steps[step] = {"redo": reason}
        self._write()

    def _write(self) -> None:
        from followir.atomic import write_json

        write_json(self.path, {"steps": {s: self.steps[s] for s in STEPS if s in self.steps}})


def _load_chat(spec: str):
    from followir.llm.chat import load_chat_model

    return load_chat_model(spec)


def redo_steps(names: Sequence[str]) -> frozenset[str]:
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise ValueError(f"--redo {', '.join(unknown)}: use step names {', '.join(STEPS)}")
    return frozenset(names)
