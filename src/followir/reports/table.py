"""The paper's Table 2 for a report: models grouped as the registry groups them, Score and p-MRR per task
and their averages (times 100, with 95% bootstrap intervals), the best value in each column marked.

The numbers come from :func:`followir.evaluation.table.paper_table`; this module adds the groups, the
intervals of the averages and the best-in-column marks that every output format shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from followir.evaluation.table import paper_table
from followir.metrics.uncertainty import DEFAULT_RESAMPLES, DEFAULT_SEED
from followir.reports.collect import ModelRow, grouped

AVERAGE = "Average"


@dataclass(frozen=True)
class Column:
    task: str | None  # None for the average over tasks
    measure: str  # "score" or "p-MRR"
    label: str  # the measure as tables show it: "MAP@1000", "nDCG@5", "p-MRR", "Score"

    @property
    def heading(self) -> str:
        return self.task if self.task is not None else AVERAGE

    @property
    def title(self) -> str:
        return f"{self.heading} {self.label}"


@dataclass(frozen=True)
class TableCell:
    """A raw value (p-MRR in [-1, 1], scores in [0, 1]) shown times 100."""

    value: float
    low: float | None = None
    high: float | None = None
    signed: bool = False
    best: bool = False

    @property
    def missing(self) -> bool:
        return self.value != self.value  # nan

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None and not (math.isnan(self.low) or
                                                                       math.isnan(self.high))

    def number(self) -> str:
        """The value times 100 with one decimal (signed for p-MRR); ``-`` when missing.

        >>> TableCell(0.5565).number(), TableCell(-0.09012, signed=True).number()
        ('55.6', '-9.0')
        """
        if self.missing:
            return "-"
        return f"{self.value * 100:+.1f}" if self.signed else f"{self.value * 100:.1f}"

    def interval(self) -> str:
        """``[low, high]`` times 100, or an empty string."""
        if not self.has_interval:
            return ""
        return f"[{self.low * 100:.1f}, {self.high * 100:.1f}]"

    def shown(self) -> float:
        """The value as displayed (rounded), so that ties in the table are ties in the marks."""
        return float(f"{self.value * 100:.1f}")


@dataclass(frozen=True)
class TableRow:
    label: str
    group: str
    cells: tuple[TableCell, ...]


@dataclass(frozen=True)
class ReportTable:
    columns: tuple[Column, ...]
    groups: tuple[tuple[str, tuple[TableRow, ...]], ...]

    @property
    def rows(self) -> list[TableRow]:
        return [row for _, rows in self.groups for row in rows]

    def tasks(self) -> list[str]:
        return [c.task for c in self.columns if c.task is not None and c.measure == "score"]


def report_table(rows: Sequence[ModelRow], resamples: int = DEFAULT_RESAMPLES) -> ReportTable:
    """Build the table from merged model rows (see :func:`followir.reports.collect.load_rows`)."""
    base = paper_table([row.results for row in rows])
    columns: list[Column] = []
    for task, label in zip(base.tasks, base.metric_labels):
        columns += [Column(task, "score", label), Column(task, "p-MRR", "p-MRR")]
    with_average = len(base.tasks) > 1
    if with_average:
        columns += [Column(None, "score", "Score"), Column(None, "p-MRR", "p-MRR")]
    built: dict[int, TableRow] = {}
    for index, (row, (_, cells)) in enumerate(zip(rows, base.rows, strict=True)):
        out = [TableCell(c.value, c.low, c.high, c.signed) for c in cells]
        if with_average and not out[-1].missing:
            for position, measure in ((-2, "score"), (-1, "p-MRR")):
                low, high = average_interval([_per_query(row.tasks[t], measure) for t in base.tasks],
                                             resamples=resamples)
                cell = out[position]
                out[position] = TableCell(cell.value, low, high, cell.signed)
        built[index] = TableRow(row.label, row.group, tuple(out))
    marked = _mark_best([built[i] for i in range(len(rows))], len(columns))
    by_label = {id(row): marked_row for row, marked_row in zip(rows, marked)}
    groups = tuple((group, tuple(by_label[id(r)] for r in members)) for group, members in grouped(rows))
    return ReportTable(tuple(columns), groups)


def _per_query(task: Mapping, measure: str) -> Mapping[str, float] | None:
    scores = task["scores"]
    per_query = scores.get("per_query")
    if not per_query:
        return None
    if measure == "p-MRR":
        return per_query["p-MRR"]
    metric = scores["main_metric"]
    return {q: v[metric] for q, v in per_query["og"].items()}


def average_interval(per_task: Sequence[Mapping[str, float] | None], level: float = 0.95,
                     resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over tasks of per-task means, resampling each task's
    queries independently (the tasks are separate query samples). ``nan`` when a task lacks per-query
    values.
    """
    if not per_task or any(not values for values in per_task):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    total = np.zeros(resamples)
    for values in per_task:
        data = np.asarray(list(values.values()), dtype=float)
        total += data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(total / len(per_task), [alpha, 1.0 - alpha])
    return float(low), float(high)


def _mark_best(rows: list[TableRow], n_columns: int) -> list[TableRow]:
    """Mark the highest shown value of each column (all on a tie); nothing with fewer than two values."""
    best: list[float | None] = []
    for j in range(n_columns):
        shown = [row.cells[j].shown() for row in rows if not row.cells[j].missing]
        best.append(max(shown) if len(shown) > 1 else None)
    out = []
    for row in rows:
        cells = tuple(TableCell(c.value, c.low, c.high, c.signed,
                                best=best[j] is not None and not c.missing and c.shown() == best[j])
                      for j, c in enumerate(row.cells))
        out.append(TableRow(row.label, row.group, cells))
    return out
