"""The report's text formats: Markdown, CSV and LaTeX (booktabs) for the table; Markdown for the ablation
and the pairwise tests. HTML lives in :mod:`followir.reports.html`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Sequence

from followir.reports.ablation import CHANGES, SHORT_LABELS, VARIANTS, AblationEntry, metric_label
from followir.reports.significance import PairTest
from followir.reports.table import ReportTable, TableCell

TITLE = "FollowIR results"
NOTE = ("Values are times 100 with 95% bootstrap intervals over queries; p-MRR is in [-100, 100]. "
        "The best value in each column is in bold.")


# -- Markdown ---------------------------------------------------------------------------------------------
def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_cell(cell: TableCell, intervals: bool) -> str:
    body = f"**{cell.number()}**" if cell.best else cell.number()
    if intervals and cell.has_interval:
        body += f" {cell.interval()}"
    return body


def table_markdown(table: ReportTable, intervals: bool = True) -> str:
    header = ["Model"] + [c.title for c in table.columns]
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |",
             "|" + "|".join([":---"] + ["---:"] * len(table.columns)) + "|"]
    for group, rows in table.groups:
        lines.append("| " + " | ".join([f"*{_md_escape(group)}*"] + [""] * len(table.columns)) + " |")
        for row in rows:
            cells = [_md_escape(row.label)] + [_md_cell(c, intervals) for c in row.cells]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ablation_markdown(entries: Sequence[AblationEntry]) -> str:
    header = ["Model", "Task", "Metric"] + [SHORT_LABELS[v] for v in VARIANTS] + \
             [f"Δ {SHORT_LABELS[c]}" for c in CHANGES]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] * 3 + ["---:"] * 7) + "|"]
    for e in entries:
        cells = [_md_escape(e.model), _md_escape(e.task), metric_label(e.main_metric)]
        cells += [f"{e.scores[v] * 100:.1f}" for v in VARIANTS]
        for c in CHANGES:
            low, high = e.intervals[c]
            ci = "" if math.isnan(low) or math.isnan(high) else f" [{low * 100:+.1f}, {high * 100:+.1f}]"
            cells.append(f"{e.deltas[c] * 100:+.1f}{ci}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def significance_markdown(tests: Sequence[PairTest]) -> str:
    header = ["Task", "Measure", "Model A", "Model B", "A", "B", "A − B", "p-value", "Queries"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] * 4 + ["---:"] * 5) + "|"]
    for t in tests:
        cells = [_md_escape(t.task), t.measure, _md_escape(t.model_a), _md_escape(t.model_b),
                 f"{t.mean_a * 100:.1f}", f"{t.mean_b * 100:.1f}", f"{t.difference * 100:+.1f}",
                 f"{t.p_value:.4f}", str(t.queries)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(table: ReportTable, ablation: Sequence[AblationEntry] = (),
                    tests: Sequence[PairTest] | None = None, intervals: bool = True) -> str:
    parts = [f"# {TITLE}", "", NOTE, "", table_markdown(table, intervals), ""]
    if tests is not None:
        parts += ["## Pairwise significance", "",
                  ("Two-sided paired randomization tests over the queries both models were scored on "
                   "(sign flips; p-values not corrected for the number of pairs)."), "",
                  significance_markdown(tests) if tests else "No two models share a task.", ""]
    if ablation:  # the section exists only when some results file has an ablation
        parts += ["## Instruction length ablation", "",
                  ("Score with no instruction, keywords, a short and the full instruction (times 100), and "
                   "the change of each against no instruction with its 95% bootstrap interval."), "",
                  ablation_markdown(ablation), ""]
    return "\n".join(parts)


# -- CSV --------------------------------------------------------------------------------------------------
def table_csv(table: ReportTable) -> str:
    """One row per model: group, model, then value, low and high (times 100, unrounded) per column, and
    the columns where the model is best."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["group", "model"]
    for column in table.columns:
        header += [column.title, f"{column.title} low", f"{column.title} high"]
    writer.writerow(header + ["best"])
    for row in table.rows:
        values: list[str] = [row.group, row.label]
        for cell in row.cells:
            values += [_csv_number(cell.value), _csv_number(cell.low), _csv_number(cell.high)]
        best = [c.title for c, cell in zip(table.columns, row.cells) if cell.best]
        writer.writerow(values + [";".join(best)])
    return buffer.getvalue()


def _csv_number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return repr(value * 100)


def significance_csv(tests: Sequence[PairTest]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "measure", "model_a", "model_b", "mean_a", "mean_b", "difference", "p_value",
                     "queries"])
    for t in tests:
        writer.writerow([t.task, t.measure, t.model_a, t.model_b, repr(t.mean_a * 100), repr(t.mean_b * 100),
                         repr(t.difference * 100), repr(t.p_value), t.queries])
    return buffer.getvalue()


# -- LaTeX ------------------------------------------------------------------------------------------------
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    r"""Escape LaTeX's special characters in plain text.

    >>> latex_escape("bm25_corpus & 50% {x}")
    'bm25\\_corpus \\& 50\\% \\{x\\}'
    """
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _LATEX_SPECIAL[m.group()], text)


def _latex_number(text: str) -> str:
    """Minus and plus signs as math, so they typeset as signs and not as hyphens."""
    if text.startswith("-"):
        return "$-$" + text[1:]
    if text.startswith("+"):
        return "$+$" + text[1:]
    return text


def _latex_cell(cell: TableCell, intervals: bool) -> str:
    body = _latex_number(cell.number())
    if cell.best:
        body = rf"\textbf{{{body}}}"
    if intervals and cell.has_interval:
        low, high = (f"{v * 100:.1f}" for v in (cell.low, cell.high))
        body += rf" {{\scriptsize[{_latex_number(low)}, {_latex_number(high)}]}}"
    return body


def table_latex(table: ReportTable, intervals: bool = True, caption: str | None = None,
                label: str = "tab:followir") -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``): task headings over Score/p-MRR pairs."""
    n = len(table.columns)
    spec = "l" + " ".join("rr" for _ in range(n // 2))
    headings = [c.heading for c in table.columns[::2]]
    top = " & ".join([""] + [rf"\multicolumn{{2}}{{c}}{{{latex_escape(h)}}}" for h in headings]) + r" \\"
    rules = " ".join(rf"\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(headings)))
    sub = " & ".join(["Model"] + [latex_escape(c.label) for c in table.columns]) + r" \\"
    caption = caption or (f"{TITLE} (times 100; p-MRR in [$-$100, 100]). "
                          + ("Brackets give 95\\% bootstrap intervals over queries. " if intervals else "")
                          + "The best value in each column is in bold.")
    lines = [r"% Generated by followir report. Needs \usepackage{booktabs} in the preamble.",
             r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             top, rules, sub]
    for group, rows in table.groups:
        lines.append(r"\midrule")
        lines.append(rf"\multicolumn{{{n + 1}}}{{l}}{{\textit{{{latex_escape(group)}}}}} \\")
        for row in rows:
            cells = [latex_escape(row.label)] + [_latex_cell(c, intervals) for c in row.cells]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{caption}}}", rf"\label{{{label}}}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"
