"""Building a FollowIR benchmark from your own collection (the paper's section 3): one subcommand per step,
``build-benchmark`` to chain them, ``judge`` (the assessors' web page) and ``publish``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from followir.cli.common import (
    RichProgress,
    app,
    console,
    fail,
    print_json,
    progress_bar,
    say,
    setup_logging,
    stdout,
    warn,
)
from followir.cli.help_texts import HELP_RAY, HELP_VERBOSE
from followir.cli.retrieval import _hnsw
from followir.errors import FollowIRError

_WORK = typer.Argument(..., help="The work folder the steps share (created if needed).")
_COLLECTION = "Documents: a .jsonl or .parquet file, TREC SGML file(s) or folder, or irds:ID (ir_datasets)."
_MODELS = "A retrieval model of the pool (repeat): bm25, all-minilm-l6-v2, e5-base-v2, bge-base, ..."


def _pool_settings(depth, passage_words, passage_overlap, passage_depth, fusion, pool_query):
    from followir.construction.candidates import PoolSettings
    from followir.construction.chunking import ChunkSettings

    return PoolSettings(ChunkSettings(passage_words, passage_overlap), depth, passage_depth, fusion, pool_query)


def _model_loader(cache: Optional[str], device: Optional[str], batch_size: Optional[int], ray: Optional[str] = None):
    def load(name: str):
        from followir.models.registry import load_model, resolve
        from followir.retrieval.searcher import SEARCHING_FAMILIES, cannot_search

        spec = resolve(name)
        if spec.family not in SEARCHING_FAMILIES:
            raise ValueError(cannot_search(name, spec.family))
        if spec.family == "bm25":  # nothing to encode, nothing to spread
            return load_model(name)
        options = {k: v for k, v in {"cache_path": cache, "device": device, "batch_size": batch_size,
                                     "ray": ray}.items() if v is not None}
        return load_model(name, **options)

    return load


@app.command("build-topics")
def build_topics(
    work: Path = _WORK,
    topics: Path = typer.Option(..., "--topics", help="TREC topic file (SGML or XML) with narratives."),
    qrels: Path = typer.Option(..., "--qrels", help="Their TREC qrels (the og judgements)."),
    topic: Optional[List[str]] = typer.Option(None, "--topic", help="Keep only these topics (repeat, or 1,2,3)."),
    exclude: Optional[str] = typer.Option(None, "--exclude", help="Leave out these topics: 1,2,3, a file of "
                                          "numbers, or a TREC topic file (e.g. Core17's, as the paper did)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most this many topics."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 1: pick topics that have a narrative and relevant documents; write topics.jsonl and qrels.og.trec."""
    setup_logging(verbose)
    from followir.construction.topics import run_topics, topic_numbers

    try:
        include = topic_numbers(",".join(topic)) if topic else None
        chosen = run_topics(topics, qrels, work, include=include, exclude=topic_numbers(exclude), limit=limit)
    except (FollowIRError, ValueError, OSError) as e:
        fail(e)
    say(f"{len(chosen)} topics written to {work}")


@app.command("build-narratives")
def build_narratives(
    work: Path = _WORK,
    narratives: Optional[Path] = typer.Option(None, "--narratives", help="Changed narratives written by people: "
                                              'jsonl {"topic", "narrative"} or TSV topic<TAB>narrative.'),
    generator: Optional[str] = typer.Option(None, "--generator", help="Draft them with openai:MODEL or "
                                            "local:NAME (drafts wait for --accept)."),
    accept: Optional[str] = typer.Option(None, "--accept", help="Accept drafts: 'all' or topics 1,2,3."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 2: a narrower changed narrative per topic (people's, or a generator's drafts that a person accepts)."""
    setup_logging(verbose)
    from followir.construction.narratives import accept as accept_drafts
    from followir.construction.narratives import run_narratives

    try:
        if accept:
            done = accept_drafts(work, None if accept == "all" else accept.split(","))
            say(f"accepted {len(done)} drafts: {', '.join(done) or 'none'}")
            return
        if (narratives is None) == (generator is None):
            fail("give --narratives FILE or --generator SPEC (one of them)")
        chat = None
        if generator:
            from followir.llm.chat import load_chat_model

            chat = load_chat_model(generator)
        written = run_narratives(work, written=narratives, chat=chat)
    except (FollowIRError, ValueError, OSError) as e:
        fail(e)
    drafts = [n.topic for n in written if n.status == "draft"]
    say(f"{len(written)} changed narratives in {work / 'narratives.jsonl'}"
        + (f"; {len(drafts)} are drafts: read them, edit if needed, then --accept all" if drafts else ""))


@app.command("build-judging")
def build_judging(work: Path = _WORK, collection: str = typer.Option(..., "--collection", help=_COLLECTION),
                  verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE)) -> None:
    """Step 3a: the og-relevant documents to re-judge, with their text (judging.jsonl, for 'followir judge')."""
    setup_logging(verbose)
    from followir.construction.judgements import prepare_judging

    try:
        with console.status("reading the collection"):
            count, missing = prepare_judging(work, collection)
    except (FollowIRError, ValueError, OSError) as e:
        fail(e)
    say(f"{count} documents to re-judge ({len(missing)} og-relevant ones not in the collection). "
        f"Next: followir judge {work}")


@app.command("build-judgements")
def build_judgements(
    work: Path = _WORK,
    judgements: Optional[Path] = typer.Option(None, "--judgements", help="Judged elsewhere: jsonl {topic, doc, "
                                              "relevance} or TREC qrels [default: the judging page's store]."),
    db: Optional[Path] = typer.Option(None, "--db", help="The judging store [default: WORK/judgements.sqlite]."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 3c: one final changed judgement per og-relevant document (judgements.jsonl)."""
    setup_logging(verbose)
    from followir.construction.judgements import run_judgements

    try:
        final = run_judgements(work, judgements=judgements, database=db)
    except (FollowIRError, ValueError, OSError) as e:
        fail(e)
    still = sum(1 for v in final.values() if v > 0)
    say(f"{len(final)} judgements: {still} still relevant, {len(final) - still} no longer relevant")


def _pool_options():
    return dict(
        depth=typer.Option(1000, "--depth", min=1, help="Candidates per topic."),
        passage_words=typer.Option(400, "--passage-words", min=1, help="Words per passage."),
        passage_overlap=typer.Option(200, "--passage-overlap", min=0, help="Words shared by passages."),
        passage_depth=typer.Option(3000, "--passage-depth", min=1, help="Passages each model retrieves."),
        fusion=typer.Option("round-robin", "--fusion", help="How the pool combines: round-robin or rrf."),
        pool_query=typer.Option("og", "--pool-query", help="The pool's query: og (title + narrative) or none."),
    )


_P = _pool_options()


@app.command("build-candidates")
def build_candidates(
    work: Path = _WORK,
    collection: str = typer.Option(..., "--collection", help=_COLLECTION),
    model: List[str] = typer.Option(["bm25"], "--model", "-m", help=_MODELS),
    depth: int = _P["depth"], passage_words: int = _P["passage_words"], passage_overlap: int = _P["passage_overlap"],
    passage_depth: int = _P["passage_depth"], fusion: str = _P["fusion"], pool_query: str = _P["pool_query"],
    approximate: bool = typer.Option(False, "--approximate", help="HNSW search (faiss) for dense models."),
    ef_search: int = typer.Option(256, "--ef-search", min=1, help="HNSW beam width at search time."),
    cache: Optional[str] = typer.Option(None, "--cache", help="Embedding cache file, or 'none'."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, mps [default: auto]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Encoding batch size."),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 4: chunk, pool passages with the models, MaxP, all judged-relevant plus the top others per topic."""
    setup_logging(verbose)
    from followir.construction.candidates import run_candidates

    with progress_bar() as bars:
        try:
            out = run_candidates(work, collection, model, approximate=_hnsw(approximate, ef_search),
                                 settings=_pool_settings(depth, passage_words, passage_overlap, passage_depth,
                                                         fusion, pool_query),
                                 load=_model_loader(cache, device, batch_size, ray),
                                 progress=lambda what: RichProgress(bars, what))
        except (FollowIRError, ValueError, OSError) as e:
            fail(e)
    say(f"candidates for {len(out)} topics written to {work / 'candidates.jsonl'}")


def _print_report(report: dict, out: Path, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    s = report["statistics"]
    stdout.print(f"{out}: {s['topics']} topics, {s['corpus_documents']} documents, "
                 f"{s['candidates_per_topic']:.0f} candidates per topic")
    stdout.print(f"  relevant per topic: og {s['relevant_og_per_topic']:.1f}, changed "
                 f"{s['relevant_changed_per_topic']:.1f}; instruction words og {s['instruction_og_words']:.1f}, "
                 f"changed {s['instruction_changed_words']:.1f}")
    for w in report["warnings"]:
        console.print(f"warning: {w}", soft_wrap=True, markup=False)
    if not report["ok"]:
        fail("the benchmark has problems: " + "; ".join(report["problems"]))


@app.command("build-output")
def build_output(
    work: Path = _WORK,
    output: Path = typer.Option(..., "--output", "-o", help="The benchmark folder to write."),
    name: Optional[str] = typer.Option(None, "--name", help="Dataset name on the card [default: folder name]."),
    corpus_text: str = typer.Option("passage", "--corpus-text", help="passage (MaxP passage, as the paper "
                                    "distributed) or document (whole text; needs --collection)."),
    query_field: str = typer.Option("title", "--query-field", help="The query text: title or description."),
    collection: Optional[str] = typer.Option(None, "--collection", help=_COLLECTION),
    as_json: bool = typer.Option(False, "--json", help="Print the validation report as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Step 5: both hub layouts, the dataset card (Table 1), changed documents and a validation report."""
    setup_logging(verbose)
    from followir.construction.output import run_output

    try:
        report = run_output(work, output, name=name, collection=collection, corpus_text=corpus_text,
                            query_field=query_field)
    except (FollowIRError, ValueError, OSError) as e:
        fail(e)
    _print_report(report, output, as_json)


@app.command("build-benchmark")
def build_benchmark(
    work: Path = typer.Option(..., "--work", help="The work folder (each step's files; a rerun resumes)."),
    output: Path = typer.Option(..., "--output", "-o", help="The benchmark folder to write."),
    collection: str = typer.Option(..., "--collection", help=_COLLECTION),
    topics: Optional[Path] = typer.Option(None, "--topics", help="TREC topic file with narratives."),
    qrels: Optional[Path] = typer.Option(None, "--qrels", help="Their TREC qrels."),
    topic: Optional[List[str]] = typer.Option(None, "--topic", help="Keep only these topics."),
    exclude: Optional[str] = typer.Option(None, "--exclude", help="Leave out these topics (list or file)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most this many topics."),
    narratives: Optional[Path] = typer.Option(None, "--narratives", help="Changed narratives written by people."),
    generator: Optional[str] = typer.Option(None, "--generator", help="Draft changed narratives with this."),
    judgements: Optional[Path] = typer.Option(None, "--judgements", help="Changed judgements made elsewhere "
                                              "[default: the judging page's store]."),
    model: List[str] = typer.Option(["bm25"], "--model", "-m", help=_MODELS),
    depth: int = _P["depth"], passage_words: int = _P["passage_words"], passage_overlap: int = _P["passage_overlap"],
    passage_depth: int = _P["passage_depth"], fusion: str = _P["fusion"], pool_query: str = _P["pool_query"],
    approximate: bool = typer.Option(False, "--approximate", help="HNSW search (faiss) for dense models."),
    corpus_text: str = typer.Option("passage", "--corpus-text", help="passage or document."),
    query_field: str = typer.Option("title", "--query-field", help="title or description."),
    name: Optional[str] = typer.Option(None, "--name", help="Dataset name on the card."),
    cache: Optional[str] = typer.Option(None, "--cache", help="Embedding cache file, or 'none'."),
    ray: Optional[str] = typer.Option(None, "--ray", help=HELP_RAY),
    redo: Optional[List[str]] = typer.Option(None, "--redo", help="Run this step again, and every step after it "
                                             "(repeat): topics, narratives, judging, judgements, candidates, output."),
    as_json: bool = typer.Option(False, "--json", help="Print the validation report as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Every step in order, skipping those already done with the same settings and inputs (WORK/build.json); a step
    that runs again runs every later step again too. Stops where a person is needed (drafts, judging)."""
    setup_logging(verbose)
    from followir.construction.pipeline import BuildPlan, redo_steps
    from followir.construction.pipeline import build_benchmark as run
    from followir.construction.topics import topic_numbers

    with progress_bar() as bars:
        try:
            plan = BuildPlan(work=work, output=output, collection=collection, topics=topics, qrels=qrels,
                             include=frozenset(topic_numbers(",".join(topic)) if topic else ()),
                             exclude=frozenset(topic_numbers(exclude)), limit=limit, narratives=narratives,
                             generator=generator, judgements=judgements, models=tuple(model),
                             pool=_pool_settings(depth, passage_words, passage_overlap, passage_depth, fusion,
                                                 pool_query),
                             approximate=_hnsw(approximate, 256), corpus_text=corpus_text, query_field=query_field,
                             name=name, redo=redo_steps(redo or []))
            report = run(plan, model_loader=_model_loader(cache, None, None, ray), say=say,
                         progress=lambda what: RichProgress(bars, what))
        except (FollowIRError, ValueError, OSError) as e:
            fail(e)
    _print_report(report, output, as_json)


@app.command("judge")
def judge(
    work: Path = _WORK,
    db: Optional[Path] = typer.Option(None, "--db", help="The judging store [default: WORK/judgements.sqlite]."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (localhost by default)."),
    port: int = typer.Option(8765, "--port", help="Port (0: any free one)."),
    overlap: float = typer.Option(1.0, "--overlap", min=0.0, max=1.0, help="Share of documents every assessor "
                                  "judges (for agreement); the rest go to the first assessor to reach them."),
    prejudge: Optional[str] = typer.Option(None, "--prejudge", help="Score the documents first with this "
                                           "registered yes/no reranker (e.g. monot5-base)."),
    show_prejudge: bool = typer.Option(False, "--show-prejudge", help="Let assessors ask for the model's "
                                       "judgement (never shown unless asked)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """The assessors' web page: og and changed narratives side by side, one document at a time, saved at once."""
    setup_logging(verbose)
    from followir.construction.workfiles import JUDGE_DB
    from followir.judge.app import Judging, create_app, make_server

    try:
        judging = Judging(work, db or work / JUDGE_DB, overlap)
        app_ = create_app(judging, show_prejudge=show_prejudge)
        if prejudge:
            from followir.judge.prejudge import prejudge as run_prejudge
            from followir.models.registry import load_model

            with progress_bar() as bars:
                stored = run_prejudge(judging.store, judging.items, judging.narratives, judging.topics,
                                      load_model(prejudge), RichProgress(bars, f"pre-judging with {prejudge}"))
            say(f"{stored} documents pre-judged by {prejudge}")
        server = make_server(app_, host, port)
    except (FollowIRError, ValueError, OSError) as e:
        fail(e)
    if host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"the judging page listens on {host}: it has no login, so anyone who reaches it can judge")
    say(f"judging page: http://{host}:{server.server_port}/  (judgements go to {judging.store.path}; Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


@app.command("publish")
def publish(
    out: Path = typer.Argument(..., help="A benchmark folder written by build-benchmark."),
    repo: str = typer.Option(..., "--repo", help="The hub dataset repository, owner/name."),
    layout: str = typer.Option("original", "--layout", help="original (the folder) or mteb (OUT/mteb)."),
    private: bool = typer.Option(False, "--private", help="Create the repository private."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the files that would be uploaded; upload none."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Upload a built benchmark to the Hugging Face hub (huggingface_hub's upload_folder)."""
    setup_logging(verbose)
    from followir.construction.publish import publish as run

    try:
        files = run(out, repo, layout=layout, private=private, dry_run=dry_run)
    except (FollowIRError, ValueError, OSError) as e:
        fail(e)
    except Exception as e:  # noqa: BLE001 - the hub's own errors (auth, network) get one line, exit 1
        console.print(f"error: upload to {repo} failed: {e}", soft_wrap=True, markup=False)
        raise typer.Exit(1) from None
    for name in files:
        stdout.print(name)
    say(f"{'would upload' if dry_run else 'uploaded'} {len(files)} files to datasets/{repo}")
