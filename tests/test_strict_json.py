"""Every JSON file and every ``--json`` output is strict JSON, and the reports read its nulls."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from followir.atomic import write_json
from followir.cli import app


def strict_load(text: str):
    def refuse(name: str):
        raise ValueError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_write_json_turns_undefined_numbers_into_null_with_their_place(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, {"ndcg": 0.5, "delta": math.nan, "runs": [1.0, math.inf], "undefined": {"x": "given"}})
    data = strict_load(path.read_text())
    assert data["delta"] is None and data["runs"] == [1.0, None] and data["ndcg"] == 0.5
    assert data["undefined"]["x"] == "given" and set(data["undefined"]) == {"x", "delta", "runs[1]"}


def test_cli_json_output_is_strict(monkeypatch):
    from followir.cli import common

    printed = []
    monkeypatch.setattr(common.stdout, "print_json", lambda text: printed.append(text))
    common.print_json({"p-MRR": math.nan})
    assert strict_load(printed[0]) == {"p-MRR": None, "undefined": {"p-MRR": strict_load(printed[0])["undefined"]
                                                                    ["p-MRR"]}}


@pytest.fixture(scope="module")
def null_p_mrr(tmp_path_factory):
    """A real bm25 results folder whose p-MRR is undefined (null, with its reason), as results.json writes it."""
    folder = tmp_path_factory.mktemp("null") / "bm25"
    assert CliRunner().invoke(app, ["evaluate", "-m", "bm25", "-o", str(folder), "--resamples", "100"]).exit_code == 0
    data = json.loads((folder / "results.json").read_text())
    data["tasks"]["followir-mini"]["scores"]["p-MRR"] = None
    data["tasks"]["followir-mini"]["scores"].setdefault("undefined", {})["p-MRR"] = "no query has changed documents"
    (folder / "results.json").write_text(json.dumps(data))
    return folder


def test_report_and_mteb_export_read_a_null_p_mrr(null_p_mrr, tmp_path):
    result = CliRunner().invoke(app, ["report", str(null_p_mrr), "-o", str(tmp_path / "r"), "-f", "md,csv",
                                      "--mteb-export", str(tmp_path / "mteb"), "--resamples", "100"])
    assert result.exit_code == 0, result.output
    row = next(line for line in (tmp_path / "r" / "report.md").read_text().splitlines() if "bm25" in line)
    assert row.split("|")[2].strip().startswith("54.8") and row.split("|")[3].strip().split()[0] == "-"
    [exported] = [p for p in (tmp_path / "mteb").rglob("*.json") if p.name != "model_meta.json"]
    block = strict_load(exported.read_text())["scores"]["test"][0]
    assert block["p-MRR"] is None and block["main_score"] is None
