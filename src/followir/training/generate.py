"""Step 2: ask a generator LLM for relevant and non-relevant documents for each (query, instruction) pair.

Each pair gets the paper's synthetic-document prompt; the answer is parsed into documents
(``followir.training.parsing``). A malformed answer is asked again with the next seed, at most ``attempts``
times in all; a pair that never parses is written to ``failures.jsonl`` with the reason and the last answer,
never silently dropped.

Resumable: ``generated.jsonl`` grows one pair at a time (one fsynced append per pair, each row carrying its
pair's document count), so a rerun skips every pair already in ``generated.jsonl`` or ``failures.jsonl``, drops
a pair whose rows were cut off by an interruption, and asks only for the rest; the chat cache makes asking
again for anything already answered free. ``retry_failed=True`` gives failed pairs ``attempts`` more seeds.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from followir.llm.base import ChatModel, GenerationOptions
from followir.llm.cost import CostEstimate
from followir.llm.prompts import get_prompt
from followir.models.base import NoProgress, Progress
from followir.training.files import append_jsonl, check_resumable, read_jsonl, write_jsonl, write_manifest
from followir.training.parsing import ParseError, parse_documents

log = logging.getLogger(__name__)

GENERATED = "generated.jsonl"
FAILURES = "failures.jsonl"
# ~300 words per document, six documents: about 2,400 output tokens per answer.
DEFAULT_OPTIONS = GenerationOptions(temperature=0.7, max_tokens=4096)
EXPECTED_OUTPUT_TOKENS = 2400


@dataclass(frozen=True)
class ParseSettings:
    min_per_label: int = 1
    max_per_label: int = 3
    min_words: int = 20

    def __post_init__(self):
        if not 1 <= self.min_per_label <= self.max_per_label:
            raise ValueError(f"min_per_label={self.min_per_label}, max_per_label={self.max_per_label}: "
                             f"use 1 <= min_per_label <= max_per_label")
        if self.min_words < 1:
            raise ValueError(f"min_words={self.min_words}: use at least 1")


def generation_settings(chat: ChatModel, prompt: str, options: GenerationOptions, attempts: int, seed: int,
                        parse: ParseSettings) -> dict:
    """What decides the answers: recorded in the manifest; a resumed run must use the same."""
    return {"generator": chat.describe(), "prompt": prompt, "prompt_text": get_prompt(prompt).user,
            "options": options.to_dict(), "attempts": attempts, "seed": seed, "parse": asdict(parse)}


def _pair_rows(pair: dict, parsed, attempt: int, seed: int | None) -> list[dict]:
    docs = [(True, i, text) for i, text in enumerate(parsed.relevant, 1)]
    docs += [(False, i, text) for i, text in enumerate(parsed.nonrelevant, 1)]
    return [{"id": f"{pair['id']}/{'rel' if label else 'nonrel'}{i}", "pair_id": pair["id"],
             "topic": pair.get("topic", pair["id"]), "query": pair["query"], "instruction": pair["instruction"],
             "document": text, "label": label, "attempt": attempt, "seed": seed, "format": parsed.format,
             "pair_documents": len(docs)} for label, i, text in docs]


def _load_done(generated: Path, failures: Path) -> tuple[set[str], dict[str, dict]]:
    """Pairs complete in ``generated.jsonl`` (incomplete ones are removed from it) and failure records."""
    done: set[str] = set()
    if generated.exists():
        rows = list(read_jsonl(generated, repair=True))
        groups: dict[str, list[dict]] = {}
        for row in rows:
            groups.setdefault(row["pair_id"], []).append(row)
        torn = {pid for pid, g in groups.items() if len(g) != g[0]["pair_documents"]}
        if torn:
            log.warning("%s: %d pair(s) cut off by an interruption are asked again: %s", generated, len(torn),
                        sorted(torn)[:5])
            write_jsonl(generated, (r for r in rows if r["pair_id"] not in torn))
        done = set(groups) - torn
    failed = {}
    if failures.exists():
        failed = {row["pair_id"]: row for row in read_jsonl(failures, repair=True)}
    return done, failed


def generate(narratives: str | Path, output_dir: str | Path, chat: ChatModel, *,
             prompt: str = "synthetic-documents", attempts: int = 3, seed: int = 0,
             options: GenerationOptions | None = None, parse: ParseSettings | None = None,
             retry_failed: bool = False, dry_run: bool = False, chunk_size: int | None = None,
             expected_output_tokens: int = EXPECTED_OUTPUT_TOKENS,
             progress: Progress | None = None) -> dict:
    """Generate documents for every pair in ``narratives`` into ``output_dir``; returns the manifest.

    With ``dry_run`` nothing is sent: the returned dict holds the cost estimate of what a run would send.
    """
    if attempts < 1:
        raise ValueError(f"attempts={attempts}: use at least 1")
    template = get_prompt(prompt)
    if set(template.placeholders) != {"query", "instruction"}:
        raise ValueError(f"prompt {prompt!r} takes {list(template.placeholders)}; generation needs a prompt with "
                         f"{{query}} and {{instruction}}")
    options = options or DEFAULT_OPTIONS
    parse = parse or ParseSettings()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    generated, failures = output_dir / GENERATED, output_dir / FAILURES
    settings = generation_settings(chat, prompt, options, attempts, seed, parse)
    check_resumable(generated, "generate", settings, "delete generated.jsonl, failures.jsonl and "
                    "generated.manifest.json to start over")

    pairs = list(read_jsonl(narratives))
    done, failed = _load_done(generated, failures)
    pair_ids = {p["id"] for p in pairs}
    retried = {pid: r for pid, r in failed.items() if pid in pair_ids} if retry_failed else {}
    todo = [p for p in pairs if p["id"] not in done and (p["id"] not in failed or p["id"] in retried)]
    first_seed = {p["id"]: seed + (retried[p["id"]]["attempts"] if p["id"] in retried else 0) for p in todo}
    if retried and not dry_run:  # asked again below; a pair that fails again gets a new record
        write_jsonl(failures, (r for pid, r in failed.items() if pid not in retried))

    def conversation(pair: dict):
        return template.messages(query=pair["query"], instruction=pair["instruction"])

    estimate: CostEstimate = chat.estimate_cost([conversation(p) for p in todo],
                                                [options.with_seed(first_seed[p["id"]]) for p in todo],
                                                expected_output_tokens=min(expected_output_tokens, options.max_tokens))
    if dry_run:
        return {"step": "generate", "dry_run": True, "pairs": len(pairs), "done": len(done), "failed": len(failed),
                "todo": len(todo), "estimate": estimate.to_dict(), "estimate_text": str(estimate)}
    if hasattr(chat, "log_estimate"):
        chat.log_estimate(estimate)
    else:
        log.info("generator cost estimate: %s", estimate)
    write_manifest(generated, "generate", {"narratives": narratives}, settings, {}, complete=False)

    progress = progress or NoProgress()
    progress.start(len(todo), "pairs")
    chunk_size = chunk_size or max(16, 4 * getattr(chat, "concurrency", 1))
    for start in range(0, len(todo), chunk_size):
        pending = todo[start:start + chunk_size]
        last: dict[str, tuple[str, str, str]] = {}
        for attempt in range(attempts):
            seeds = [first_seed[p["id"]] + attempt for p in pending]
            answers = chat.complete_many([conversation(p) for p in pending], [options.with_seed(s) for s in seeds])
            still = []
            for pair, answer, s in zip(pending, answers, seeds):
                try:
                    parsed = parse_documents(answer, parse.min_per_label, parse.max_per_label, parse.min_words)
                except ParseError as e:
                    last[pair["id"]] = (str(e), e.kind, answer)
                    still.append(pair)
                    continue
                append_jsonl(generated, _pair_rows(pair, parsed, attempt + 1, s))
                progress.advance(1)
            pending = still
            if not pending:
                break
        for pair in pending:
            reason, kind, answer = last[pair["id"]]
            tried = attempts + (retried[pair["id"]]["attempts"] if pair["id"] in retried else 0)
            append_jsonl(failures, [{"pair_id": pair["id"], "topic": pair.get("topic", pair["id"]),
                                     "query": pair["query"], "instruction": pair["instruction"],
                                     "attempts": tried, "seeds": [seed + i for i in range(tried)],
                                     "reason": reason, "kind": kind, "last_answer": answer[:4000]}])
            progress.advance(1)
    generated.touch()  # both files exist after a finished run, empty when nothing was generated or failed
    failures.touch()
    counts = count_generated(generated, failures, len(pairs))
    stats = getattr(chat, "stats", None)
    if stats is not None:
        counts["requests_this_run"] = stats.to_dict()
    counts["estimate_before_run"] = estimate.to_dict()
    log.info("generate: %s", {k: v for k, v in counts.items() if not isinstance(v, dict)})
    return write_manifest(generated, "generate", {"narratives": narratives}, settings, counts,
                          outputs={"generated": generated, "failures": failures})


def count_generated(generated: Path, failures: Path, pairs: int) -> dict:
    rows = list(read_jsonl(generated)) if generated.exists() else []
    failed = list(read_jsonl(failures)) if failures.exists() else []
    per_pair = Counter(r["pair_id"] for r in rows)
    attempts = Counter(str(r["attempt"]) for r in {r["pair_id"]: r for r in rows}.values())
    formats = Counter(r["format"] for r in {r["pair_id"]: r for r in rows}.values())
    return {"pairs": pairs, "pairs_generated": len(per_pair), "pairs_failed": len(failed),
            "documents": len(rows), "relevant": sum(1 for r in rows if r["label"]),
            "nonrelevant": sum(1 for r in rows if not r["label"]),
            "pairs_by_attempt": dict(sorted(attempts.items())), "answer_formats": dict(sorted(formats.items())),
            "failures_by_kind": dict(sorted(Counter(f.get("kind", "other") for f in failed).items()))}
