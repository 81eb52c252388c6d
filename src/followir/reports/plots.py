"""The report's plots as SVG strings (matplotlib, imported on first use; ``pip install 'followir[report]'``).

- the instruction length ablation per model (the paper's Figure 3);
- the distribution of per-query p-MRR per model;
- score against p-MRR across models.

Figures are drawn without pyplot (no global state, no display backend) and saved with text kept as text,
no timestamp and a fixed id salt, so the same inputs give the same bytes.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np

from followir.reports.ablation import CHANGES, VARIANT_LABELS, AblationEntry, metric_label
from followir.reports.collect import ModelRow

PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
           "#CCB974", "#64B5CD")
VARIANT_COLORS = {"keywords": "#8DA0CB", "short": "#66C2A5", "full": "#FC8D62"}
TASK_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
_RC = {"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 10, "axes.spines.top": False,
       "axes.spines.right": False, "axes.grid": True, "grid.color": "#E6E6E6", "grid.linewidth": 0.8,
       "axes.axisbelow": True, "axes.titlesize": 11, "legend.frameon": False}


def require_plots():
    """matplotlib, or ``MissingDependencyError`` naming ``pip install 'followir[report]'``."""
    from followir.models.runtime import require

    return require("matplotlib", "report")


_matplotlib = require_plots


def model_colors(labels: Sequence[str]) -> dict[str, str]:
    """One colour per model, the same in every plot."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def _figure(width: float, height: float):
    _matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_svg(draw, salt: str) -> str:
    """Run ``draw()`` (which returns a Figure) under the report style and return the ``<svg>`` element."""
    mpl = _matplotlib()
    with mpl.rc_context({**_RC, "svg.hashsalt": f"followir-{salt}"}):
        fig = draw()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):].strip()


def ablation_svg(entries: Sequence[AblationEntry], colors: Mapping[str, str] | None = None) -> str:
    """Grouped bars: per task, per model, the change of keywords, short and full instruction against
    no instruction (times 100), with 95% bootstrap intervals."""
    tasks = list(dict.fromkeys(e.task for e in entries))
    models = list(dict.fromkeys(e.model for e in entries))

    def draw():
        ncols = min(len(tasks), 3)
        nrows = -(-len(tasks) // ncols)
        fig = _figure(max(5.5, 1.1 * len(models) + 2.2) * ncols, 4.0 * nrows)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        width = 0.8 / len(CHANGES)
        for ax, task in zip(axes, tasks):
            found = {e.model: e for e in entries if e.task == task}
            names = [m for m in models if m in found]
            x = np.arange(len(names))
            for k, change in enumerate(CHANGES):
                values = np.array([found[m].deltas[change] * 100 for m in names])
                low = np.array([found[m].intervals[change][0] * 100 for m in names])
                high = np.array([found[m].intervals[change][1] * 100 for m in names])
                err = np.where(np.isnan(low) | np.isnan(high), 0.0, np.vstack([values - low, high - values]))
                err = np.clip(err, 0.0, None)
                ax.bar(x + (k - 1) * width, values, width, yerr=err, capsize=2, color=VARIANT_COLORS[change],
                       label=VARIANT_LABELS[change], error_kw={"elinewidth": 0.8, "ecolor": "#444444"})
            ax.axhline(0, color="#333333", linewidth=0.8)
            tilt = len(names) > 3
            ax.set_xticks(x, names, rotation=20 if tilt else 0, ha="right" if tilt else "center")
            metric = found[names[0]].main_metric if names else ""
            ax.set_ylabel(f"Δ {metric_label(metric)} vs. no instruction (×100)")
            ax.set_title(task)
            ax.grid(axis="x", visible=False)
        for ax in axes[len(tasks):]:
            ax.set_visible(False)
        axes[0].legend(loc="best", fontsize=9)
        return fig

    return to_svg(draw, "ablation")


def pmrr_distribution_svg(rows: Sequence[ModelRow], tasks: Sequence[str],
                          colors: Mapping[str, str] | None = None) -> str:
    """Per task, a box plot of per-query p-MRR (times 100) per model with every query as a dot."""
    colors = colors or model_colors([r.label for r in rows])

    def draw():
        ncols = min(len(tasks), 2)
        nrows = -(-len(tasks) // ncols)
        fig = _figure(7.0 * ncols, (0.5 * len(rows) + 1.5) * nrows)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        rng = np.random.default_rng(0)
        for ax, task in zip(axes, tasks):
            present = [r for r in rows if _per_query_pmrr(r, task).size]
            data = [_per_query_pmrr(r, task) for r in present]
            positions = np.arange(len(present))[::-1]
            boxes = ax.boxplot(data, positions=positions, widths=0.55, showfliers=False, patch_artist=True,
                               medianprops={"color": "#222222"}, **_horizontal(ax))
            for patch, r in zip(boxes["boxes"], present):
                patch.set_facecolor(colors[r.label] + "40")
                patch.set_edgecolor(colors[r.label])
            for y, values, r in zip(positions, data, present):
                ax.scatter(values, y + rng.uniform(-0.18, 0.18, size=values.size), s=12,
                           color=colors[r.label], alpha=0.8, linewidths=0, zorder=3)
                mean = values.mean() if values.size else np.nan
                ax.scatter([mean], [y], marker="D", s=28, color="white", edgecolors="#222222", zorder=4)
            ax.axvline(0, color="#333333", linewidth=0.8)
            ax.set_yticks(positions, [r.label for r in present])
            ax.set_xlim(-105, 105)
            ax.set_xlabel("per-query p-MRR (×100)")
            ax.set_title(f"{task} (◇ mean)")
            ax.grid(axis="y", visible=False)
        for ax in axes[len(tasks):]:
            ax.set_visible(False)
        return fig

    return to_svg(draw, "pmrr-distribution")


def score_vs_pmrr_svg(rows: Sequence[ModelRow], tasks: Sequence[str],
                      colors: Mapping[str, str] | None = None) -> str:
    """Each model on each task as a point: main score (x) against p-MRR (y), times 100, with intervals."""
    colors = colors or model_colors([r.label for r in rows])

    def draw():
        fig = _figure(7.6, 5.0)
        ax = fig.subplots()
        for t, task in enumerate(tasks):
            marker = TASK_MARKERS[t % len(TASK_MARKERS)]
            for r in rows:
                if task not in r.tasks:
                    continue
                scores = r.tasks[task]["scores"]
                x, y = scores["main_score"] * 100, scores["p-MRR"] * 100
                if x != x or y != y:  # an undefined score or p-MRR has no place on the plot
                    continue
                xi = scores.get("intervals", {}).get("main_score", {})
                yi = scores.get("intervals", {}).get("p-MRR", {})
                xerr = [[x - xi["low"] * 100], [xi["high"] * 100 - x]] if "low" in xi else None
                yerr = [[y - yi["low"] * 100], [yi["high"] * 100 - y]] if "low" in yi else None
                ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt=marker, color=colors[r.label], markersize=7,
                            elinewidth=0.8, capsize=2, alpha=0.9)
                ax.annotate(r.label, (x, y), xytext=(6, 5), textcoords="offset points", fontsize=9,
                            color="#222222")
        ax.axhline(0, color="#333333", linewidth=0.8)
        ax.set_xlabel("main score (×100): MAP@1000 or nDCG@5 with the og instruction")
        ax.set_ylabel("p-MRR (×100)")
        if len(tasks) > 1:
            from matplotlib.lines import Line2D

            handles = [Line2D([], [], marker=TASK_MARKERS[t % len(TASK_MARKERS)], linestyle="",
                              color="#555555", label=task) for t, task in enumerate(tasks)]
            ax.legend(handles=handles, loc="best", fontsize=9)
        return fig

    return to_svg(draw, "score-vs-pmrr")


def _per_query_pmrr(row: ModelRow, task: str) -> np.ndarray:
    """Per-query p-MRR of a row on a task, times 100 (empty without the task or its per-query values)."""
    if task not in row.tasks:
        return np.zeros(0)
    values = (row.tasks[task]["scores"].get("per_query") or {}).get("p-MRR") or {}
    return np.array(list(values.values()), dtype=float) * 100


def _horizontal(ax) -> dict:
    """``orientation='horizontal'`` on matplotlib >= 3.10, ``vert=False`` before."""
    import inspect

    return ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.boxplot).parameters
            else {"vert": False})
