"""CLI commands for building training data: narratives, generate, filter, balance, train-pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from followir.cli.common import RichProgress, app, fail, print_json, progress_bar, say, setup_logging, stdout
from followir.cli.help_texts import HELP_BATCH_SIZE, HELP_DEVICE, HELP_ENGINE, HELP_RAY, HELP_VERBOSE
from followir.errors import FollowIRError

_ERRORS = (FollowIRError, ValueError, ImportError)

_GENERATOR_HELP = "openai:MODEL (any OpenAI-compatible server: pass --base-url for vLLM/Ollama/TGI) or " \
                  "local:NAME_OR_PATH (a registered causal LM such as smollm2-135m-instruct, a folder or hub id)."
_CACHE_HELP = "Chat/score cache file, or 'none' [default: $FOLLOWIR_CACHE or ~/.cache/followir/cache.sqlite]."


def _print_counts(title: str, manifest: dict, as_json: bool) -> None:
    if as_json:
        print_json(manifest)
        return
    say(title)
    for key, value in manifest.get("counts", {}).items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value) if len(json.dumps(value)) < 100 else f"({len(value)} entries)"
        say(f"  {key}: {value}")


def _exclusions(exclude_ids: List[str], exclude_ids_file: Optional[Path]) -> list[str]:
    from followir.training.narratives import read_ids_file

    return list(exclude_ids) + (read_ids_file(exclude_ids_file) if exclude_ids_file else [])


def _options(temperature: float, max_tokens: int, top_p: Optional[float]):
    from followir.llm.base import GenerationOptions

    return GenerationOptions(temperature=temperature, max_tokens=max_tokens, top_p=top_p)


def _prices(price_input: Optional[float], price_output: Optional[float]) -> tuple[float, float] | None:
    if price_input is None and price_output is None:
        return None
    if price_input is None or price_output is None:
        raise ValueError("give both --price-input and --price-output (US$ per 1M tokens)")
    return price_input, price_output


def _parse_settings(min_per_label: int, max_per_label: int, min_words: int):
    from followir.training.generate import ParseSettings

    return ParseSettings(min_per_label=min_per_label, max_per_label=max_per_label, min_words=min_words)


def _train_options(pairs: List[str]) -> dict:
    """``KEY=VALUE`` pairs; values parse as JSON when they can (numbers, booleans), else stay strings."""
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--train-option {item!r}: write KEY=VALUE, e.g. --train-option epochs=1")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@app.command()
def narratives(
    sources: List[str] = typer.Argument(..., help="TREC topic files, jsonl/parquet files (query, instruction, id), "
                                                  "folders of them, or hf:owner/name[@revision]."),
    output: Path = typer.Option(..., "--output", "-o", help="The narratives.jsonl to write."),
    exclude: List[str] = typer.Option([], "--exclude", help="Evaluation task whose topics to exclude: followir, "
                                      "robust04, news21, core17, or another task name/folder (repeatable)."),
    exclude_id: List[str] = typer.Option([], "--exclude-id", help="A topic id to exclude (repeatable)."),
    exclude_ids_file: Optional[Path] = typer.Option(None, "--exclude-ids-file", exists=True, dir_okay=False,
                                                    help="Topic ids to exclude, one per line."),
    query_field: str = typer.Option("title", "--query-field", help="TREC field used as the query: title or "
                                    "description."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Keep only the first N narratives (after "
                                        "exclusion and cleaning): a small first run."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 1: read (query, instruction) pairs, exclude evaluation topics, drop empty and duplicate ones."""
    setup_logging(verbose)
    from followir.training.narratives import build_narratives

    try:
        manifest = build_narratives(sources, output, exclude, _exclusions(exclude_id, exclude_ids_file), query_field,
                                    limit)
    except _ERRORS as e:
        fail(e)
    _print_counts(f"narratives written to {output}", manifest, as_json)


@app.command()
def generate(
    narratives_file: Path = typer.Option(..., "--narratives", exists=True, dir_okay=False,
                                         help="narratives.jsonl from 'followir narratives'."),
    generator: str = typer.Option(..., "--generator", "-g", help=_GENERATOR_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for generated.jsonl and failures.jsonl."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible API root, e.g. "
                                           "http://localhost:8000/v1 [default: $OPENAI_BASE_URL or OpenAI]."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Environment variable with the key."),
    concurrency: int = typer.Option(4, "--concurrency", help="Requests in flight at once (openai:)."),
    rpm: Optional[float] = typer.Option(None, "--rpm", help="At most this many requests per minute (openai:)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per HTTP request before it is retried."),
    temperature: float = typer.Option(0.7, "--temperature", help="Sampling temperature of the generator."),
    max_tokens: int = typer.Option(4096, "--max-tokens", help="Answer length limit in tokens."),
    top_p: Optional[float] = typer.Option(None, "--top-p",
                                          help="Nucleus sampling p of the generator [default: the server's]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first attempt; retry k uses seed + k."),
    attempts: int = typer.Option(3, "--attempts", help="Tries per pair before it is recorded as failed."),
    min_per_label: int = typer.Option(1, "--min-per-label", help="Fewer documents of a label = malformed."),
    max_per_label: int = typer.Option(3, "--max-per-label", help="Documents kept per label (the prompt asks 3)."),
    min_words: int = typer.Option(20, "--min-words", help="Shorter pieces of an answer are not documents."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Give failed pairs --attempts more seeds."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the token and cost estimate; send nothing."),
    price_input: Optional[float] = typer.Option(None, "--price-input", help="US$ per 1M prompt tokens."),
    price_output: Optional[float] = typer.Option(None, "--price-output", help="US$ per 1M output tokens."),
    cache: Optional[str] = typer.Option(None, "--cache", help=_CACHE_HELP),
    device: Optional[str] = typer.Option(None, "--device", help="cuda, mps or cpu (local:)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 2: ask a generator LLM for relevant and non-relevant documents (resumable, cached)."""
    setup_logging(verbose)
    from followir.llm.chat import load_chat_model
    from followir.training.generate import generate as run_generate

    chat = None
    try:
        options = _options(temperature, max_tokens, top_p)
        chat = load_chat_model(generator, base_url=base_url, api_key_env=api_key_env, options=options,
                               concurrency=concurrency, requests_per_minute=rpm, timeout=timeout, cache_path=cache,
                               device=device,
                               prices=_prices(price_input, price_output))
        parse = _parse_settings(min_per_label, max_per_label, min_words)
        if dry_run:
            result = run_generate(narratives_file, output, chat, attempts=attempts, seed=seed, options=options,
                                  parse=parse, retry_failed=retry_failed, dry_run=True)
            if as_json:
                print_json(result)
            else:
                stdout.print(f"{result['todo']} of {result['pairs']} pairs to generate; {result['estimate_text']}")
            return
        with progress_bar() as progress:
            manifest = run_generate(narratives_file, output, chat, attempts=attempts, seed=seed, options=options,
                                    parse=parse, retry_failed=retry_failed,
                                    progress=RichProgress(progress, f"generate with {generator}"))
    except _ERRORS as e:
        fail(e)
    finally:
        if chat is not None and hasattr(chat, "close"):
            chat.close()
    _print_counts(f"documents written to {output / 'generated.jsonl'}", manifest, as_json)


@app.command("filter")
def filter_command(
    generated: Path = typer.Option(..., "--generated", exists=True, dir_okay=False,
                                   help="generated.jsonl from 'followir generate'."),
    judge: str = typer.Option("mistral-7b-instruct", "--judge", help="A yes/no reranker: registered causal-lm or "
                              "seq2seq name, or a hub id/path with --family."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for filtered.jsonl and rejected.jsonl."),
    family: Optional[str] = typer.Option(None, "--family", help="causal-lm or seq2seq, for unregistered judges."),
    threshold: float = typer.Option(0.5, "--threshold", help="Judged relevant when p(true) > threshold."),
    device: Optional[str] = typer.Option(None, "--device", help=HELP_DEVICE),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=HELP_BATCH_SIZE),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Judge input limit in tokens."),
    cache: Optional[str] = typer.Option(None, "--cache", help=_CACHE_HELP),
    engine: Optional[str] = typer.Option(None, "--engine", help=HELP_ENGINE),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="The server for --engine openai."),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 3: keep the documents whose judge label (p(true) > threshold) agrees with the generated label."""
    setup_logging(verbose)
    from followir.training.filter import filter_documents, load_judge

    try:
        reranker = load_judge(judge, family, device=device, batch_size=batch_size, max_length=max_length,
                              cache_path=cache, engine=engine, base_url=base_url, ray=ray)
        with progress_bar() as progress:
            manifest = filter_documents(generated, output, reranker, threshold=threshold,
                                        progress=RichProgress(progress, f"judge {judge}"))
    except _ERRORS as e:
        fail(e)
    _print_counts(f"kept documents written to {output / 'filtered.jsonl'}", manifest, as_json)


@app.command("balance")
def balance_command(
    filtered: Path = typer.Option(..., "--filtered", exists=True, dir_okay=False,
                                  help="filtered.jsonl from 'followir filter'."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for train.jsonl, dataset/ and the datasheet."),
    per_label: int = typer.Option(1, "--per-label", help="Documents kept per label per query (the paper: 1)."),
    require_both: bool = typer.Option(False, "--require-both", help="Drop queries lacking either label."),
    choose: str = typer.Option("confident", "--choose", help="confident (judge's surest), first or random."),
    seed: int = typer.Option(0, "--seed", help="Seed for --choose random."),
    no_hf: bool = typer.Option(False, "--no-hf", help="Skip the Hugging Face dataset folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 4: one relevant and one non-relevant document per query; write the dataset and its datasheet."""
    setup_logging(verbose)
    from followir.training.balance import balance

    try:
        manifest = balance(filtered, output, per_label=per_label, require_both=require_both, choose=choose,
                           seed=seed, save_hf=not no_hf)
    except _ERRORS as e:
        fail(e)
    _print_counts(f"dataset written to {output} (datasheet.md has the counts of every step)", manifest, as_json)


@app.command("train-pipeline")
def train_pipeline(
    narratives_sources: List[str] = typer.Option(..., "--narratives", help="A narrative source (repeatable): "
                                                 "TREC topic file, jsonl/parquet, folder, or hf:owner/name."),
    generator: str = typer.Option(..., "--generator", "-g", help=_GENERATOR_HELP),
    judge: str = typer.Option("mistral-7b-instruct", "--judge", help="Yes/no reranker that filters documents."),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="Causal LM to fine-tune with LoRA."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for every step's files and the model."),
    exclude: List[str] = typer.Option(["followir"], "--exclude", help="Evaluation tasks whose topics to exclude "
                                      "(repeatable; 'none' excludes nothing) [default: followir]."),
    exclude_id: List[str] = typer.Option([], "--exclude-id", help="A topic id to exclude (repeatable)."),
    exclude_ids_file: Optional[Path] = typer.Option(None, "--exclude-ids-file", exists=True, dir_okay=False,
                                                    help="File of topic ids to exclude, one per line."),
    query_field: str = typer.Option("title", "--query-field", help="title or description (TREC files)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Keep only the first N narratives: a small "
                                        "first run."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible API root (openai:)."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Environment variable with the key."),
    concurrency: int = typer.Option(4, "--concurrency", help="Requests in flight at once (openai:)."),
    rpm: Optional[float] = typer.Option(None, "--rpm", help="Requests per minute limit (openai:)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per HTTP request before it is retried."),
    temperature: float = typer.Option(0.7, "--temperature", help="Sampling temperature of the generator."),
    max_tokens: int = typer.Option(4096, "--max-tokens", help="Answer length limit in tokens."),
    top_p: Optional[float] = typer.Option(None, "--top-p",
                                          help="Nucleus sampling p of the generator [default: the server's]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first attempt; retry k uses seed + k."),
    attempts: int = typer.Option(3, "--attempts", help="Tries per pair before it is recorded as failed."),
    min_per_label: int = typer.Option(1, "--min-per-label", help="Fewer documents of a label = malformed."),
    max_per_label: int = typer.Option(3, "--max-per-label", help="Documents kept per label (the prompt asks 3)."),
    min_words: int = typer.Option(20, "--min-words", help="Shorter pieces of an answer are not documents."),
    price_input: Optional[float] = typer.Option(None, "--price-input", help="US$ per 1M prompt tokens."),
    price_output: Optional[float] = typer.Option(None, "--price-output", help="US$ per 1M output tokens."),
    judge_family: Optional[str] = typer.Option(None, "--judge-family",
                                               help="Family of an unregistered judge model (e.g. causal-lm)."),
    threshold: float = typer.Option(0.5, "--threshold", help="Judged relevant when p(true) > threshold."),
    judge_batch_size: Optional[int] = typer.Option(None, "--judge-batch-size",
                                                   help="Judge batch size [default: per family]."),
    judge_max_length: Optional[int] = typer.Option(None, "--judge-max-length",
                                                   help="Judge maximum input length in tokens [default: the model's]."),
    per_label: int = typer.Option(1, "--per-label", help="Documents kept per label per query (the paper: 1)."),
    require_both: bool = typer.Option(False, "--require-both", help="Drop queries lacking either label."),
    choose: str = typer.Option("confident", "--choose", help="confident (judge's surest), first or random."),
    skip_train: bool = typer.Option(False, "--skip-train", help="Stop after the dataset (no LoRA training)."),
    train_option: List[str] = typer.Option([], "--train-option", help="LoraConfig field as KEY=VALUE "
                                           "(repeatable), e.g. --train-option epochs=1."),
    cache: Optional[str] = typer.Option(None, "--cache", help=_CACHE_HELP),
    device: Optional[str] = typer.Option(None, "--device", help=HELP_DEVICE),
    as_json: bool = typer.Option(False, "--json", help="Print what each step did as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """All steps: narratives -> generate -> filter -> balance -> LoRA training. A rerun resumes."""
    setup_logging(verbose)
    from followir.training.pipeline import PipelineConfig, run_pipeline

    try:
        config = PipelineConfig(
            sources=narratives_sources, output=output, generator=generator, judge=judge, base_model=base_model,
            exclude=exclude, exclude_ids=_exclusions(exclude_id, exclude_ids_file), query_field=query_field,
            limit=limit, base_url=base_url, api_key_env=api_key_env, concurrency=concurrency, requests_per_minute=rpm,
            timeout=timeout, options=_options(temperature, max_tokens, top_p), attempts=attempts, seed=seed,
            parse=_parse_settings(min_per_label, max_per_label, min_words),
            prices=_prices(price_input, price_output), judge_family=judge_family,
            judge_options={"batch_size": judge_batch_size, "max_length": judge_max_length}, threshold=threshold,
            per_label=per_label, require_both=require_both, choose=choose, skip_train=skip_train,
            train_options=_train_options(train_option), cache_path=cache, device=device)
        with progress_bar() as progress:
            report = run_pipeline(config, lambda step: RichProgress(progress, step))
    except _ERRORS as e:
        fail(e)
    if as_json:
        print_json(report)
        return
    for step, info in report.items():
        state = "skipped (up to date)" if not info.get("ran") else "done"
        if info.get("skipped"):
            state = "skipped (--skip-train)"
        say(f"{step}: {state} {info.get('output', '')}")
    datasheet = Path(output) / "datasheet.md"
    if datasheet.exists():
        stdout.print(datasheet.read_text(encoding="utf-8"))
