"""The field's benchmarks and the control analysis from the command line: tasks, evaluate, control, compare and
report."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from followir.cli import app
from test_field_benchmarks import ifir_files, infosearch_files, nevir_files, write_files

runner = CliRunner()


def test_tasks_lists_the_field(tmp_path):
    result = runner.invoke(app, ["tasks", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {(r["name"], r["layout"]): r for r in data["tasks"]}
    assert rows[("nevir", "mteb")]["revision"] == "eab99575c01c6a8e39f8d2adc6e3c3adcfe84413"
    assert rows[("mfollowir-cross-zho", "mteb")]["repo_id"] == "jhu-clsp/mFollowIR-cross-lingual-parquet-mteb"
    assert rows[("mfollowir-rus", "original")]["language"] == "rus"
    assert rows[("infosearch-format", "original")]["benchmark"] == "infosearch"
    assert rows[("ifir-scifact-open", "original")]["revision"] is None
    assert data["groups"]["infosearch"] == [f"infosearch-{d}" for d in
                                            ("language", "clarity", "audience", "length", "source", "format")]
    text = runner.invoke(app, ["tasks"]).output
    assert "unpinned" in text and "mfollowir-cross" in text


@pytest.mark.parametrize("layout, files, task, metric", [
    ("nevir", nevir_files, "nevir", "paired_accuracy"),
    ("infosearch", infosearch_files, "is", "WISE"),
])
def test_evaluate_a_field_folder_then_compare_and_report(tmp_path, layout, files, task, metric):
    folder = write_files(tmp_path / task, files())
    for model in ("bm25", "bm25-corpus"):
        result = runner.invoke(app, ["evaluate", "-m", model, "-t", str(folder), "--layout", layout,
                                     "-o", str(tmp_path / model), "--resamples", "200"])
        assert result.exit_code == 0, result.output
        assert "field's benchmarks" in result.output
    saved = json.loads((tmp_path / "bm25" / "results.json").read_text())
    entry = saved["field"][task]
    assert entry["main_metric"] == metric and entry["benchmark"] == layout and saved["tasks"] == {}
    compared = runner.invoke(app, ["compare", str(tmp_path / "bm25"), str(tmp_path / "bm25-corpus"), "--json",
                                   "--resamples", "200"])
    assert compared.exit_code == 0, compared.output
    tests = json.loads(compared.output)["field"][task]
    assert tests[metric]["queries"] == len(entry["per_query"][metric])
    report = runner.invoke(app, ["report", str(tmp_path / "bm25"), str(tmp_path / "bm25-corpus"),
                                 "-o", str(tmp_path / "report"), "--formats", "md"])
    assert report.exit_code == 0, report.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Other instruction-following benchmarks" in text and f"| bm25-corpus | {task} |" in text


def test_evaluate_ifir_folder_reports_levels(tmp_path):
    folder = write_files(tmp_path / "ifir", ifir_files())
    result = runner.invoke(app, ["evaluate", "-m", "bm25", "-t", str(folder / "fiqa"), "--layout", "ifir",
                                 "-o", str(tmp_path / "out"), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "out" / "results.json").read_text())["field"]["fiqa"]
    assert set(entry["breakdown"]) == {"level.1", "level.2"} and entry["main_metric"] == "ndcg_cut_20"
    assert "fiqa level.2" in result.output


def test_bad_language_is_exit_2():
    result = runner.invoke(app, ["evaluate", "-m", "bm25", "-t", "mfollowir", "--language", "deu"])
    assert result.exit_code == 2 and "fas, rus or zho" in result.output


@pytest.mark.slow
def test_control_on_followir_mini_with_bm25(tmp_path):
    out = tmp_path / "bm25"
    for generator in ("neutral", "shuffled"):
        result = runner.invoke(app, ["control", "-m", "bm25", "-t", "followir-mini", "--control", generator,
                                     "-o", str(out), "--resamples", "1000"])
        assert result.exit_code == 0, result.output
    control = json.loads((out / "results.json").read_text())["control"]
    neutral, shuffled = control["followir-mini.neutral"], control["followir-mini.shuffled"]
    # BM25 is a bag of words: the changed instruction's words in any order give the same run, so all of its
    # p-MRR (-10.3 on followir-mini) is reaction to the added words
    assert neutral["p-MRR"] == pytest.approx(-0.103, abs=5e-4) == shuffled["p-MRR"]
    assert shuffled["control p-MRR"] == pytest.approx(shuffled["p-MRR"]) and shuffled["difference"] == 0.0
    assert neutral["control p-MRR"] == pytest.approx(-0.042, abs=5e-4)
    assert neutral["queries"] == 14 and neutral["neutral_text"]
    report = runner.invoke(app, ["report", str(out), "-o", str(tmp_path / "report"), "--formats", "md"])
    assert report.exit_code == 0, report.output
    assert "| bm25 | followir-mini | shuffled |" in (tmp_path / "report" / "report.md").read_text()
