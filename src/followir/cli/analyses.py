"""CLI commands for analyses (registered on the shared app): the instruction length ablation and InstructIR."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from followir.cli.common import (
    RichProgress,
    app,
    console,
    fail,
    print_json,
    progress_bar,
    safe_name,
    say,
    setup_logging,
    stdout,
)
from followir.cli.help_texts import (
    HELP_BATCH_SIZE,
    HELP_DEVICE,
    HELP_ENGINE,
    HELP_FAMILY,
    HELP_MODEL_REVISION,
    HELP_RAY,
    HELP_TRUST_REMOTE_CODE,
    HELP_VERBOSE,
)
from followir.errors import FollowIRError

HELP_BASE_URL = "OpenAI-compatible server (api-embedder; causal-lm with --engine openai)."
_MODEL_HELP = "Registered model name (bm25, all-minilm-l6-v2, smollm2-135m-instruct, ...), or a hub id/path " \
              "with --family."


def _load_model(model, family, template, model_revision, batch_size, device, cache, trust_remote_code, base_url,
                timeout=None, engine=None, ray=None):
    from followir.cli.checks import model_options
    from followir.models.registry import load_model

    options = {"template": template, "revision": model_revision, "batch_size": batch_size, "device": device,
               "cache_path": cache, "trust_remote_code": trust_remote_code or None, "base_url": base_url,
               "timeout": timeout, "engine": engine, "ray": ray}
    return load_model(model, family=family, **model_options(model, family, options))


def _check_first(resamples: int, output: Path, timeout: float | None = None) -> None:
    """Options and the output folder, checked before any weights load or anything is ranked."""
    from followir.cli.checks import check_output_folder, check_resamples, check_timeout

    check_resamples(resamples)
    check_timeout(timeout)
    check_output_folder(output)


def _x100(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value * 100:.1f}"


def _ci(interval: dict | None) -> str:
    if not interval or math.isnan(interval.get("low", math.nan)):
        return ""
    return f" [{interval['low'] * 100:.1f}, {interval['high'] * 100:.1f}]"


@app.command()
def ablation(
    model: str = typer.Option(..., "--model", "-m", help=_MODEL_HELP),
    task: str = typer.Option("followir-mini", "--task", "-t", help="robust04, news21, core17, followir (all "
                             "three), followir-mini, hf:owner/name, or a local dataset folder."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder of the model's results.json (the "
                                          "ablation is added under 'ablation') [default: followir-results/<model>]."),
    generator: Optional[str] = typer.Option(None, "--generator", "-g", help="Chat model that writes missing "
                                            "keywords/short instructions: openai:MODEL (with --generator-url for "
                                            "vLLM/Ollama) or local:NAME_OR_PATH (e.g. local:smollm2-135m-instruct)."),
    generator_url: Optional[str] = typer.Option(None, "--generator-url", help="OpenAI-compatible base URL "
                                                "[default: $OPENAI_BASE_URL or the OpenAI API]."),
    generate: str = typer.Option("missing", "--generate", help="missing: generate only what the data lacks; "
                                 "all: regenerate every keyword list and short instruction."),
    generator_cache: Optional[str] = typer.Option(None, "--generator-cache", help="Cache of generator answers, "
                                                  "or 'none' [default: $FOLLOWIR_CACHE or ~/.cache/followir/"
                                                  "cache.sqlite]."),
    temperature: float = typer.Option(0.0, "--temperature", help="Generator sampling temperature."),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, help="Tries per malformed generator answer."),
    on_failure: str = typer.Option("exclude", "--on-failure", help="exclude: leave queries whose generation "
                                   "failed out of every variant (reported); raise: stop with an error."),
    queries: Optional[str] = typer.Option(None, "--queries", help="Comma-separated query ids (default: all)."),
    max_candidates: Optional[int] = typer.Option(None, "--max-candidates", min=1,
                                                 help="Rank only the first N candidates of each query."),
    family: Optional[str] = typer.Option(None, "--family", help=HELP_FAMILY),
    template: Optional[str] = typer.Option(None, "--template", help="Input template."),
    model_revision: Optional[str] = typer.Option(None, "--model-revision", help=HELP_MODEL_REVISION),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=HELP_BATCH_SIZE),
    device: Optional[str] = typer.Option(None, "--device", help=HELP_DEVICE),
    cache: Optional[str] = typer.Option(None, "--cache", help="Score/embedding cache file, or 'none'."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=HELP_TRUST_REMOTE_CODE),
    base_url: Optional[str] = typer.Option(None, "--base-url", help=HELP_BASE_URL),
    engine: Optional[str] = typer.Option(None, "--engine", help=HELP_ENGINE),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    layout: Optional[str] = typer.Option(None, "--layout", help="Dataset layout: original or mteb."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Dataset revision (default: pinned)."),
    as_json: bool = typer.Option(False, "--json", help="Print the ablation entries as JSON instead of tables."),
    resamples: int = typer.Option(10_000, "--resamples", help="Bootstrap resamples for intervals."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per API or generator request "
                                            "before it is retried [default: 60 (embeddings), 120 (generator)]."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Instruction length ablation (the paper's Figure 3): no instruction vs keywords vs short vs full."""
    setup_logging(verbose)
    from followir.analyses.instruction_variants import VariantGenerator
    from followir.analyses.length_ablation import run_ablation, write_ablation
    from followir.data.loading import load_tasks

    try:
        _check_first(resamples, output or Path("followir-results") / safe_name(model), timeout)
        reranker = _load_model(model, family, template, model_revision, batch_size, device, cache,
                               trust_remote_code, base_url, timeout, engine, ray)
        variant_generator = None
        if generator:
            from followir.llm.base import GenerationOptions
            from followir.llm.chat import load_chat_model

            chat = load_chat_model(generator, base_url=generator_url, cache_path=generator_cache, device=device,
                                   options=GenerationOptions(temperature=temperature),
                                   **({"timeout": timeout} if timeout else {}))
            variant_generator = VariantGenerator(chat, max_attempts=max_attempts)
        with console.status(f"loading {task}"):
            tasks = load_tasks(task, layout=layout, revision=revision)
    except (FollowIRError, ValueError) as e:
        fail(e)
    query_ids = [q.strip() for q in queries.split(",") if q.strip()] if queries else None
    folder = output or Path("followir-results") / safe_name(model)
    entries = {}
    with progress_bar() as progress:
        for t in tasks:
            try:
                result = run_ablation(
                    reranker, t, generator=variant_generator, generate=generate, query_ids=query_ids,
                    max_candidates=max_candidates, on_failure=on_failure, resamples=resamples,
                    progress=RichProgress(progress, f"{model} on {t.name} (5 variants)"),
                    generation_progress=RichProgress(progress, f"generating for {t.name}"))
                write_ablation(result, folder)
            except (FollowIRError, ValueError, RuntimeError) as e:
                fail(e)
            entries[t.name] = result
    if as_json:
        print_json({name: r.to_dict() for name, r in entries.items()})
        return
    for name, result in entries.items():
        _print_ablation(model, name, result)
    say(f"ablation added to {folder / 'results.json'} (runs: <task>.ablation.<variant>.trec)")


def _print_ablation(model: str, task: str, result) -> None:
    data = result.to_dict()
    table = Table(title=f"{model} on {task}: instruction length ablation ({data['main_metric']}, x100, "
                        f"{data['queries']} queries)")
    for col in ("variant", "score [95% CI]", "Δ vs none [95% CI]", "p-MRR"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    labels = {"none": "no instruction", "keywords": "keywords", "short": "short instruction",
              "full": "full instruction"}
    for variant, label in labels.items():
        score = _x100(data["variants"][variant]) + _ci(data["intervals"].get(variant))
        delta = "" if variant == "none" else (f"{data['delta'][variant] * 100:+.1f}"
                                              + _ci(data["intervals"].get(f"delta.{variant}")))
        pmrr = _x100(data["p-MRR"][variant]) if variant in data["p-MRR"] else ""
        table.add_row(label, score, delta, pmrr)
    stdout.print(table)
    generated = data["generation"]["generated"]
    if generated:
        say(f"generated keywords/short instructions for {len(generated)} queries "
                      f"with {data['generation']['generator'].get('name')}")
    if data["excluded"]:
        failed = Table(title="Left out of every variant (generation failed)", style="red")
        failed.add_column("query")
        failed.add_column("why")
        for qid, why in data["excluded"].items():
            failed.add_row(qid, why)
        stdout.print(failed)
    stdout.print("p-MRR exists only for the full instruction (the data has no changed keywords/short version).")


@app.command()
def instructir(
    model: str = typer.Option(..., "--model", "-m", help=_MODEL_HELP),
    corpus: str = typer.Option(..., "--corpus", help="InstructIR's corpus of target passages: a jsonl/parquet/tsv "
                               "file (_id, text, title) or folder, or hf:owner/name holding one."),
    data: Path = typer.Option(Path("."), "--data", help="The InstructIR folder (only_instruction_queries.jsonl, "
                              "qrels/test.tsv; here or in INSTRUCTIR/)."),
    qrels: Optional[Path] = typer.Option(None, "--qrels", help="Qrels replacing INSTRUCTIR/qrels/test.tsv."),
    first_stage: str = typer.Option("bm25", "--first-stage", help="A TREC run file, or a model that searches the "
                                    "whole corpus (bm25, or a bi-encoder such as all-minilm-l6-v2)."),
    depth: int = typer.Option(100, "--depth", min=1, help="Rerank the first stage's top N."),
    base_queries: Optional[int] = typer.Option(None, "--base-queries", min=1,
                                               help="Only the first N base queries (all their instructions)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for the runs and instructir.json "
                                          "[default: followir-results/<model>/instructir]."),
    family: Optional[str] = typer.Option(None, "--family", help=HELP_FAMILY),
    template: Optional[str] = typer.Option(None, "--template", help="Input template."),
    model_revision: Optional[str] = typer.Option(None, "--model-revision", help=HELP_MODEL_REVISION),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=HELP_BATCH_SIZE),
    device: Optional[str] = typer.Option(None, "--device", help=HELP_DEVICE),
    cache: Optional[str] = typer.Option(None, "--cache", help="Score/embedding cache file, or 'none'."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=HELP_TRUST_REMOTE_CODE),
    base_url: Optional[str] = typer.Option(None, "--base-url", help=HELP_BASE_URL),
    engine: Optional[str] = typer.Option(None, "--engine", help=HELP_ENGINE),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    as_json: bool = typer.Option(False, "--json", help="Print instructir.json instead of the table."),
    resamples: int = typer.Option(10_000, "--resamples", help="Bootstrap resamples for intervals."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per API request before it is "
                                            "retried (api-embedder) [default: 60]."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """InstructIR: rerank the first stage's top 100 per instruction; Robustness@10 and nDCG@10."""
    setup_logging(verbose)
    from followir.analyses.instructir import load_instructir, run_instructir, write_instructir

    try:
        _check_first(resamples, output or Path("followir-results") / safe_name(model) / "instructir", timeout)
        reranker = _load_model(model, family, template, model_revision, batch_size, device, cache,
                               trust_remote_code, base_url, timeout, engine, ray)
        with console.status("loading InstructIR"):
            dataset = load_instructir(data, corpus, qrels)
            if base_queries:
                dataset = dataset.subset(dataset.base_ids[:base_queries])
        stage = first_stage
        if Path(first_stage).is_file():
            from followir.data.trec import read_run

            stage = read_run(first_stage)
        elif "/" in first_stage or Path(first_stage).suffix:
            raise FileNotFoundError(f"--first-stage {first_stage!r}: no such run file. Fix: give an existing "
                                    "TREC run file, or a model name such as bm25")
    except (FollowIRError, ValueError, OSError) as e:
        fail(e)
    folder = output or Path("followir-results") / safe_name(model) / "instructir"
    with progress_bar() as progress:
        try:
            result = run_instructir(reranker, dataset, stage, depth, resamples=resamples,
                                    progress=RichProgress(progress, f"{model} reranking top {depth}"),
                                    first_stage_progress=RichProgress(progress, f"first stage ({first_stage})"))
            path = write_instructir(result, folder)
        except (FollowIRError, ValueError, RuntimeError) as e:
            fail(e)
    if as_json:
        print_json(json.loads(path.read_text(encoding="utf-8")))
        return
    out = result.to_dict()
    counts = out["counts"]
    table = Table(title=f"InstructIR: {model} reranking the top {depth} of {first_stage} (x100; "
                        f"{counts['instructions']} instructions, {counts['base_queries']} queries)")
    for col in ("system", "Robustness@10 [95% CI]", "nDCG@10 [95% CI]"):
        table.add_column(col, justify="left" if col == "system" else "right")
    table.add_row(f"first stage ({first_stage})", _x100(out["first_stage_scores"]["robustness@10"]),
                  _x100(out["first_stage_scores"]["ndcg@10"]))
    table.add_row(model, _x100(out["robustness@10"]) + _ci(out["intervals"]["robustness@10"]),
                  _x100(out["ndcg@10"]) + _ci(out["intervals"]["ndcg@10"]))
    stdout.print(table)
    say(f"{counts['targets_in_first_stage']} of {counts['instructions']} targets are in the first "
                  f"stage's top {depth}; runs and instructir.json written to {folder}")


@app.command()
def control(
    model: str = typer.Option(..., "--model", "-m", help=_MODEL_HELP),
    task: str = typer.Option("followir-mini", "--task", "-t", help="A FollowIR-style task (og/changed): robust04, "
                             "news21, core17, followir, followir-mini, mfollowir-fas, ..., or a local folder."),
    generator: str = typer.Option("neutral", "--control", help="The control edit: neutral (a neutral sentence of "
                                  "the change's length) or shuffled (the change's added words, shuffled)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the shuffled control."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder of the model's results.json (the "
                                          "analysis is added under 'control') [default: followir-results/<model>]."),
    family: Optional[str] = typer.Option(None, "--family", help=HELP_FAMILY),
    template: Optional[str] = typer.Option(None, "--template", help="Input template."),
    model_revision: Optional[str] = typer.Option(None, "--model-revision", help=HELP_MODEL_REVISION),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=HELP_BATCH_SIZE),
    device: Optional[str] = typer.Option(None, "--device", help=HELP_DEVICE),
    cache: Optional[str] = typer.Option(None, "--cache", help="Score/embedding cache file, or 'none'."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=HELP_TRUST_REMOTE_CODE),
    base_url: Optional[str] = typer.Option(None, "--base-url", help=HELP_BASE_URL),
    engine: Optional[str] = typer.Option(None, "--engine", help=HELP_ENGINE),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    layout: Optional[str] = typer.Option(None, "--layout", help="Dataset layout: original or mteb."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Dataset revision (default: pinned)."),
    as_json: bool = typer.Option(False, "--json", help="Print the control entries as JSON instead of a table."),
    resamples: int = typer.Option(10_000, "--resamples", help="Bootstrap resamples for intervals."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """p-MRR against a control: the og instruction with a relevance-neutral edit as long as the real change."""
    setup_logging(verbose)
    from followir.analyses.control import GENERATORS, run_control, write_control
    from followir.data.loading import load_tasks

    folder = output or Path("followir-results") / safe_name(model)
    try:
        if generator not in GENERATORS:
            raise ValueError(f"--control {generator!r} is not a control generator; use one of "
                             f"{', '.join(GENERATORS)}")
        _check_first(resamples, folder)
        reranker = _load_model(model, family, template, model_revision, batch_size, device, cache,
                               trust_remote_code, base_url, engine=engine, ray=ray)
        with console.status(f"loading {task}"):
            tasks = load_tasks(task, layout=layout, revision=revision)
    except (FollowIRError, ValueError) as e:
        fail(e)
    entries = {}
    with progress_bar() as progress:
        for t in tasks:
            try:
                result = run_control(reranker, t, generator, seed=seed, resamples=resamples,
                                     progress=RichProgress(progress, f"{model} on {t.name} (og, changed, control)"))
                write_control(result, folder)
            except (FollowIRError, ValueError, RuntimeError) as e:
                fail(e)
            entries[t.name] = result.to_dict()
    if as_json:
        print_json(entries)
        return
    for name, data in entries.items():
        table = Table(title=f"{model} on {name}: p-MRR against a {generator} control (x100, {data['queries']} "
                            "queries, 95% CI)")
        for col in ("measure", "value [95% CI]"):
            table.add_column(col, justify="left" if col == "measure" else "right")
        for key, label in (("p-MRR", "p-MRR (changed)"), ("control p-MRR", f"control p-MRR ({generator})"),
                           ("difference", "difference (p-MRR - control)")):
            table.add_row(label, _x100(data[key]) + _ci(data["intervals"].get(key)))
        stdout.print(table)
        if data["paired_test"]:
            say(f"paired randomization test of the difference: p = {data['paired_test']['p_value']:.4f}")
        if data["fell_back"]:
            say(f"{len(data['fell_back'])} of {len(data['control_generators'])} queries add fewer than two distinct "
                f"words, so no other order exists; their control is the neutral sentence: "
                f"{', '.join(data['fell_back'])}")
    say(f"control added to {folder / 'results.json'} (runs: <task>.control-{generator}.trec)")
