"""Step 3: keep a generated document when a judge reranker agrees with its generated label.

The judge is any yes/no reranker (``causal-lm`` or ``seq2seq`` family; the paper used Mistral-7B-Instruct-v0.2,
registered as ``mistral-7b-instruct``). Each pair's documents are one ``RankRequest`` (query, instruction,
candidates), so the judge's batching, deduplication and score cache apply: a rerun scores nothing twice. A
document is kept when ``p(true) > threshold`` equals its label. Kept documents go to ``filtered.jsonl``, the
others to ``rejected.jsonl``, both with the judge's score.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Mapping

from followir.models.base import Progress, RankRequest
from followir.records import Document
from followir.training.files import read_jsonl, write_jsonl, write_manifest

log = logging.getLogger(__name__)

FILTERED = "filtered.jsonl"
REJECTED = "rejected.jsonl"
YES_NO_FAMILIES = ("causal-lm", "seq2seq")


def load_judge(name: str, family: str | None = None, **options):
    """A registered yes/no reranker (or a hub id/path with its family); other families are refused."""
    from followir.models.registry import load_model, resolve

    spec = resolve(name, family)
    if spec.family not in YES_NO_FAMILIES:
        raise ValueError(f"judge {name!r} is a {spec.family} model; the filter needs a yes/no reranker that scores "
                         f"p(true) ({' or '.join(YES_NO_FAMILIES)} family), e.g. mistral-7b-instruct or "
                         f"smollm2-135m-instruct")
    return load_model(name, family=family, **{k: v for k, v in options.items() if v is not None})


def filter_settings(judge, threshold: float) -> dict:
    return {"judge": getattr(judge, "name", type(judge).__name__), "judge_settings": judge.describe(),
            "threshold": threshold}


def judge_documents(rows: list[dict], judge, progress: Progress | None = None) -> list[float]:
    """p(true) of each generated document under its own query and instruction, in row order."""
    corpus: dict[str, Document] = {}
    by_pair: dict[str, list[dict]] = {}
    for row in rows:
        corpus[row["id"]] = Document(row["id"], row["document"])
        by_pair.setdefault(row["pair_id"], []).append(row)
    requests = [RankRequest(pid, "og", group[0]["query"], group[0]["instruction"], tuple(r["id"] for r in group))
                for pid, group in by_pair.items()]
    results = judge.rerank(requests, corpus, progress)
    scores: dict[str, float] = {}
    for result in results:
        scores.update(result)
    out = [float(scores[row["id"]]) for row in rows]
    bad = [s for s in out if not 0.0 <= s <= 1.0]
    if bad:
        raise ValueError(f"the judge returned scores outside [0, 1] (e.g. {bad[0]:.4g}); the filter needs p(true) "
                         f"from a yes/no reranker")
    return out


def filter_documents(generated: str | Path, output_dir: str | Path, judge, *, threshold: float = 0.5,
                     progress: Progress | None = None) -> dict:
    """Judge every document of ``generated``; write ``filtered.jsonl`` and ``rejected.jsonl``; returns the manifest."""
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold={threshold}: use a probability in [0, 1)")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = list(read_jsonl(generated))
    scores = judge_documents(rows, judge, progress) if rows else []
    kept, rejected = [], []
    counts: Counter = Counter()
    for row, score in zip(rows, scores):
        label = bool(row["label"])
        keep = (score > threshold) == label
        out = {**row, "score": score}
        (kept if keep else rejected).append(out)
        counts[f"{'relevant' if label else 'nonrelevant'}_{'kept' if keep else 'dropped'}"] += 1
    write_jsonl(output_dir / FILTERED, kept)
    write_jsonl(output_dir / REJECTED, rejected)
    summary = {"judged": len(rows), "kept": len(kept), "dropped": len(rejected),
               **{k: counts.get(k, 0) for k in ("relevant_kept", "relevant_dropped", "nonrelevant_kept",
                                                "nonrelevant_dropped")},
               "pairs_judged": len({r["pair_id"] for r in rows}), "pairs_with_kept": len({r["pair_id"] for r in kept}),
               "judge_stats": _stats(judge)}
    log.info("filter: %s", {k: v for k, v in summary.items() if not isinstance(v, dict)})
    return write_manifest(output_dir / FILTERED, "filter", {"generated": generated}, filter_settings(judge, threshold),
                          summary,
                          outputs={"filtered": output_dir / FILTERED, "rejected": output_dir / REJECTED})


def _stats(judge) -> Mapping:
    stats = getattr(judge, "last_stats", None)
    if stats is None:
        return {}
    return {k: getattr(stats, k) for k in ("requested", "unique", "cached", "computed", "batches") if hasattr(stats, k)}
