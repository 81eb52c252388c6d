"""What every CLI command module shares: the app, consoles, logging, errors, progress bars, tables."""

from __future__ import annotations

import logging
import re

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Evaluate and teach instruction-following retrieval (FollowIR).")
console = Console(stderr=True)
stdout = Console()


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)], force=True)


def fail(error: Exception) -> None:
    console.print(f"[bold red]error:[/] {error}")
    raise typer.Exit(2)


def progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


class RichProgress:
    """Adapts a rich progress bar to the models' ``Progress`` protocol (items per second, ETA)."""

    def __init__(self, progress: Progress, description: str):
        self.progress = progress
        self.description = description
        self.bar = None
        self.unit = "items"
        self.started = 0.0

    def start(self, total: int, unit: str) -> None:
        import time

        self.unit, self.started = unit, time.perf_counter()
        if self.bar is None:
            self.bar = self.progress.add_task(self.description, total=total, rate="")
        else:
            self.progress.reset(self.bar, total=total)

    def advance(self, n: int) -> None:
        import time

        self.progress.advance(self.bar, n)
        done = self.progress.tasks[self.bar].completed
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.bar, rate=f"{done / elapsed:,.1f} {self.unit}/s")


def print_table(results: list[dict], intervals: bool) -> None:
    from followir.evaluation.table import paper_table

    table_data = paper_table(results)
    table = Table(title="FollowIR results (x100; p-MRR in [-100, 100])", show_lines=False)
    for i, col in enumerate(table_data.header()):
        table.add_column(col, justify="left" if i == 0 else "right")
    for model, cells in table_data.rows:
        table.add_row(model, *[c.text(intervals) for c in cells])
    stdout.print(table)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


