"""The FollowIR-train recipe end to end: narratives -> generate -> filter -> balance -> LoRA training.

Every step writes into one output folder::

    DIR/narratives.jsonl   (+ narratives.manifest.json)
    DIR/generated.jsonl    failures.jsonl   (+ generated.manifest.json)
    DIR/filtered.jsonl     rejected.jsonl   (+ filtered.manifest.json)
    DIR/train.jsonl        dataset/   datasheet.json   datasheet.md   (+ train.manifest.json)
    DIR/model/             the trained model (followir.training.lora; + model.manifest.json)

A step whose manifest records the current inputs (by content) and options is skipped, so a rerun after an
interruption resumes: generation continues pair by pair, and the chat and score caches make anything
already asked free. The training step is ``followir.training.lora.train``, imported only when it runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from followir.llm.base import GenerationOptions
from followir.models.base import Progress
from followir.training.balance import TRAIN, balance, balance_settings
from followir.training.files import read_manifest, up_to_date, write_manifest
from followir.training.filter import FILTERED, filter_documents, filter_settings, load_judge
from followir.training.generate import (
    DEFAULT_OPTIONS,
    FAILURES,
    GENERATED,
    ParseSettings,
    generate,
    generation_settings,
)
from followir.training.narratives import build_narratives

log = logging.getLogger(__name__)

NARRATIVES = "narratives.jsonl"
MODEL = "model"


@dataclass(frozen=True)
class PipelineConfig:
    sources: Sequence[str]
    output: Path
    generator: str  # openai:MODEL or local:NAME_OR_PATH
    judge: object = "mistral-7b-instruct"  # a registered yes/no reranker name, or a loaded reranker
    base_model: str | None = None
    exclude: Sequence[str] = ("followir",)
    exclude_ids: Sequence[str] = ()
    query_field: str = "title"
    limit: int | None = None  # keep only the first narratives (a small first run)
    # generation
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    requests_per_minute: float | None = None
    timeout: float = 120.0  # seconds per HTTP request
    options: GenerationOptions = DEFAULT_OPTIONS
    attempts: int = 3
    seed: int = 0
    parse: ParseSettings = field(default_factory=ParseSettings)
    prices: tuple[float, float] | None = None
    # filter
    judge_family: str | None = None
    judge_options: Mapping[str, object] = field(default_factory=dict)  # device, batch_size, max_length, ...
    threshold: float = 0.5
    # balance
    per_label: int = 1
    require_both: bool = False
    choose: str = "confident"
    # train
    skip_train: bool = False
    train_options: Mapping[str, object] = field(default_factory=dict)  # LoraConfig fields
    cache_path: str | None = None
    device: str | None = None


def _train(train_file: Path, base_model: str, output_dir: Path, options: Mapping[str, object]) -> Path:
    try:
        from followir.training.lora import LoraConfig, train
    except ImportError as e:
        raise ImportError(f"the training step needs followir.training.lora ({e}). Fix: install the train extra "
                          f"(pip install 'followir[train]'), or pass --skip-train to stop after the dataset") from e
    return train(train_file, base_model, output_dir, LoraConfig(**options))


def _require_documents(generated: Path, failures: Path) -> None:
    """Stop before the judge when generation produced nothing to filter, saying why and what to change."""
    counts = (read_manifest(generated) or {}).get("counts") or {}
    if counts.get("documents"):
        return
    kinds = ", ".join(f"{n} {kind}" for kind, n in counts.get("failures_by_kind", {}).items()) or "none recorded"
    raise ValueError(f"{generated}: no documents were generated; {counts.get('pairs_failed', 0)} of "
                     f"{counts.get('pairs', 0)} pairs failed to parse ({kinds}; each answer's last text is in "
                     f"{failures}). Fix: use a generator that follows the prompt's format (a small local model "
                     f"often does not), raise --max-tokens, lower --min-words, or give failed pairs more seeds "
                     f"with 'followir generate --retry-failed'")


def run_pipeline(config: PipelineConfig, progress: Callable[[str], Progress] | None = None) -> dict:
    """Run (or resume) every step; returns what each step did and where its output is."""
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    if not config.skip_train and not config.base_model:
        raise ValueError("no base model to train: pass base_model (e.g. mistralai/Mistral-7B-Instruct-v0.2), or "
                         "skip_train=True to stop after the dataset")
    report: dict[str, dict] = {}

    def bar(step: str) -> Progress | None:
        return progress(step) if progress else None

    narratives = out / NARRATIVES
    build_narratives(config.sources, narratives, config.exclude, config.exclude_ids, config.query_field,
                     config.limit)
    report["narratives"] = {"ran": True, "output": str(narratives)}

    generated = out / GENERATED
    from followir.llm.chat import load_chat_model

    chat = load_chat_model(config.generator, base_url=config.base_url, api_key_env=config.api_key_env,
                           options=config.options, concurrency=config.concurrency,
                           requests_per_minute=config.requests_per_minute, timeout=config.timeout,
                           cache_path=config.cache_path,
                           device=config.device, prices=config.prices)
    settings = generation_settings(chat, "synthetic-documents", config.options, config.attempts, config.seed,
                                   config.parse)
    if up_to_date(generated, "generate", {"narratives": narratives}, settings):
        report["generate"] = {"ran": False, "output": str(generated)}
    else:
        generate(narratives, out, chat, attempts=config.attempts, seed=config.seed, options=config.options,
                 parse=config.parse, progress=bar("generate"))
        report["generate"] = {"ran": True, "output": str(generated), "requests": chat.stats.to_dict()}
    close = getattr(chat, "close", None)
    if close:
        close()
    _require_documents(generated, out / FAILURES)

    filtered = out / FILTERED
    judge_options = {"cache_path": config.cache_path, "device": config.device, **dict(config.judge_options)}
    judge = (load_judge(config.judge, config.judge_family, **judge_options) if isinstance(config.judge, str)
             else config.judge)
    if up_to_date(filtered, "filter", {"generated": generated}, filter_settings(judge, config.threshold)):
        report["filter"] = {"ran": False, "output": str(filtered)}
    else:
        filter_documents(generated, out, judge, threshold=config.threshold, progress=bar("filter"))
        report["filter"] = {"ran": True, "output": str(filtered)}
    del judge

    train_file = out / TRAIN
    chosen = balance_settings(config.per_label, config.require_both, config.choose, config.seed, True)
    if up_to_date(train_file, "balance", {"filtered": filtered}, chosen):
        report["balance"] = {"ran": False, "output": str(train_file)}
    else:
        balance(filtered, out, per_label=config.per_label, require_both=config.require_both, choose=config.choose,
                seed=config.seed)
        report["balance"] = {"ran": True, "output": str(train_file)}

    if config.skip_train:
        report["train"] = {"ran": False, "skipped": True}
    else:
        train_settings = {"base_model": config.base_model, "train_options": dict(config.train_options)}
        if up_to_date(out / MODEL, "train", {"train": train_file}, train_settings):
            report["train"] = {"ran": False, "output": str(out / MODEL)}
        else:
            model_dir = _train(train_file, config.base_model, out / MODEL, config.train_options)
            write_manifest(out / MODEL, "train", {"train": train_file}, train_settings, {},
                           outputs={"model": model_dir})
            report["train"] = {"ran": True, "output": str(model_dir)}
    return report
