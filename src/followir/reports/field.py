"""The report's sections for the field's benchmarks (results.json ``field``) and p-MRR against a control
(results.json ``control``), in Markdown and HTML. mFollowIR's languages are FollowIR-style tasks, so each
language is its own column of the main table; IFIR's levels are rows here.
"""

from __future__ import annotations

import math
from html import escape
from typing import Iterable, Mapping, Sequence

from followir.reports.collect import ModelRow

FIELD_LABELS = {
    "WISE": "WISE", "SICR": "SICR", "p-MRR": "p-MRR", "paired_accuracy": "paired accuracy",
    "query_accuracy": "query accuracy", "ndcg_cut_20": "nDCG@20", "none.ndcg_cut_20": "nDCG@20 without instruction",
    "gain.ndcg_cut_20": "nDCG@20 gain from the instruction", "ori.ndcg_cut_10": "nDCG@10 og",
    "ins.ndcg_cut_10": "nDCG@10 instructed", "rev.ndcg_cut_10": "nDCG@10 reversed",
}
FIELD_NOTE = ("Values are times 100 with 95% bootstrap intervals over queries (InfoSearch, IFIR: instructions; "
              "NevIR: pairs). WISE and p-MRR are in [-100, 100].")
CONTROL_NOTE = ("p-MRR with the changed instruction, p-MRR with a relevance-neutral control edit of the same length "
                "in its place, and their per-query paired difference (times 100, 95% bootstrap intervals; p from a "
                "paired randomization test). A difference near 0 means the model reacts to the added words as much "
                "as to their meaning.")


def _num(value) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def field_rows(entries: Iterable[Mapping]) -> list[tuple[str, str, float | None, float | None, float | None]]:
    """``(task, metric, value, low, high)``: each task's main metric first, its other metrics, then its levels."""
    out = []
    for entry in entries:
        task, intervals = str(entry.get("task")), entry.get("intervals") or {}
        scores = entry.get("scores") or {}
        main = entry.get("main_metric")
        for metric in [main, *[m for m in scores if m != main]]:
            ci = intervals.get(metric) or {}
            out.append((task, metric, _num(scores.get(metric)), _num(ci.get("low")), _num(ci.get("high"))))
        for group, values in (entry.get("breakdown") or {}).items():
            for metric, value in values.items():
                if metric == "instructions":
                    continue
                ci = intervals.get(f"{group}.{metric}") or {}
                count = values.get("instructions")
                label = f"{task} {group}" + (f" ({int(count)} instructions)" if count else "")
                out.append((label, metric, _num(value), _num(ci.get("low")), _num(ci.get("high"))))
    return out


def _fmt(value, low=None, high=None) -> str:
    if value is None:
        return "-"
    text = f"{value * 100:.1f}"
    return text + (f" [{low * 100:.1f}, {high * 100:.1f}]" if low is not None and high is not None else "")


def _ci(entry: Mapping, key: str) -> str:
    ci = (entry.get("intervals") or {}).get(key) or {}
    return _fmt(_num(entry.get(key)), _num(ci.get("low")), _num(ci.get("high")))


def field_table(rows: Sequence[ModelRow]) -> list[list[str]]:
    return [[row.label, task, FIELD_LABELS.get(metric, metric), _fmt(value, low, high)]
            for row in rows for task, metric, value, low, high in field_rows((row.results.get("field") or {}).values())]


def control_table(rows: Sequence[ModelRow]) -> list[list[str]]:
    out = []
    for row in rows:
        for entry in (row.results.get("control") or {}).values():
            test = entry.get("paired_test") or {}
            p = f"{test['p_value']:.4f}" if _num(test.get("p_value")) is not None else "-"
            generator, fell_back = str(entry.get("generator")), entry.get("fell_back") or []
            if fell_back:   # shuffled controls of changes with fewer than two distinct added words
                generator += f" ({len(fell_back)} of {len(entry.get('control_generators') or {})} fell back to neutral)"
            out.append([row.label, str(entry.get("task")), generator, _ci(entry, "p-MRR"),
                        _ci(entry, "control p-MRR"), _ci(entry, "difference"), p, str(entry.get("queries"))])
    return out


FIELD_HEADER = ["Model", "Task", "Metric", "Value [95% CI]"]
CONTROL_HEADER = ["Model", "Task", "Control", "p-MRR", "Control p-MRR", "Difference", "p-value", "Queries"]


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    return "\n".join(lines)


def _html(header: list[str], body: list[list[str]], css: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def sections_markdown(rows: Sequence[ModelRow]) -> str:
    """The Markdown sections (empty when no results file has field or control results)."""
    parts = []
    field, control = field_table(rows), control_table(rows)
    if field:
        parts += ["## Other instruction-following benchmarks", "", FIELD_NOTE, "", _markdown(FIELD_HEADER, field), ""]
    if control:
        parts += ["## p-MRR against a control", "", CONTROL_NOTE, "", _markdown(CONTROL_HEADER, control), ""]
    return "\n".join(parts)


def sections_html(rows: Sequence[ModelRow]) -> str:
    parts = []
    field, control = field_table(rows), control_table(rows)
    if field:
        parts += ['<section id="field"><h2>Other instruction-following benchmarks</h2>',
                  f'<p class="note">{escape(FIELD_NOTE)}</p>', _html(FIELD_HEADER, field, "field"), "</section>"]
    if control:
        parts += ['<section id="control"><h2>p-MRR against a control</h2>',
                  f'<p class="note">{escape(CONTROL_NOTE)}</p>', _html(CONTROL_HEADER, control, "control"),
                  "</section>"]
    return "\n".join(parts)
