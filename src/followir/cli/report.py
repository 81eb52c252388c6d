"""CLI commands for reports: ``followir report`` (tables, plots, MTEB export) and ``followir inspect``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from rich.text import Text

from followir.cli.common import app, fail, print_json, print_listing, say, setup_logging, stdout, warn
from followir.cli.help_texts import HELP_VERBOSE
from followir.errors import FollowIRError


@app.command()
def report(
    results: List[Path] = typer.Argument(..., help="Results folders (or results.json files) written by "
                                         "'followir evaluate'; a model's tasks may be spread over several."),
    output: Path = typer.Option(Path("followir-report"), "--output", "-o",
                                help="Folder for the report files."),
    formats: Optional[str] = typer.Option(None, "--formats", "-f",
                                          help="Comma-separated: md, csv, tex (booktabs), html (self-contained, "
                                               "with plots; needs matplotlib: pip install 'followir[report]') "
                                               "[default: all four, or md,csv,tex when matplotlib is missing]."),
    significance: bool = typer.Option(False, "--significance",
                                      help="Add paired randomization tests for every pair of models per "
                                           "task."),
    intervals: bool = typer.Option(True, "--intervals/--no-intervals",
                                   help="Show 95% bootstrap intervals next to the values."),
    mteb_export: Optional[Path] = typer.Option(None, "--mteb-export",
                                               help="Also export in the layout of MTEB's results repository "
                                                    "(DIR/results/<model>/<revision>/<Task>.json)."),
    mteb_version: Optional[str] = typer.Option(None, "--mteb-version",
                                               help="mteb version to record in the export [default: the "
                                                    "installed mteb's, else null]."),
    resamples: int = typer.Option(10_000, "--resamples", help="Resamples for intervals and tests."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Aggregate results into the paper's Table 2 (Markdown, CSV, LaTeX, HTML with plots)."""
    setup_logging(verbose)
    from followir.reports.mteb_export import export_mteb
    from followir.reports.plots import require_plots
    from followir.reports.report import build_report, default_formats, parse_formats, write_report

    try:
        from followir.cli.checks import check_output_folder, check_resamples

        check_resamples(resamples)
        check_output_folder(output)
        if mteb_export:
            check_output_folder(mteb_export, "--mteb-export")
        chosen = parse_formats(formats) if formats else default_formats()
        if "html" in chosen:
            require_plots()  # before any work: the HTML page needs matplotlib for its plots
        built = build_report(results, significance=significance, resamples=resamples)
        written = write_report(built, output, chosen, intervals)
        exported = export_mteb(built.rows, mteb_export, mteb_version) if mteb_export else []
    except (FollowIRError, ValueError) as e:
        fail(e)
    print_report_table(built.table, intervals)
    if built.tests is not None:
        print_significance(built.tests)
    if not formats and "html" not in chosen:
        warn("no report.html: its plots need matplotlib. Fix: pip install 'followir[report]'")
    for path in written.values():
        say(f"wrote {path}")
    if exported:
        say(f"exported {len(exported)} files for MTEB under {mteb_export / 'results'}")


def print_report_table(table, intervals: bool) -> None:
    out = Table(title="FollowIR results (x100; p-MRR in [-100, 100]; best in bold)")
    out.add_column("Model")
    for column in table.columns:
        out.add_column(column.title, justify="right")
    for group, rows in table.groups:
        out.add_row(Text(group, style="italic dim"), *[""] * len(table.columns))
        for row in rows:
            cells = []
            for cell in row.cells:
                text = Text(cell.number(), style="bold" if cell.best else "")
                if intervals and cell.has_interval:
                    text.append(f" {cell.interval()}", style="dim")
                cells.append(text)
            out.add_row(row.label, *cells)
        out.add_section()
    stdout.print(out)


def print_significance(tests) -> None:
    if not tests:
        stdout.print("No two models share a task, so there is nothing to test.")
        return
    out = Table(title="Paired randomization tests (x100; p-values not corrected for the number of pairs)")
    for col in ("task", "measure", "model A", "model B", "A", "B", "A-B", "p-value", "queries"):
        out.add_column(col, justify="left" if col in ("task", "measure", "model A", "model B") else "right",
                       overflow="fold")
    records = []
    for t in tests:
        out.add_row(t.task, t.measure, t.model_a, t.model_b, f"{t.mean_a * 100:.1f}", f"{t.mean_b * 100:.1f}",
                    Text(f"{t.difference * 100:+.1f}", style="bold" if t.p_value < 0.05 else ""),
                    f"{t.p_value:.4f}", str(t.queries))
        records.append((f"{t.task} {t.measure}", f"{t.queries} queries",
                        f"{t.model_a} {t.mean_a * 100:.1f} vs {t.model_b} {t.mean_b * 100:.1f}: "
                        f"A-B {t.difference * 100:+.1f}, p = {t.p_value:.4f}"))
    print_listing(out, records)


@app.command()
def inspect(
    results: Path = typer.Argument(..., help="A results folder (or results.json) written by "
                                   "'followir evaluate'."),
    query: str = typer.Option(..., "--query", "-q", help="The query id to inspect."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="The task, when the results hold several."),
    task_path: Optional[Path] = typer.Option(None, "--task-path",
                                             help="Dataset folder to read texts from [default: the task "
                                                  "recorded in results.json]."),
    limit: int = typer.Option(20, "--limit", "-n", help="Show at most this many changed documents."),
    snippet_chars: int = typer.Option(240, "--snippet-chars", help="Characters of document text to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """One query side by side: og vs changed instruction, and how each changed document moved (p-MRR)."""
    setup_logging(verbose)
    from followir.reports.inspection import inspect_query

    if limit < 0:
        fail(ValueError(f"--limit {limit} is negative; give 0 or more"))
    try:
        found = inspect_query(results, query, task=task, task_path=task_path, snippet_chars=snippet_chars)
    except (FollowIRError, ValueError) as e:
        fail(e)
    if as_json:
        print_json(found.to_dict(limit))
        return
    render_inspection(found, limit)


WIDE_COLUMNS = 120  # narrower terminals get instructions stacked and document texts below the table


def render_inspection(found, limit: int) -> None:
    from rich.panel import Panel

    from followir.reports.inspection import instruction_diff

    stdout.print(Text.assemble(("Query ", "bold"), (found.query_id, "bold cyan"), f" of {found.task} ",
                               ("· model ", "dim"), (found.model, "bold"), "\n", (found.query, "italic")))
    og, changed = Text(), Text()
    plain = stdout.color_system is None  # piped or NO_COLOR: mark the change in text, [-removed-] {+added+}
    for op, piece in instruction_diff(found.instruction_og, found.instruction_changed):
        if op in ("equal", "delete"):
            og.append(f"[-{piece}-]" if plain and op == "delete" else piece,
                      style="bold red" if op == "delete" else "")
        if op in ("equal", "insert"):
            changed.append(f"{{+{piece}+}}" if plain and op == "insert" else piece,
                           style="bold green" if op == "insert" else "")
    wide = stdout.width >= WIDE_COLUMNS  # side by side, with texts in the table; else stacked
    panels = (Panel(og, title="og instruction", title_align="left", border_style="blue"),
              Panel(changed, title="changed instruction (additions {+marked+})" if plain else
              "changed instruction (additions in green)", title_align="left",
                    border_style="magenta"))
    if wide:
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(*panels)
        stdout.print(grid)
    else:
        for panel in panels:
            stdout.print(panel)
    facts = [f"{found.candidates} candidates", f"{len(found.documents)} changed documents"]
    if found.score_og is not None:
        facts.append(f"{found.main_metric} og {found.score_og * 100:.1f}")
    if found.score_changed is not None:
        facts.append(f"changed {found.score_changed * 100:.1f}")
    if found.documents:
        facts.append(f"p-MRR {found.p_mrr * 100:+.1f}")
    stdout.print(" · ".join(facts))
    reported = found.reported_p_mrr
    if reported is not None and found.documents and abs(reported - found.p_mrr) > 1e-9:
        warn(f"results.json says p-MRR {reported * 100:+.1f} for this query; "
                      "the run files and data give the value above (was the data changed since?)")
    if not found.documents:
        stdout.print("This query has no changed documents, so it does not count towards p-MRR.")
        return
    table = Table(title="Changed documents (relevant under og, not under changed), worst p-MRR term first",
                  show_lines=True)
    columns = [("document", "left"), ("rel og→ch", "center"), ("og rank", "right"), ("ch rank", "right"),
               ("moved", "right"), ("p-MRR term", "right")] + ([("text", "left")] if wide else [])
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold", ratio=4 if name == "text" else None)
    for doc in found.documents[:limit]:
        rel = f"{_rel(doc.relevance_og)}→{_rel(doc.relevance_changed)}"
        term = Text(f"{doc.contribution * 100:+.1f}", style="red" if doc.contribution < 0 else
                    "green" if doc.contribution > 0 else "")
        moved = f"↑{doc.moved}" if doc.moved > 0 else f"↓{-doc.moved}" if doc.moved < 0 else "="
        table.add_row(doc.doc_id, rel, str(doc.og_rank), str(doc.changed_rank), moved, term,
                      *([doc.snippet] if wide else []))
    stdout.print(table)
    if not wide:  # the texts below the table, each whole, rather than a narrow column
        for doc in found.documents[:limit]:
            stdout.print(Text.assemble((doc.doc_id, "bold"), ": ", doc.snippet))
    if len(found.documents) > limit:
        stdout.print(f"showing {limit} of {len(found.documents)} changed documents (--limit)")


def _rel(value: int | None) -> str:
    return "-" if value is None else str(value)
