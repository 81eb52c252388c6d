"""Commands that evaluate and score: evaluate, metrics, compare, tasks, models."""

from __future__ import annotations

import time
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
    print_listing,
    print_table,
    progress_bar,
    safe_name,
    say,
    setup_logging,
    stdout,
)
from followir.cli.help_texts import (
    HELP_DEVICE,
    HELP_ENGINE,
    HELP_FAMILY,
    HELP_JSON,
    HELP_RAY,
    HELP_RESAMPLES,
    HELP_VERBOSE,
)
from followir.errors import FollowIRError


@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", "-m", help="Registered model name, or a hub id/path with --family."),
    task: str = typer.Option("followir-mini", "--task", "-t",
                             help="robust04, news21, core17, followir (all three), followir-mini, hf:owner/name, "
                                  "or a local dataset folder."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Folder for run files and results.json "
                                               "[default: followir-results/<model>]"),
    family: Optional[str] = typer.Option(None, "--family", help=HELP_FAMILY),
    template: Optional[str] = typer.Option(None, "--template",
                                           help="Input template (see followir/models/templates.yaml)."),
    model_revision: Optional[str] = typer.Option(None, "--model-revision", help="Model revision on the hub."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size (default: per family)."),
    device: Optional[str] = typer.Option(None, "--device", help=HELP_DEVICE),
    cache: Optional[str] = typer.Option(None, "--cache", help="Score/embedding cache file, or 'none' "
                                        "[default: $FOLLOWIR_CACHE or ~/.cache/followir/cache.sqlite]."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow model code from the hub."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server: embeddings "
                                           "(api-embedder) [default: $OPENAI_BASE_URL or the OpenAI API], or "
                                           "completions with logprobs (causal-lm with --engine openai)."),
    engine: Optional[str] = typer.Option(None, "--engine", help=HELP_ENGINE),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    ray_replicas: Optional[int] = typer.Option(None, "--ray-replicas", help="Model replicas on the Ray cluster "
                                               "[default: one per GPU, else one per --ray-cpus CPUs]."),
    ray_cpus: int = typer.Option(1, "--ray-cpus", help="CPUs per Ray replica (its torch threads)."),
    layout: Optional[str] = typer.Option(None, "--layout", help="Dataset layout: original or mteb; for a folder "
                                         "of another benchmark infosearch, nevir or ifir."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Dataset revision (default: pinned)."),
    language: Optional[str] = typer.Option(None, "--language", help="mFollowIR languages, comma-separated (fas, "
                                           "rus, zho): filters mfollowir/mfollowir-cross, or names the subset of "
                                           "a folder."),
    main_metric: Optional[str] = typer.Option(None, "--main-metric", help="Override the task's main metric."),
    as_json: bool = typer.Option(False, "--json", help="Print results.json to stdout instead of the table."),
    intervals: bool = typer.Option(False, "--intervals", help="Show 95% bootstrap intervals in the table."),
    resamples: int = typer.Option(10_000, "--resamples", help="Bootstrap resamples for intervals."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per API request before it is "
                                            "retried (api-embedder) [default: 60]."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Rank each query's candidates under the og and the changed instruction; score; write runs and results."""
    started = time.perf_counter()
    setup_logging(verbose)
    from followir.cli.checks import check_output_folder, check_resamples, check_timeout, model_options
    from followir.data.benchmarks import load_benchmarks
    from followir.data.field import FieldTask
    from followir.evaluation.results import read_results
    from followir.evaluation.runner import evaluate as run_evaluation
    from followir.models.registry import load_model

    folder = output or Path("followir-results") / safe_name(model)
    try:  # every option and the output folder are checked before any weights load or anything is ranked
        check_resamples(resamples)
        check_timeout(timeout)
        check_output_folder(folder)
        options = {"template": template, "revision": model_revision, "batch_size": batch_size, "device": device,
                   "cache_path": cache, "trust_remote_code": trust_remote_code or None, "base_url": base_url,
                   "timeout": timeout, "engine": engine, "ray": _ray_settings(ray, ray_replicas, ray_cpus)}
        options = model_options(model, family, options)
        with console.status(f"importing the libraries of {model}"):
            reranker = load_model(model, family=family, **options)
        with console.status(f"loading {task}"):
            loaded = load_benchmarks(task, layout=layout, revision=revision, main_metric=main_metric,
                                     language=language)
        tasks = [t for t in loaded if not isinstance(t, FieldTask)]
        field_tasks = [t for t in loaded if isinstance(t, FieldTask)]
    except (FollowIRError, ValueError) as e:
        fail(e)
    with progress_bar() as progress:
        def factory(name: str) -> RichProgress:
            return RichProgress(progress, f"{model} on {name}")

        try:
            if tasks:
                run_evaluation(reranker, tasks, folder, progress=factory, resamples=resamples,
                               status=console.status, started=started)
            if field_tasks:
                _evaluate_field(reranker, field_tasks, folder, factory, resamples)
        except (FollowIRError, ValueError) as e:
            fail(e)
        except OSError as e:  # a model that cannot be found or read, a full disk: no traceback
            fail(f"{e}. Fix: check the model path or hub id (and the network), and that {folder} is writable")
    results = read_results(folder)
    if as_json:
        print_json(results)
        return
    if tasks:
        print_table([{**results, "tasks": {t.name: results["tasks"][t.name] for t in tasks}}], intervals)
    if field_tasks:
        _print_field(model, [results["field"][t.name] for t in field_tasks])
    say(f"runs and results.json written to {folder}")


def _evaluate_field(reranker, field_tasks, folder: Path, factory, resamples: int) -> None:
    """InfoSearch, NevIR and IFIR: rank every mode, score with the benchmark's metrics, add to results.json."""
    from followir.evaluation.field import evaluate_field_task, write_field_result
    from followir.evaluation.runner import load_weights

    load_weights(reranker)
    model_info = {"name": reranker.name, **reranker.describe()}
    for t in field_tasks:
        write_field_result(evaluate_field_task(reranker, t, factory(t.name), resamples), folder, model_info)


def _print_field(model: str, entries: list[dict]) -> None:
    from followir.reports.field import FIELD_LABELS, field_rows

    table = Table(title=f"{model} on the field's benchmarks (x100; 95% CI)")
    for col in ("task", "metric", "value [95% CI]"):
        table.add_column(col, justify="right" if col == "value [95% CI]" else "left")
    for task, metric, value, low, high in field_rows(entries):
        ci = f" [{low * 100:.1f}, {high * 100:.1f}]" if low is not None and high is not None else ""
        table.add_row(task, FIELD_LABELS.get(metric, metric), ("-" if value is None else f"{value * 100:.1f}") + ci)
    stdout.print(table)


def _ray_settings(address: str | None, replicas: int | None, cpus: int):
    """``--ray`` and its sizing options as settings (None without ``--ray``; sizing without it is refused)."""
    from followir.errors import OptionError

    if address is None:
        if replicas is not None or cpus != 1:
            raise OptionError("--ray-replicas and --ray-cpus size a Ray cluster. Fix: add --ray auto (or local)")
        return None
    from followir.models.ray_engine import RaySettings

    return RaySettings(address=address, replicas=replicas, cpus_per_replica=cpus)


def _x100(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value * 100:.1f}"


@app.command()
def metrics(
    qrels_og: Path = typer.Option(..., "--qrels-og", exists=True, dir_okay=False, help="TREC qrels, og instruction."),
    qrels_changed: Path = typer.Option(..., "--qrels-changed", exists=True, dir_okay=False,
                                      help="TREC qrels, changed instruction."),
    run_og: Path = typer.Option(..., "--run-og", exists=True, dir_okay=False, help="TREC run, og instruction."),
    run_changed: Path = typer.Option(..., "--run-changed", exists=True, dir_okay=False,
                                    help="TREC run, changed instruction."),
    main_metric: str = typer.Option("map_cut_1000", "--main-metric",
                                    help="map_cut_1000 (Robust04, Core17) or ndcg_cut_5 (News21)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: p-MRR, og, changed (raw values)."),
    per_query: bool = typer.Option(False, "--per-query", help="Include per-query values in the JSON."),
) -> None:
    """Compute p-MRR and trec_eval measures from your own TREC qrels and run files."""
    setup_logging(False)
    from followir.data.trec import read_followir_files
    from followir.metrics.followir_scores import score_followir
    from followir.metrics.trec_measures import MEASURES
    from followir.records import derive_changed_documents

    try:
        og, changed, r_og, r_changed = read_followir_files(qrels_og, qrels_changed, run_og, run_changed)
        scores = score_followir(og.judgements, changed.judgements, r_og.scores, r_changed.scores,
                                derive_changed_documents(og, changed), main_metric)
    except (FollowIRError, ValueError) as e:
        fail(e)
    data = scores.to_dict(per_query=per_query)
    if as_json:
        print_json(data)
        return
    table = Table(title="FollowIR metrics (x100; --json gives 0-1)")
    table.add_column("measure")
    table.add_column("og", justify="right")
    table.add_column("changed", justify="right")
    for key, measure in MEASURES.items():
        table.add_row(measure.label, _x100(scores.og[key]), _x100(scores.changed[key]))
    stdout.print(table)
    ci = scores.intervals["p-MRR"]
    stdout.print(f"p-MRR {scores.p_mrr * 100:+.1f}  (95% CI {ci.low * 100:+.1f} .. {ci.high * 100:+.1f}, "
                 f"{len(scores.per_query_p_mrr)} {'query' if len(scores.per_query_p_mrr) == 1 else 'queries'} "
                 "with changed documents)")


@app.command()
def compare(
    a: Path = typer.Argument(..., help="Results folder or results.json of system A."),
    b: Path = typer.Argument(..., help="Results folder or results.json of system B."),
    as_json: bool = typer.Option(False, "--json", help=HELP_JSON),
    resamples: int = typer.Option(10_000, "--resamples", help=HELP_RESAMPLES),
) -> None:
    """Paired randomization test between two results files, per shared task (main score and p-MRR)."""
    from followir.cli.checks import check_resamples
    from followir.evaluation.compare import compare_field_results, compare_results
    from followir.evaluation.results import read_results
    from followir.metrics.trec_measures import MEASURES

    try:
        check_resamples(resamples)
        ra, rb = read_results(a), read_results(b)
        field = compare_field_results(ra, rb, resamples)
        out = compare_results(ra, rb, resamples, sources=(str(a), str(b))) \
            if (set(ra["tasks"]) & set(rb["tasks"])) or not field else {}
    except (FollowIRError, ValueError) as e:
        fail(e)
    if as_json:
        print_json({**out, **({"field": field} if field else {})})
        return
    table = Table(title=f"{ra['model'].get('name')} (A) vs {rb['model'].get('name')} (B), x100")
    for col in ("task", "measure", "A", "B", "A-B", "p-value", "queries"):
        table.add_column(col, justify="left" if col in ("task", "measure") else "right")
    for task, tests in out.items():
        for key in ("main_score", "p-MRR"):
            t = tests[key]
            metric = tests["main_metric"]
            label = (MEASURES[metric].label if metric in MEASURES else metric) if key == "main_score" else "p-MRR"
            table.add_row(task, label, f"{t['mean_a'] * 100:.1f}", f"{t['mean_b'] * 100:.1f}",
                          f"{t['difference'] * 100:+.1f}", f"{t['p_value']:.4f}", str(t["queries"]))
    for task, tests in field.items():
        for label, t in tests.items():
            table.add_row(task, label, f"{t['mean_a'] * 100:.1f}", f"{t['mean_b'] * 100:.1f}",
                          f"{t['difference'] * 100:+.1f}", f"{t['p_value']:.4f}", str(t["queries"]))
    stdout.print(table)


@app.command("tasks")
def list_tasks(as_json: bool = typer.Option(False, "--json", help=HELP_JSON)) -> None:
    """List the registered tasks with their hub ids and pinned revisions."""
    from followir.data.catalog import GROUPS, TASKS

    rows = []
    for spec in TASKS.values():
        for layout in ("original", "mteb"):
            hub = getattr(spec, layout)
            if hub is not None:
                rows.append({"name": spec.name, "main_metric": spec.main_metric, "layout": layout,
                             "repo_id": hub.repo_id, "revision": hub.revision,
                             **({"benchmark": spec.kind} if spec.kind != "followir" else {}),
                             **({"language": spec.language} if spec.language else {})})
        if spec.packaged:
            rows.append({"name": spec.name, "main_metric": spec.main_metric, "layout": "original",
                         "repo_id": None, "revision": None, "packaged": True})
    groups = {name: list(members) for name, members in GROUPS.items()}
    if as_json:
        print_json({"tasks": rows, "groups": groups})
        return
    table = Table(title="Registered tasks (--task NAME; --layout original|mteb)")
    for col in ("name", "metric", "layout", "hub id @ revision"):
        table.add_column(col, overflow="fold")
    records = []
    for row in rows:
        where = "packaged with followir" if row.get("packaged") else \
            f"{row['repo_id']}@{row['revision'] or 'unpinned (results record the snapshot used)'}"
        table.add_row(row["name"], row["main_metric"], row["layout"], where)
        records.append((row["name"], f"{row['main_metric']}; {row['layout']} layout", where))
    for name, members in groups.items():
        table.add_row(name, "-", "-", "= " + " + ".join(members))
        records.append((name, "a group", "= " + " + ".join(members)))
    print_listing(table, records)


def _weights_source(model_id: str | None) -> str:
    """Where a registered model's weights come from, as a user types it: a hub id, or a package's name."""
    from followir.models.weights import weights_package

    if model_id is None:
        return "(no weights)"
    package = weights_package(model_id)
    if package is None:
        return model_id
    hub_id = model_id.partition("|")[2]
    shipped = f"package {package.replace('_', '-')}"
    return f"{hub_id} or {shipped}" if hub_id else shipped


@app.command("models")
def list_models(
    as_json: bool = typer.Option(False, "--json", help=HELP_JSON),
    show_input: Optional[str] = typer.Option(None, "--show-input", metavar="NAME",
                                             help="Print the exact input model NAME gets for one (query, "
                                                  "instruction, passage), and the reference it follows."),
    query: Optional[str] = typer.Option(None, "--query", help="With --show-input: the query [default: a sample]."),
    instruction: Optional[str] = typer.Option(None, "--instruction",
                                              help="With --show-input: the instruction [default: a sample]."),
    passage: Optional[str] = typer.Option(None, "--passage", help="With --show-input: the passage [default: a "
                                          "sample]."),
    family: Optional[str] = typer.Option(None, "--family", help="With --show-input: the family of an "
                                         "unregistered model."),
) -> None:
    """List the registered models (family, hub id and revision, Table 2 group), or show one model's input."""
    from dataclasses import asdict

    from followir.models.registry import MODELS

    if show_input:
        from followir.models.inputs import render_input

        given = {k: v for k, v in (("query", query), ("instruction", instruction), ("passage", passage))
                 if v is not None}
        try:
            shown = render_input(show_input, family=family, **given)
        except (FollowIRError, ValueError) as e:
            fail(e)
        if as_json:
            print_json(asdict(shown))
        else:
            stdout.print(str(shown), soft_wrap=True)
        return
    if as_json:
        print_json({"models": [dict(asdict(spec), settings=dict(spec.settings))
                                           for spec in MODELS.values()]})
        return
    table = Table(title="Registered models (--model NAME)")
    for col in ("name", "family", "hub id @ revision", "group"):
        table.add_column(col, overflow="fold")
    records = []
    for spec in MODELS.values():
        where = _weights_source(spec.model_id)
        if spec.revision:
            where += f"@{spec.revision}"
        table.add_row(spec.name, spec.family, where, spec.group)
        records.append((spec.name, f"{spec.family}; {spec.group}", where))
    print_listing(table, records)
