"""The report as one self-contained HTML page: the table, the optional pairwise tests, and the plots as inline
SVG. No scripts, fonts, stylesheets or images are fetched from anywhere, so the file can be mailed or
archived as is.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

from followir.reports.ablation import CHANGES, SHORT_LABELS, VARIANTS, AblationEntry, metric_label
from followir.reports.collect import ModelRow
from followir.reports.formats import NOTE, TITLE
from followir.reports.significance import PairTest
from followir.reports.table import ReportTable, TableCell

STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #656d76; --line: #d0d7de; --band: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
p { margin: 6px 0; }
.meta, .note, figcaption, footer { color: var(--muted); font-size: 13.5px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 12px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; text-align: right; white-space: nowrap; }
thead th { border-bottom: 1px solid var(--ink); font-weight: 600; }
thead tr:first-child th { border-top: 2px solid var(--ink); }
thead tr:first-child th.task { border-bottom: 1px solid var(--line); }
tbody tr:last-child td, tbody tr:last-child th { border-bottom: 2px solid var(--ink); }
th.model, td.text, th.text { text-align: left; }
th.task { text-align: center; }
tbody th.model { font-weight: 500; }
tr.group th { text-align: left; font-style: italic; font-weight: 600; background: var(--band);
              border-top: 1px solid var(--line); color: #3d444d; }
td.best strong { font-weight: 700; }
td.neg .v { color: #b42318; }
td.pos .v { color: #1a7f37; }
.ci { display: block; font-size: 11.5px; color: var(--muted); }
figure { margin: 16px 0; }
figure svg { max-width: 100%; height: auto; }
table.ablation th, table.ablation td { padding: 5px 9px; }
footer { margin-top: 40px; border-top: 1px solid var(--line); padding-top: 8px; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
"""


def _cell(cell: TableCell, p_mrr: bool, intervals: bool) -> str:
    classes = []
    if cell.best:
        classes.append("best")
    if p_mrr and not cell.missing:
        classes.append("neg" if cell.value < 0 else "pos" if cell.value > 0 else "zero")
    value = f'<span class="v">{escape(cell.number())}</span>'
    if cell.best:
        value = f"<strong>{value}</strong>"
    if intervals and cell.has_interval:
        value += f'<span class="ci">{escape(cell.interval())}</span>'
    cls = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{cls}>{value}</td>"


def table_html(table: ReportTable, intervals: bool = True) -> str:
    headings = [c for c in table.columns[::2]]
    top = ['<th class="model" rowspan="2" scope="col">Model</th>'] + [
        f'<th class="task" colspan="2" scope="colgroup">{escape(c.heading)}</th>' for c in headings]
    sub = [f'<th scope="col">{escape(c.label)}</th>' for c in table.columns]
    body = []
    for group, rows in table.groups:
        body.append(f'<tr class="group"><th colspan="{len(table.columns) + 1}" scope="rowgroup">'
                    f"{escape(group)}</th></tr>")
        for row in rows:
            cells = "".join(_cell(c, col.measure == "p-MRR", intervals)
                            for c, col in zip(row.cells, table.columns))
            body.append(f'<tr><th class="model" scope="row">{escape(row.label)}</th>{cells}</tr>')
    return ('<div class="scroll"><table class="results" id="results-table">\n<thead><tr>' + "".join(top)
            + "</tr><tr>" + "".join(sub) + "</tr></thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody></table></div>")


def significance_html(tests: Sequence[PairTest]) -> str:
    if not tests:
        return "<p>No two models share a task.</p>"
    head = "".join(f'<th class="text" scope="col">{h}</th>'
                   for h in ("Task", "Measure", "Model A", "Model B"))
    head += "".join(f'<th scope="col">{h}</th>'
                    for h in ("A (×100)", "B (×100)", "A − B", "p-value", "Queries"))
    rows = []
    for t in tests:
        strong = t.p_value < 0.05
        p = f"{t.p_value:.4f}"
        rows.append(f'<tr><td class="text">{escape(t.task)}</td><td class="text">{escape(t.measure)}</td>'
                    f'<td class="text">{escape(t.model_a)}</td><td class="text">{escape(t.model_b)}</td>'
                    f"<td>{t.mean_a * 100:.1f}</td><td>{t.mean_b * 100:.1f}</td>"
                    f"<td>{t.difference * 100:+.1f}</td>"
                    f"<td>{f'<strong>{p}</strong>' if strong else p}</td><td>{t.queries}</td></tr>")
    return ('<div class="scroll"><table class="significance"><thead><tr>' + head + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def ablation_table_html(entries: Sequence[AblationEntry]) -> str:
    head = ['<th class="model" scope="col">Model</th>', '<th class="model" scope="col">Task</th>',
            '<th class="model" scope="col">Metric</th>']
    head += [f'<th scope="col">{escape(SHORT_LABELS[v])}</th>' for v in VARIANTS]
    head += [f'<th scope="col">Δ {escape(SHORT_LABELS[c])}</th>' for c in CHANGES]
    rows = []
    for e in entries:
        cells = [f'<th class="model" scope="row">{escape(e.model)}</th>',
                 f'<td class="text">{escape(e.task)}</td>',
                 f'<td class="text">{escape(metric_label(e.main_metric))}</td>']
        cells += [f"<td>{e.scores[v] * 100:.1f}</td>" for v in VARIANTS]
        for c in CHANGES:
            low, high = e.intervals[c]
            ci = "" if math.isnan(low) or math.isnan(high) else \
                f'<span class="ci">[{low * 100:+.1f}, {high * 100:+.1f}]</span>'
            cls = "neg" if e.deltas[c] < 0 else "pos" if e.deltas[c] > 0 else "zero"
            cells.append(f'<td class="{cls}"><span class="v">{e.deltas[c] * 100:+.1f}</span>{ci}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ('<div class="scroll"><table class="ablation"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def _figure(svg: str, caption: str, ident: str) -> str:
    return f'<figure id="{ident}">{svg}<figcaption>{caption}</figcaption></figure>'


def html_report(table: ReportTable, rows: Sequence[ModelRow], ablation: Sequence[AblationEntry] = (),
                tests: Sequence[PairTest] | None = None, intervals: bool = True, version: str = "") -> str:
    """The whole page. Needs matplotlib for the plots."""
    from followir.reports import plots

    tasks = table.tasks()
    colors = plots.model_colors([r.label for r in rows])
    meta = f'{len(rows)} model{"s" if len(rows) != 1 else ""} on {", ".join(tasks) or "no task"}'
    meta += f" · followir {version}" if version else ""
    parts = [f"<h1>{escape(TITLE)}</h1>", f'<p class="meta">{escape(meta)}</p>',
             '<section id="table"><h2>Score and p-MRR (the paper\'s Table 2)</h2>',
             f'<p class="note">{escape(NOTE)} Scores are MAP@1000 (Robust04, Core17) or nDCG@5 (News21) with '
             "the og instruction; p-MRR measures how documents move when the instruction changes.</p>",
             table_html(table, intervals), "</section>"]
    if tests is not None:
        parts += ['<section id="significance"><h2>Pairwise significance</h2>',
                  '<p class="note">Two-sided paired randomization tests over the queries both models were '
                  "scored on; p &lt; 0.05 in bold (not corrected for the number of pairs).</p>",
                  significance_html(tests), "</section>"]
    if ablation:  # the section exists only when some results file has an ablation
        parts.append('<section id="ablation"><h2>Instruction length ablation (the paper\'s Figure 3)</h2>')
        parts += [_figure(plots.ablation_svg(ablation, colors),
                          "Change in score against no instruction when the model gets the instruction's "
                          "keywords, a short instruction or the full instruction (×100), with 95% bootstrap "
                          "intervals over queries.", "ablation-plot"),
                  ablation_table_html(ablation), "</section>"]
    if not tasks:
        parts.append('<p class="absent">No results file has task scores (only analyses), so there is no '
                     "p-MRR to plot.</p>")
    else:
        parts += _score_sections(rows, tasks, colors)
    sources = "".join(f"<li><code>{escape(s)}</code></li>" for r in rows for s in r.sources)
    parts.append(f"<footer>Results files:<ul>{sources}</ul></footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(TITLE)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(parts) + "\n</main>\n</body>\n</html>\n")


def _score_sections(rows: Sequence[ModelRow], tasks: Sequence[str], colors: dict[str, str]) -> list[str]:
    from followir.reports import plots

    return ['<section id="pmrr-distribution"><h2>Per-query p-MRR</h2>',
            _figure(plots.pmrr_distribution_svg(rows, tasks, colors),
                    "Each dot is one query with changed documents; boxes span the middle half, the line is "
                    "the median and the diamond the mean (the table's p-MRR). Right of zero, the model "
                    "moved the documents the changed instruction excludes down, as it should.",
                    "pmrr-distribution-plot"),
            "</section>",
            '<section id="score-vs-pmrr"><h2>Score against p-MRR</h2>',
            _figure(plots.score_vs_pmrr_svg(rows, tasks, colors),
                    "A high score does not mean a model follows instructions: each point is a model on a "
                    "task, with 95% bootstrap intervals.", "score-vs-pmrr-plot"),
            "</section>"]
