"""What every CLI command module shares: the app, consoles, logging, errors, progress bars, tables."""

from __future__ import annotations

import logging
import re
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Evaluate and teach instruction-following retrieval (FollowIR).")
# Messages carry paths, ids and install lines such as 'followir[llm]': never read them as console markup.
console = Console(stderr=True, markup=False, highlight=False)
stdout = Console(markup=False)


def _print_version(value: bool) -> None:
    if value:
        from followir import __version__

        stdout.print(f"followir {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print the followir version and exit.")) -> None:
    """Evaluate and teach instruction-following retrieval (FollowIR)."""


def print_json(data: object) -> None:
    """``--json`` output: strict JSON on stdout (an undefined number is null, its place listed in 'undefined')."""
    from followir.strict_json import dumps

    stdout.print_json(dumps(data))


def message(label: str, text: object, style: str) -> Text:
    """``label text`` with credentials masked (followir.redaction): no key reaches the terminal or a log."""
    from followir.redaction import redact

    return Text.assemble((label, style), " ", redact(text))


def say(text: object) -> None:
    """An informational line on stderr, never hard-wrapped (piped and logged lines stay whole)."""
    from followir.redaction import redact

    console.print(Text(redact(text)), soft_wrap=True)


def warn(text: object) -> None:
    console.print(message("warning:", text, "yellow"), soft_wrap=True)


def fail(error: Exception | str) -> NoReturn:
    """Print ``error: ...`` on stderr, whole and unwrapped, and exit 2 (bad input)."""
    console.print(message("error:", error, "bold red"), soft_wrap=True)
    raise typer.Exit(2)


class MessageHandler(logging.Handler):
    """Log records as ``warning: ...`` lines on the shared console: unwrapped, no markup, above progress bars."""

    STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red", "critical": "bold red"}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # pragma: no cover - logging's own contract
            self.handleError(record)
            return
        level = record.levelname.lower()
        console.print(message(f"{level}:", text, self.STYLES.get(level, "")), soft_wrap=True)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s",
                        handlers=[MessageHandler()], force=True)
    logging.captureWarnings(True)
    from followir.hub_access import quiet_hub_logging

    quiet_hub_logging()


def progress_bar(out: Console | None = None) -> Progress:
    return Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(),
                    TextColumn("{task.fields[count]}", markup=False), TextColumn("{task.fields[rate]}", markup=False),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=out or console, transient=False)


class RichProgress:
    """Adapts a rich progress bar to the models' ``Progress`` protocol: ``done/total unit``, the rate and the ETA.

    The unit says what is counted (``rankings``: one per query and instruction; ``pairs``; ``texts``). Work that
    is all in the cache shows as such instead of an empty ``0/0`` bar.
    """

    def __init__(self, progress: Progress, description: str):
        self.progress = progress
        self.description = description
        self.bar = None
        self.unit = "items"
        self.started = 0.0

    def start(self, total: int, unit: str) -> None:
        import time

        self.unit, self.started = unit, time.perf_counter()
        count = f"0/{total:,} {unit}" if total else f"nothing to compute: all {unit} are in the cache"
        if self.bar is None:
            self.bar = self.progress.add_task(self.description, total=total or 1, rate="", count=count)
        else:
            self.progress.reset(self.bar, total=total or 1, count=count, rate="")
        if not total:
            self.progress.update(self.bar, completed=1)

    def advance(self, n: int) -> None:
        import time

        self.progress.advance(self.bar, n)
        task = self.progress.tasks[self.bar]
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.bar, rate=f"{task.completed / elapsed:,.1f} {self.unit}/s",
                             count=f"{int(task.completed):,}/{int(task.total):,} {self.unit}")


def print_table(results: list[dict], intervals: bool) -> None:
    from followir.evaluation.table import paper_table

    table_data = paper_table(results)
    table = Table(title="FollowIR results (x100; p-MRR in [-100, 100])", show_lines=False)
    for i, col in enumerate(table_data.header()):
        table.add_column(col, justify="left" if i == 0 else "right")
    for model, cells in table_data.rows:
        table.add_row(model, *[c.text(intervals) for c in cells])
    stdout.print(table)


def print_listing(table: Table, records: list[tuple[str, str, str]]) -> None:
    """A table when it fits the terminal; else one record per row (``title  (detail)`` then the id on its own
    line), never hard-wrapped, so that no id a user must type is cut or folded."""
    from rich.measure import Measurement

    if Measurement.get(stdout, stdout.options.update(max_width=100_000), table).maximum <= stdout.width:
        stdout.print(table)
        return
    if table.title:
        stdout.print(Text(str(table.title), style="bold"), soft_wrap=True)
    for title, detail, ident in records:
        stdout.print(Text.assemble((title, "bold"), f"  ({detail})" if detail else ""), soft_wrap=True)
        stdout.print(Text(f"  {ident}"), soft_wrap=True)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


