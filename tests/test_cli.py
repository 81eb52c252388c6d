"""The CLI end to end on the packaged benchmark and on TREC files."""

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from followir.cli import app
from followir.data.trec import read_run, write_qrels, write_run
from followir.records import Qrels

runner = CliRunner()


def test_evaluate_bm25_on_followir_mini_writes_runs_and_results(tmp_path):
    out = tmp_path / "res"
    result = runner.invoke(app, ["evaluate", "--model", "bm25", "--task", "followir-mini", "--output", str(out),
                                 "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert "followir-mini" in result.stdout and "p-MRR" in result.stdout
    data = json.loads((out / "results.json").read_text())
    assert data["model"]["name"] == "bm25" and data["model"]["family"] == "bm25"
    assert data["followir_version"]
    task = data["tasks"]["followir-mini"]
    assert task["revision"] and task["source"] == "package:followir_mini"
    assert set(task["timings"]) >= {"rank_s", "score_s"}
    scores = task["scores"]
    assert scores["main_metric"] == "map_cut_1000"
    assert 0 < scores["main_score"] <= 1 and -1 <= scores["p-MRR"] <= 1
    low, high = scores["intervals"]["p-MRR"]["low"], scores["intervals"]["p-MRR"]["high"]
    assert low <= scores["p-MRR"] <= high
    og_run = read_run(out / task["run_files"]["og"])
    changed_run = read_run(out / task["run_files"]["changed"])
    assert len(og_run.scores) == task["queries"] == len(changed_run.scores)


def test_evaluate_json_flag_prints_results(tmp_path):
    result = runner.invoke(app, ["evaluate", "-m", "bm25", "-t", "followir-mini", "-o", str(tmp_path),
                                 "--json", "--resamples", "100"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "followir-mini" in data["tasks"]


def test_unknown_model_and_task_exit_2(tmp_path):
    bad_model = runner.invoke(app, ["evaluate", "-m", "no-such-model", "-o", str(tmp_path)])
    assert bad_model.exit_code == 2 and "--family" in bad_model.output
    bad_task = runner.invoke(app, ["evaluate", "-m", "bm25", "-t", str(tmp_path / "nowhere")])
    assert bad_task.exit_code == 2 and "unknown task" in bad_task.output


def _write_case(tmp_path):
    og = Qrels({"1": {"x": 1, "a": 1, "b": 0}, "2": {"y": 1, "c": 0}})
    changed = Qrels({"1": {"x": 0, "a": 1, "b": 0}, "2": {"y": 1, "c": 0}})
    write_qrels(og, tmp_path / "og.qrels")
    write_qrels(changed, tmp_path / "changed.qrels")
    write_run({"1": {"a": 3.0, "b": 2.0, "c": 1.5, "x": 1.0}, "2": {"y": 2.0, "c": 1.0}}, tmp_path / "og.run")
    # x rises from rank 4 to rank 1: p-MRR = 1/4 - 1 = -0.75 (query 2 has no changed document)
    write_run({"1": {"x": 3.0, "a": 2.0, "b": 1.0, "c": 0.5}, "2": {"c": 2.0, "y": 1.0}}, tmp_path / "ch.run")


def test_metrics_json_from_trec_files(tmp_path):
    _write_case(tmp_path)
    result = runner.invoke(app, ["metrics", "--qrels-og", str(tmp_path / "og.qrels"),
                                 "--qrels-changed", str(tmp_path / "changed.qrels"),
                                 "--run-og", str(tmp_path / "og.run"), "--run-changed", str(tmp_path / "ch.run"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["p-MRR"] == -0.75
    for variant in ("og", "changed"):
        for key in ("map", "ndcg_cut_5", "ndcg_cut_10", "recip_rank"):
            assert 0.0 <= data[variant][key] <= 1.0
    # og query 1: relevant a at 1, x at 4 -> AP (1 + 2/4) / 2; query 2: y at 1 -> 1
    assert data["og"]["map"] == (0.75 + 1.0) / 2
    # changed query 2: y at rank 2
    assert data["changed"]["recip_rank"] == (0.5 + 0.5) / 2


def test_metrics_reports_bad_file_with_line(tmp_path):
    _write_case(tmp_path)
    (tmp_path / "bad.run").write_text("1 Q0 a 1 3.0 tag\n1 Q0 b 2 oops tag\n")
    result = runner.invoke(app, ["metrics", "--qrels-og", str(tmp_path / "og.qrels"),
                                 "--qrels-changed", str(tmp_path / "changed.qrels"),
                                 "--run-og", str(tmp_path / "bad.run"), "--run-changed", str(tmp_path / "ch.run")])
    assert result.exit_code == 2
    assert "bad.run:2" in result.output.replace("\n", "")


def test_compare_two_results(tmp_path):
    for name, extra in (("a", []), ("b", [])):
        r = runner.invoke(app, ["evaluate", "-m", "bm25" if name == "a" else "bm25-corpus", "-t", "followir-mini",
                                "-o", str(tmp_path / name), "--resamples", "100", *extra])
        assert r.exit_code == 0, r.output
    result = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json",
                                 "--resamples", "500"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    test = data["followir-mini"]["p-MRR"]
    assert 0 < test["p_value"] <= 1 and test["queries"] == 14


def test_console_script_runs():
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "followir.cli", "tasks"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "jhu-clsp/robust04-instructions" in out.stdout
