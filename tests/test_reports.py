"""followir report: the paper's table from real evaluations on followir-mini, in Markdown, CSV, LaTeX and
HTML (rendered in headless Chromium when it is installed), pairwise tests, and the MTEB export."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from followir.atomic import write_json
from followir.cli import app
from followir.data.loading import load_task
from followir.errors import DataFormatError, MissingDependencyError
from followir.evaluation.compare import compare_results
from followir.evaluation.results import read_results
from followir.evaluation.runner import build_requests, evaluate
from followir.metrics.trec_measures import per_query_measures
from followir.metrics.uncertainty import bootstrap_interval
from followir.models import load_model
from followir.reports import build_report, export_mteb, write_report
from followir.reports.collect import load_rows
from followir.reports.formats import latex_escape, table_csv, table_latex
from followir.reports.mteb_export import mteb_model_name
from followir.reports.table import average_interval

TASK = "followir-mini"
RESAMPLES = 1000
ABLATION_VARIANTS = {"none": "none", "keywords": "keywords", "short": "short", "full": "og"}


def add_length_ablation(folder: Path, model, task) -> dict:
    """Score every query with no instruction, keywords, a short and the full instruction, and store it in
    results.json under 'ablation' in the schema the length-ablation analysis writes."""
    requests = build_requests(task, tuple(ABLATION_VARIANTS.values()))
    runs: dict[str, dict] = {v: {} for v in ABLATION_VARIANTS.values()}
    for request, scores in zip(requests, model.rerank(requests, task.corpus), strict=True):
        runs[request.variant][request.query_id] = scores
    metric = task.main_metric
    per_query = {name: {q: v[metric] for q, v in
                        per_query_measures(task.qrels_og.judgements, runs[variant], (metric,)).items()}
                 for name, variant in ABLATION_VARIANTS.items()}
    scores = {name: sum(v.values()) / len(v) for name, v in per_query.items()}
    ablation = {task.name: {"main_metric": metric, "variants": scores,
                            "delta": {c: scores[c] - scores["none"] for c in ("keywords", "short", "full")},
                            "intervals": {}, "per_query": per_query}}
    data = read_results(folder)
    data["ablation"] = ablation
    write_json(folder / "results.json", data)
    return ablation


def run_model(name: str, folder: Path, ablation: bool = True, **options) -> Path:
    task = load_task(TASK)
    model = load_model(name, **options)
    evaluate(model, [task], folder, resamples=RESAMPLES)
    if ablation:
        add_length_ablation(folder, model, task)
    return folder


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    return {name: run_model(name, root / name) for name in ("bm25", "bm25-corpus")}


def _renamed(source: Path, folder: Path, name: str | None = None, task: str | None = None) -> Path:
    """A copy of a results folder with another model name and/or task name (as another model or task
    would give)."""
    shutil.copytree(source, folder)
    data = read_results(folder)
    if name is not None:
        data["model"]["name"] = name
    if task is not None:  # results of one task, under another name
        (entry,) = data["tasks"].values()
        data["tasks"] = {task: {**entry, "task": task}}
        if data.get("ablation"):
            (ablation,) = data["ablation"].values()
            data["ablation"] = {task: ablation}
    write_json(folder / "results.json", data)
    return folder


def test_table_values_are_results_times_100_with_intervals(results):
    report = build_report([results["bm25"], results["bm25-corpus"]], resamples=RESAMPLES)
    assert [c.title for c in report.table.columns] == [f"{TASK} MAP@1000", f"{TASK} p-MRR"]
    assert [(g, [r.label for r in rows]) for g, rows in report.table.groups] == \
        [("No-Instruction IR", ["bm25", "bm25-corpus"])]
    rows = list(csv.DictReader(io.StringIO(table_csv(report.table))))
    markdown = (write_report(report, results["bm25"].parent / "out", ["md"])["md"]).read_text()
    for name, row in zip(("bm25", "bm25-corpus"), rows):
        scores = read_results(results[name])["tasks"][TASK]["scores"]
        assert row["model"] == name and row["group"] == "No-Instruction IR"
        for title, key in ((f"{TASK} MAP@1000", "main_score"), (f"{TASK} p-MRR", "p-MRR")):
            assert float(row[title]) == scores[key] * 100
            assert float(row[f"{title} low"]) == scores["intervals"][key]["low"] * 100
            assert float(row[f"{title} high"]) == scores["intervals"][key]["high"] * 100
        line = next(line for line in markdown.splitlines() if line.startswith(f"| {name} |"))
        assert f"{scores['main_score'] * 100:.1f}" in line and f"{scores['p-MRR'] * 100:+.1f}" in line
        low, high = scores["intervals"]["p-MRR"]["low"] * 100, scores["intervals"]["p-MRR"]["high"] * 100
        assert f"[{low:.1f}, {high:.1f}]" in line


def test_best_value_in_each_column_is_marked_in_every_format(results, tmp_path):
    report = build_report([results["bm25"], results["bm25-corpus"]], resamples=RESAMPLES)
    data = {n: read_results(results[n])["tasks"][TASK]["scores"] for n in ("bm25", "bm25-corpus")}
    best_score = max(data, key=lambda n: data[n]["main_score"])
    best_pmrr = max(data, key=lambda n: data[n]["p-MRR"])
    for row in report.table.rows:
        assert [c.best for c in row.cells] == [row.label == best_score, row.label == best_pmrr]
    written = write_report(report, tmp_path, ["md", "csv", "tex", "html"])
    md = written["md"].read_text()
    for name in data:
        line = next(line for line in md.splitlines() if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in line.strip("|").split("|")][1:]
        assert cells[0].startswith("**") == (name == best_score)
        assert cells[1].startswith("**") == (name == best_pmrr)
    tex = written["tex"].read_text()
    for name in data:
        line = next(line for line in tex.splitlines() if line.startswith(latex_escape(name) + " &"))
        cells = line.rstrip("\\ ").split(" & ")[1:]
        assert cells[0].startswith(r"\textbf{") == (name == best_score)
        assert cells[1].startswith(r"\textbf{") == (name == best_pmrr)
    best_column = {r["model"]: r["best"] for r in csv.DictReader(io.StringIO(written["csv"].read_text()))}
    assert (f"{TASK} MAP@1000" in best_column[best_score].split(";"))
    html = written["html"].read_text()
    assert html.count('<td class="best') == 2


def test_ties_are_all_marked_and_a_single_model_marks_nothing(results, tmp_path):
    twin = _renamed(results["bm25"], tmp_path / "twin", name="bm25-twin")
    report = build_report([results["bm25"], twin], resamples=RESAMPLES)
    assert all(c.best for row in report.table.rows for c in row.cells)
    alone = build_report([results["bm25"]], resamples=RESAMPLES)
    assert not any(c.best for row in alone.table.rows for c in row.cells)


def test_unknown_models_go_under_other_after_the_registry_groups(results, tmp_path):
    mine = _renamed(results["bm25"], tmp_path / "mine", name="my_model & co")
    report = build_report([mine, results["bm25"]], resamples=RESAMPLES)
    assert [(g, [r.label for r in rows]) for g, rows in report.table.groups] == \
        [("No-Instruction IR", ["bm25"]), ("Other", ["my_model & co"])]
    tex = table_latex(report.table)
    assert r"my\_model \& co" in tex and "my_model" not in tex.replace(r"my\_model", "")


def test_tasks_spread_over_folders_merge_into_one_row_with_averages(results, tmp_path):
    second = _renamed(results["bm25"], tmp_path / "second", task="mini-copy")
    report = build_report([results["bm25"], second], resamples=RESAMPLES)
    assert len(report.table.rows) == 1
    assert [c.title for c in report.table.columns][-2:] == ["Average Score", "Average p-MRR"]
    scores = read_results(results["bm25"])["tasks"][TASK]["scores"]
    row = report.table.rows[0]
    assert row.cells[-2].value == pytest.approx(scores["main_score"])
    assert row.cells[-1].value == pytest.approx(scores["p-MRR"])
    # two copies of one task: the average's interval is a bootstrap of the mean of two independent resamples
    per_query = scores["per_query"]["p-MRR"]
    expected = average_interval([per_query, per_query], resamples=RESAMPLES)
    assert (row.cells[-1].low, row.cells[-1].high) == expected
    assert row.cells[-1].low < scores["p-MRR"] < row.cells[-1].high
    with pytest.raises(DataFormatError, match="one results folder per model and task"):
        load_rows([results["bm25"], results["bm25"]])


def test_average_interval_of_one_task_is_its_bootstrap_interval(results):
    per_query = read_results(results["bm25"])["tasks"][TASK]["scores"]["per_query"]["p-MRR"]
    single = bootstrap_interval(per_query, resamples=RESAMPLES)
    assert average_interval([per_query], resamples=RESAMPLES) == (single.low, single.high)


def _strip_escapes(tex: str) -> str:
    return re.sub(r"\\[{}$%&#_]", "", tex)


def test_latex_is_booktabs_and_syntactically_sane(results, tmp_path):
    mine = _renamed(results["bm25"], tmp_path / "mine", name="weird_{name}$")
    report = build_report([results["bm25"], results["bm25-corpus"], mine], resamples=RESAMPLES)
    tex = table_latex(report.table)
    plain = _strip_escapes(tex)
    depth = 0
    for char in plain:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    assert plain.count("$") % 2 == 0
    positions = [tex.index(rule) for rule in (r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule",
                                              r"\end{tabular}")]
    assert positions == sorted(positions)
    assert tex.count(r"\toprule") == 1 and tex.count(r"\bottomrule") == 1
    body = tex[tex.index(r"\toprule"):tex.index(r"\bottomrule")]
    n_columns = 1 + len(report.table.columns)
    for line in body.splitlines():
        if line.endswith(r"\\") and not line.startswith(r"\multicolumn{" + str(n_columns)):
            cells = re.split(r"(?<!\\)&", line)
            widths = [2 if r"\multicolumn{2}" in c else 1 for c in cells]
            assert sum(widths) == n_columns, line
    assert r"weird\_\{name\}\$" in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles_with_pdflatex(results, tmp_path):
    mine = _renamed(results["bm25"], tmp_path / "mine", name="weird_{name}$ & 100% #1 ~^")
    report = build_report([results["bm25"], results["bm25-corpus"], mine], resamples=RESAMPLES)
    doc = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + \
        table_latex(report.table) + "\\end{document}\n"
    (tmp_path / "t.tex").write_text(doc)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], check=False,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def test_csv_parses_with_one_value_low_high_per_column(results):
    report = build_report([results["bm25"], results["bm25-corpus"]], resamples=RESAMPLES)
    parsed = list(csv.reader(io.StringIO(table_csv(report.table))))
    header, rows = parsed[0], parsed[1:]
    assert header[:2] == ["group", "model"] and header[-1] == "best"
    assert len(header) == 2 + 3 * len(report.table.columns) + 1
    assert len(rows) == 2 and all(len(r) == len(header) for r in rows)
    for row in rows:
        value, low, high = (float(x) for x in row[2:5])
        assert low <= value <= high


def test_significance_matches_the_paired_test_of_compare(results, tmp_path):
    report = build_report([results["bm25"], results["bm25-corpus"]], significance=True, resamples=RESAMPLES)
    pair = read_results(results["bm25"]), read_results(results["bm25-corpus"])
    expected = compare_results(*pair, RESAMPLES)[TASK]
    assert [(t.measure, t.model_a, t.model_b) for t in report.tests] == \
        [("MAP@1000", "bm25", "bm25-corpus"), ("p-MRR", "bm25", "bm25-corpus")]
    assert report.tests[0].p_value == expected["main_score"]["p_value"]
    assert report.tests[1].p_value == expected["p-MRR"]["p_value"]
    assert report.tests[1].difference == pytest.approx(expected["p-MRR"]["difference"])
    written = write_report(report, tmp_path, ["md", "csv", "html"])
    assert "## Pairwise significance" in written["md"].read_text()
    rows = list(csv.DictReader(io.StringIO(written["significance.csv"].read_text())))
    assert float(rows[1]["p_value"]) == expected["p-MRR"]["p_value"]
    assert 'id="significance"' in written["html"].read_text()
    plain = build_report([results["bm25"]], resamples=RESAMPLES)
    assert plain.tests is None


def test_ablation_entries_read_the_ablation_key(results):
    report = build_report([results["bm25"], results["bm25-corpus"]], resamples=RESAMPLES)
    assert [(e.model, e.task) for e in report.ablation] == [("bm25", TASK), ("bm25-corpus", TASK)]
    stored = read_results(results["bm25"])["ablation"][TASK]
    entry = report.ablation[0]
    assert entry.scores == stored["variants"]
    assert entry.deltas["full"] == stored["variants"]["full"] - stored["variants"]["none"]
    # the full instruction variant is the og evaluation: same score as the table's
    table_score = read_results(results["bm25"])["tasks"][TASK]["scores"]["main_score"]
    assert entry.scores["full"] == pytest.approx(table_score)
    low, high = entry.intervals["keywords"]
    assert low <= entry.deltas["keywords"] <= high


def test_html_is_self_contained_with_table_and_three_plots(results, tmp_path):
    report = build_report([results["bm25"], results["bm25-corpus"]], resamples=RESAMPLES)
    html = write_report(report, tmp_path, ["html"])["html"].read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert 'id="results-table"' in html and html.count("<svg") == 3
    for section in ("ablation-plot", "pmrr-distribution-plot", "score-vs-pmrr-plot"):
        assert f'id="{section}"' in html
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_no_ablation_section_without_an_ablation(results, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(results["bm25"], bare)
    data = read_results(bare)
    del data["ablation"]
    write_json(bare / "results.json", data)
    report = build_report([bare], resamples=RESAMPLES)
    written = write_report(report, tmp_path / "out", ["html", "md"])
    html = written["html"].read_text()
    assert "Instruction length ablation" not in html and 'id="ablation"' not in html
    assert html.count("<svg") == 2  # the p-MRR plots are still drawn
    assert "ablation" not in written["md"].read_text().lower()


def test_ablation_only_results_still_make_a_report(results, tmp_path):
    only = tmp_path / "only"
    shutil.copytree(results["bm25"], only)
    data = read_results(only)
    data["tasks"] = {}  # as the length-ablation analysis leaves a folder it created itself
    write_json(only / "results.json", data)
    report = build_report([only], resamples=RESAMPLES)
    assert report.table.columns == () and [e.model for e in report.ablation] == ["bm25"]
    written = write_report(report, tmp_path / "out", ["md", "html", "tex", "csv"])
    html = written["html"].read_text()
    assert 'id="ablation-plot"' in html and html.count("<svg") == 1 and "no p-MRR to plot" in html
    assert "| bm25 | followir-mini | MAP@1000 |" in written["md"].read_text()


def test_html_without_matplotlib_says_what_to_install(results, tmp_path, monkeypatch):
    report = build_report([results["bm25"]], resamples=RESAMPLES)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'followir\[report\]'"):
        write_report(report, tmp_path / "html", ["html"])
    written = write_report(report, tmp_path / "text", ["md", "csv", "tex"])
    assert sorted(written) == ["csv", "md", "tex"]


def test_mteb_export_layout_and_fields(results, tmp_path):
    robust = _renamed(results["bm25-corpus"], tmp_path / "robust", task="robust04")
    rows = load_rows([results["bm25"], robust])
    written = export_mteb(rows, tmp_path / "mteb", mteb_version="2.1.0")
    root = tmp_path / "mteb" / "results"
    mini = root / "bm25" / "no_revision_available" / f"{TASK}.json"
    robust_file = root / "bm25-corpus" / "no_revision_available" / "Robust04InstructionRetrieval.json"
    assert mini in written and robust_file in written
    data = json.loads(mini.read_text())
    source = read_results(results["bm25"])["tasks"][TASK]
    assert set(data) == {"dataset_revision", "task_name", "mteb_version", "scores", "evaluation_time",
                         "kg_co2_emissions", "date"}
    assert data["task_name"] == TASK and data["mteb_version"] == "2.1.0"
    assert data["dataset_revision"] == source["revision"]
    (block,) = data["scores"]["test"]
    assert block["main_score"] == block["p-MRR"] == round(source["scores"]["p-MRR"], 6)
    assert block["hf_subset"] == "default" and block["languages"] == ["eng-Latn"]
    assert block["og"]["map_at_1000"] == round(source["scores"]["og"]["map_cut_1000"], 6)
    assert block["changed"]["ndcg_at_5"] == round(source["scores"]["changed"]["ndcg_cut_5"], 6)
    assert block["og"]["mrr_at_1000"] == round(source["scores"]["og"]["recip_rank"], 6)
    assert data["evaluation_time"] > 0
    assert json.loads(robust_file.read_text())["task_name"] == "Robust04InstructionRetrieval"
    meta = json.loads((root / "bm25" / "no_revision_available" / "model_meta.json").read_text())
    assert meta["name"] == "bm25" and meta["revision"] is None
    settings = [json.loads(line) for line in
                (root / "bm25" / "no_revision_available" / "run_settings.jsonl").read_text().splitlines()]
    assert (settings[0]["task"], settings[0]["split"], settings[0]["subset"]) == (TASK, "test", "default")
    assert settings[0]["version"]["mteb"] == "2.1.0"


def test_mteb_model_names_follow_the_hub_ids():
    packaged = {"name": "all-minilm-l6-v2", "settings": {"model_id": "/site-packages/x/model"}}
    assert mteb_model_name(packaged) == "sentence-transformers/all-MiniLM-L6-v2"
    assert mteb_model_name({"name": "e5-base-v2"}) == "intfloat/e5-base-v2"
    api = {"name": "openai-v3-large", "family": "api-embedder"}
    assert mteb_model_name(api) == "openai/text-embedding-3-large"
    custom = {"name": "org/custom", "family": "bi-encoder", "settings": {"model_id": "org/custom"}}
    assert mteb_model_name(custom) == "org/custom"


def test_cli_report_writes_every_format_and_the_export(results, tmp_path):
    out, export = tmp_path / "report", tmp_path / "mteb"
    result = CliRunner().invoke(app, ["report", str(results["bm25"]), str(results["bm25-corpus"]),
                                      "-o", str(out), "--significance", "--mteb-export", str(export),
                                      "--mteb-version", "2.1.0", "--resamples", str(RESAMPLES)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"report.md", "report.csv", "report.tex", "report.html",
                                               "significance.csv"}
    assert (export / "results" / "bm25-corpus" / "no_revision_available" / f"{TASK}.json").is_file()
    assert "bm25-corpus" in result.stdout and "MAP@1000" in result.stdout
    only_md = CliRunner().invoke(app, ["report", str(results["bm25"]), "-o", str(tmp_path / "md"),
                                       "-f", "md"])
    assert only_md.exit_code == 0 and [p.name for p in (tmp_path / "md").iterdir()] == ["report.md"]
    bad = CliRunner().invoke(app, ["report", str(results["bm25"]), "-o", str(tmp_path / "x"), "-f", "pdf"])
    assert bad.exit_code == 2 and "md, csv, tex, html" in " ".join(bad.output.split())
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere"), "-o", str(tmp_path / "y")])
    assert missing.exit_code == 2 and "no results file" in " ".join(missing.output.split())


# -- the page in a real browser ---------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    """Headless Chromium with its profile and temporary files in a short folder: it keeps a unix socket there,
    and a socket path longer than 107 bytes (a long $TMPDIR) stops it ("Socket path too long")."""
    import os
    import shutil
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="chr-", dir="/tmp" if os.access("/tmp", os.W_OK) else None))
    try:
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={short / profile.name}", *args],
                              check=False, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "TMPDIR": str(short)})
    finally:
        shutil.rmtree(short, ignore_errors=True)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_renders_in_headless_chromium(results, tmp_path):
    report = build_report([results["bm25"], results["bm25-corpus"]], significance=True, resamples=RESAMPLES)
    page = write_report(report, tmp_path, ["html"])["html"]
    dom = chromium(["--dump-dom", page.resolve().as_uri()], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    assert 'id="results-table"' in rendered and rendered.count("<svg") == 3
    assert re.search(r"<th[^>]*>bm25-corpus</th>", rendered)
    for section in ("ablation-plot", "pmrr-distribution-plot", "score-vs-pmrr-plot", "significance"):
        assert f'id="{section}"' in rendered

    shot = tmp_path / "page.png"
    done = chromium([f"--screenshot={shot}", "--window-size=1200,2600", page.resolve().as_uri()],
                    tmp_path / "profile-shot")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert png_size(shot) == (1200, 2600)
    assert shot.stat().st_size > 30_000
    # the plots were painted: the bar colours of the ablation figure and the models' colours are on screen
    from matplotlib.image import imread

    from followir.reports.plots import PALETTE, VARIANT_COLORS

    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int).reshape(-1, 3)
    for colour in (*VARIANT_COLORS.values(), PALETTE[0], PALETTE[1]):
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        close = (abs(pixels - rgb).max(axis=1) <= 3).sum()
        assert close > 50, f"colour {colour} is (almost) absent from the screenshot"
    assert not math.isclose(pixels.std(), 0.0)


# -- the three models of the docs, once ----------------------------------------------------------------------
@pytest.mark.slow
def test_report_with_all_minilm(results, tmp_path):
    # the session's cache (conftest.py): embeddings shared by this run's all-MiniLM tests, fresh in every run
    minilm = run_model("all-minilm-l6-v2", tmp_path / "minilm")
    report = build_report([results["bm25"], results["bm25-corpus"], minilm], significance=True,
                          resamples=RESAMPLES)
    assert [r.label for r in report.table.rows] == ["bm25", "bm25-corpus", "all-minilm-l6-v2"]
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(table_csv(report.table)))}
    scores = read_results(minilm)["tasks"][TASK]["scores"]
    assert float(rows["all-minilm-l6-v2"][f"{TASK} MAP@1000"]) == scores["main_score"] * 100
    assert len(report.tests) == 3 * 2 and len(report.ablation) == 3
    html = write_report(report, tmp_path / "out", ["html"])["html"].read_text()
    assert html.count("<svg") == 3 and "all-minilm-l6-v2" in html
    export_mteb(report.rows, tmp_path / "mteb", "2.1.0")
    folder = tmp_path / "mteb" / "results" / "sentence-transformers__all-MiniLM-L6-v2"
    assert (folder / "no_revision_available" / f"{TASK}.json").is_file()
