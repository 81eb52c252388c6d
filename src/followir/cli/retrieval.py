"""Full-collection commands: BEIR keyword ablation (Table 3), full retrieval on FollowIR tasks (Table 5)."""

from __future__ import annotations

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
    HELP_RESAMPLES,
    HELP_TRUST_REMOTE_CODE,
    HELP_VERBOSE,
)
from followir.errors import FollowIRError

_MODEL_HELP = "Registered model name (bm25, all-minilm-l6-v2, ...), or a hub id/path with --family."


def _load(model: str, family, template, model_revision, batch_size, device, cache, trust_remote_code,
          base_url, engine=None, ray=None):
    from followir.models.registry import load_model, resolve
    from followir.retrieval.searcher import SEARCHING_FAMILIES, cannot_search

    spec = resolve(model, family)
    if spec.family not in SEARCHING_FAMILIES:  # refuse before loading anything heavy
        raise ValueError(cannot_search(model, spec.family))
    options = {"template": template, "revision": model_revision, "batch_size": batch_size, "device": device,
               "cache_path": cache, "trust_remote_code": trust_remote_code or None, "base_url": base_url,
               "engine": engine, "ray": ray}
    return load_model(model, family=family, **{k: v for k, v in options.items() if v is not None})


def _hnsw(approximate: bool, ef_search: int):
    if not approximate:
        return None
    from followir.retrieval import HNSWSettings

    return HNSWSettings(ef_search=ef_search)


@app.command("beir-keywords")
def beir_keywords(
    model: str = typer.Option(..., "--model", "-m", help=_MODEL_HELP),
    dataset: str = typer.Option(..., "--dataset", "-d", help="BEIR folder (corpus.jsonl, queries.jsonl, "
                                "qrels/<split>.tsv), or scifact, nfcorpus, fiqa (MTEB's copies on the hub)."),
    dataset_name: Optional[str] = typer.Option(None, "--dataset-name", help="Which dataset's keywords to use "
                                               "(scifact, nfcorpus, fiqa) [default: from the folder name]."),
    profile: Optional[str] = typer.Option(None, "--profile", help="Keyword profile (see beir_keywords.yaml) "
                                          "[default: the model's]."),
    split: str = typer.Option("test", "--split", help="qrels split."),
    top_k: int = typer.Option(1000, "--top-k", min=1, help="Documents retrieved per query."),
    approximate: bool = typer.Option(False, "--approximate", help="HNSW search (faiss) instead of exact "
                                     "search, for dense models on large corpora."),
    ef_search: int = typer.Option(256, "--ef-search", min=1, help="HNSW beam width at search time."),
    bm25_method: str = typer.Option("robertson", "--bm25-method", help="bm25s variant for BM25: robertson "
                                    "(classic Okapi, as rank_bm25), lucene, atire, bm25l, bm25+."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for the runs and the JSON "
                                          "[default: followir-results/<model>/beir-keywords]."),
    family: Optional[str] = typer.Option(None, "--family", help=HELP_FAMILY),
    template: Optional[str] = typer.Option(None, "--template",
                                           help="Input template (no-instruction profile)."),
    model_revision: Optional[str] = typer.Option(None, "--model-revision", help=HELP_MODEL_REVISION),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=HELP_BATCH_SIZE),
    device: Optional[str] = typer.Option(None, "--device", help=HELP_DEVICE),
    cache: Optional[str] = typer.Option(None, "--cache", help="Embedding cache file, or 'none'."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=HELP_TRUST_REMOTE_CODE),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible embeddings server."),
    engine: Optional[str] = typer.Option(None, "--engine", help=HELP_ENGINE),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    as_json: bool = typer.Option(False, "--json", help="Print the results JSON instead of the table."),
    resamples: int = typer.Option(10_000, "--resamples", help="Resamples for the interval and the test."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Original short instruction vs keywords only (Table 3), over a BEIR dataset's full corpus, nDCG@10."""
    setup_logging(verbose)
    from followir.analyses.beir_keywords import run_keyword_ablation, write_ablation
    from followir.data.beir import load_beir

    try:
        retriever = _load(model, family, template, model_revision, batch_size, device, cache,
                          trust_remote_code, base_url, engine, ray)
        with console.status(f"loading {dataset}"):
            data = load_beir(dataset, split)
        hnsw = _hnsw(approximate, ef_search)
    except (FollowIRError, ValueError) as e:
        fail(e)
    folder = output or Path("followir-results") / safe_name(model) / "beir-keywords"
    with progress_bar() as progress:
        try:
            result = run_keyword_ablation(retriever, data, profile=profile, dataset=dataset_name, top_k=top_k,
                                          approximate=hnsw, bm25_method=bm25_method, resamples=resamples,
                                          progress=lambda what: RichProgress(progress, f"{model}: {what}"))
        except (FollowIRError, ValueError) as e:
            fail(e)
    path = write_ablation(result, folder)
    if as_json:
        print_json(result.to_dict(per_query=False))
        return
    table = Table(title=f"BEIR keyword ablation, nDCG@10 x100 (full corpus, {result.documents:,} documents, "
                        f"{result.queries} queries)")
    for col in ("Model", "Dataset", "Profile", "Original", "Keywords", "Δ w/Key.", "p-value"):
        table.add_column(col, justify="left" if col in ("Model", "Dataset", "Profile") else "right")
    original, keywords = result.original.scores["ndcg_cut_10"], result.keywords.scores["ndcg_cut_10"]
    table.add_row(model, result.dataset, result.profile, f"{original * 100:.1f}", f"{keywords * 100:.1f}",
                  f"{result.delta * 100:+.1f}", f"{result.test.p_value:.4f}")
    stdout.print(table)
    stdout.print(f"original query: {result.original.example_query!r}")
    stdout.print(f"keywords query: {result.keywords.example_query!r}")
    say(f"runs and {path.name} written to {folder} ({result.timings['total_s']:.1f} s)")


@app.command("full-retrieval")
def full_retrieval(
    model: str = typer.Option(..., "--model", "-m", help=_MODEL_HELP),
    task: str = typer.Option("followir-mini", "--task", "-t", help="robust04, news21, core17, followir, "
                             "followir-mini, hf:owner/name, or a local dataset folder."),
    top_k: int = typer.Option(1000, "--top-k", min=1, help="Documents retrieved per query."),
    approximate: bool = typer.Option(False, "--approximate", help="HNSW search (faiss) for dense models."),
    ef_search: int = typer.Option(256, "--ef-search", min=1, help="HNSW beam width at search time."),
    bm25_method: str = typer.Option("robertson", "--bm25-method", help="bm25s variant for BM25: robertson "
                                    "(classic Okapi, as rank_bm25), lucene, atire, bm25l, bm25+."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for the runs and the JSON "
                                          "[default: followir-results/<model>/full-retrieval]."),
    family: Optional[str] = typer.Option(None, "--family", help=HELP_FAMILY),
    template: Optional[str] = typer.Option(None, "--template", help="Input template."),
    model_revision: Optional[str] = typer.Option(None, "--model-revision", help=HELP_MODEL_REVISION),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=HELP_BATCH_SIZE),
    device: Optional[str] = typer.Option(None, "--device", help=HELP_DEVICE),
    cache: Optional[str] = typer.Option(None, "--cache", help="Embedding cache file, or 'none'."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=HELP_TRUST_REMOTE_CODE),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible embeddings server."),
    engine: Optional[str] = typer.Option(None, "--engine", help=HELP_ENGINE),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    layout: Optional[str] = typer.Option(None, "--layout", help="Dataset layout: original or mteb."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Dataset revision (default: pinned)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results JSON instead of the table."),
    resamples: int = typer.Option(10_000, "--resamples", help=HELP_RESAMPLES),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Retrieve over each task's whole corpus (Table 5): no-instruction score, its change with the
    instruction, and p-MRR over the changed documents the model retrieved."""
    setup_logging(verbose)
    from followir.analyses.full_retrieval import run_full_retrieval, write_full_retrieval
    from followir.data.loading import load_tasks

    try:
        retriever = _load(model, family, template, model_revision, batch_size, device, cache,
                          trust_remote_code, base_url, engine, ray)
        with console.status(f"loading {task}"):
            tasks = load_tasks(task, layout=layout, revision=revision)
        hnsw = _hnsw(approximate, ef_search)
    except (FollowIRError, ValueError) as e:
        fail(e)
    folder = output or Path("followir-results") / safe_name(model) / "full-retrieval"
    results = []
    with progress_bar() as progress:
        for item in tasks:
            try:
                results.append(run_full_retrieval(
                    retriever, item, top_k=top_k, approximate=hnsw, bm25_method=bm25_method,
                    resamples=resamples,
                    progress=lambda what, name=item.name: RichProgress(progress, f"{name}: {what}")))
            except (FollowIRError, ValueError) as e:
                fail(e)
    path = write_full_retrieval(results, folder)
    if as_json:
        print_json({r.task: r.to_dict(per_query=False) for r in results})
        return
    from followir.metrics.trec_measures import MEASURES

    table = Table(title=f"Full-collection retrieval, {model} (x100; top {top_k})")
    for col in ("Task", "Metric", "No instr.", "Δ instr.", "p-value", "p-MRR", "Changed retrieved"):
        table.add_column(col, justify="left" if col in ("Task", "Metric") else "right")
    for r in results:
        label = MEASURES[r.main_metric].label if r.main_metric in MEASURES else r.main_metric
        table.add_row(r.task, label, f"{r.no_instruction_score * 100:.1f}", f"{r.delta * 100:+.1f}",
                      f"{r.instruction_p_value:.4f}", f"{r.p_mrr * 100:+.1f}",
                      f"{r.changed_documents_retrieved}/{r.changed_documents}")
    stdout.print(table)
    say(f"runs and {path.name} written to {folder}")
