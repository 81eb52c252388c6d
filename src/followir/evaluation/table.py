"""The paper's results table: per task Score and p-MRR, then the average over tasks, times 100."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from followir.metrics.trec_measures import MEASURES


@dataclass(frozen=True)
class Cell:
    value: float
    low: float | None = None
    high: float | None = None
    signed: bool = False

    def text(self, intervals: bool = False) -> str:
        if self.value != self.value:  # nan
            return "-"
        body = f"{self.value * 100:+.1f}" if self.signed else f"{self.value * 100:.1f}"
        if intervals and self.low is not None and self.high is not None and self.low == self.low:
            body += f" [{self.low * 100:.1f}, {self.high * 100:.1f}]"
        return body


@dataclass(frozen=True)
class PaperTable:
    tasks: tuple[str, ...]
    metric_labels: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]  # (model, cells: per task score, p-MRR; then average)

    def header(self) -> list[str]:
        cols = ["Model"]
        for task, label in zip(self.tasks, self.metric_labels):
            cols += [f"{task} {label}", f"{task} p-MRR"]
        if len(self.tasks) > 1:
            cols += ["Average Score", "Average p-MRR"]
        return cols

    def to_markdown(self, intervals: bool = False) -> str:
        header = self.header()
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        for model, cells in self.rows:
            lines.append("| " + " | ".join([model] + [c.text(intervals) for c in cells]) + " |")
        return "\n".join(lines)


def _number(value: float | None) -> float:
    """A results.json value as a float: ``null`` (undefined, the reason beside it) becomes nan."""
    return float("nan") if value is None else value


def _cell(task: dict, key: str, signed: bool) -> Cell:
    scores = task["scores"]
    value = _number(scores["p-MRR"] if key == "p-MRR" else scores["main_score"])
    interval = scores.get("intervals", {}).get(key, {})
    return Cell(value, interval.get("low"), interval.get("high"), signed)


def paper_table(results: Sequence[dict]) -> PaperTable:
    """Build the table from results dicts (as written to results.json), one row per results file."""
    tasks: list[str] = []
    labels: list[str] = []
    for res in results:
        for name, task in res["tasks"].items():
            if name not in tasks:
                tasks.append(name)
                metric = task["scores"]["main_metric"]
                labels.append(MEASURES[metric].label if metric in MEASURES else metric)
    rows = []
    for res in results:
        cells: list[Cell] = []
        mains, pmrrs = [], []
        for name in tasks:
            task = res["tasks"].get(name)
            if task is None:
                cells += [Cell(float("nan")), Cell(float("nan"), signed=True)]
                continue
            cells += [_cell(task, "main_score", False), _cell(task, "p-MRR", True)]
            mains.append(_number(task["scores"]["main_score"]))
            pmrrs.append(_number(task["scores"]["p-MRR"]))
        if len(tasks) > 1:
            complete = len(mains) == len(tasks)
            nan = float("nan")
            cells += [Cell(sum(mains) / len(mains) if complete else nan),
                      Cell(sum(pmrrs) / len(pmrrs) if complete else nan, signed=True)]
        rows.append((str(res["model"].get("name", "?")), tuple(cells)))
    return PaperTable(tuple(tasks), tuple(labels), tuple(rows))
