"""A report over any number of results files: build it once, write it in the formats asked for::

    from followir.reports import build_report, write_report
    write_report(build_report(["runs/bm25", "runs/e5"], significance=True), "report")
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from followir.atomic import atomic_open
from followir.metrics.uncertainty import DEFAULT_RESAMPLES
from followir.reports.ablation import AblationEntry, ablation_entries
from followir.reports.collect import ModelRow, load_rows
from followir.reports.field import sections_html, sections_markdown
from followir.reports.significance import PairTest, pairwise_tests
from followir.reports.table import ReportTable, report_table

log = logging.getLogger(__name__)

FORMATS = ("md", "csv", "tex", "html")


@dataclass(frozen=True)
class Report:
    rows: tuple[ModelRow, ...]
    table: ReportTable
    ablation: tuple[AblationEntry, ...]
    tests: tuple[PairTest, ...] | None  # None when significance was not asked for


def build_report(paths: Iterable[str | Path], significance: bool = False,
                 resamples: int = DEFAULT_RESAMPLES) -> Report:
    rows = load_rows(paths)
    return Report(tuple(rows), report_table(rows, resamples), tuple(ablation_entries(rows, resamples)),
                  tuple(pairwise_tests(rows, resamples)) if significance else None)


def default_formats() -> tuple[str, ...]:
    """All formats when matplotlib (the ``report`` extra) is installed, else the ones the base install writes."""
    import importlib.util

    return FORMATS if importlib.util.find_spec("matplotlib") is not None else tuple(f for f in FORMATS if f != "html")


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"md,csv"`` -> ``("md", "csv")``; unknown names raise, listing the accepted ones.

    >>> parse_formats("html, md")
    ('html', 'md')
    """
    names = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown report format(s) {unknown or text!r}; use a comma-separated list of "
                         f"{', '.join(FORMATS)}")
    return tuple(dict.fromkeys(names))


def write_report(report: Report, output: str | Path, formats: Sequence[str] = FORMATS,
                 intervals: bool = True) -> dict[str, Path]:
    """Write ``report.<format>`` (and ``significance.csv`` with CSV and pairwise tests) into ``output``."""
    from followir import __version__
    from followir.reports import formats as text_formats

    output = Path(output)
    written: dict[str, Path] = {}

    def put(key: str, name: str, text: str) -> None:
        path = output / name
        with atomic_open(path) as f:
            f.write(text)
        written[key] = path

    for fmt in formats:
        if fmt == "md":
            put("md", "report.md", text_formats.markdown_report(report.table, report.ablation, report.tests,
                                                                intervals) + sections_markdown(report.rows))
        elif fmt == "csv":
            put("csv", "report.csv", text_formats.table_csv(report.table))
            if report.tests is not None:
                put("significance.csv", "significance.csv", text_formats.significance_csv(report.tests))
        elif fmt == "tex":
            put("tex", "report.tex", text_formats.table_latex(report.table, intervals))
        elif fmt == "html":
            from followir.reports.html import html_report

            page = html_report(report.table, report.rows, report.ablation, report.tests, intervals, __version__)
            put("html", "report.html", page.replace("<footer>", sections_html(report.rows) + "\n<footer>", 1))
        else:
            raise ValueError(f"unknown report format {fmt!r}; use {', '.join(FORMATS)}")
    log.info("report written: %s", ", ".join(str(p) for p in written.values()))
    return written
