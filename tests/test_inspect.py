"""followir inspect: one query's changed documents read back from a real BM25 evaluation on followir-mini.
Ranks are checked against the rank column of the TREC run files, p-MRR terms against the query's p-MRR."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from followir.atomic import write_json
from followir.cli import app
from followir.data.loading import load_task, packaged_path
from followir.errors import DataFormatError, UnknownNameError
from followir.evaluation.results import read_results
from followir.evaluation.runner import evaluate
from followir.models import load_model
from followir.reports.inspection import inspect_query, instruction_diff, snippet

TASK = "followir-mini"


@pytest.fixture(scope="module")
def bm25(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inspect") / "bm25"
    evaluate(load_model("bm25"), [load_task(TASK)], folder, resamples=200)
    return folder


def file_ranks(path) -> dict[str, dict[str, int]]:
    """The rank column of a TREC run file: query -> document -> rank (an independent reading of the run)."""
    out: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, rank, _, _ = line.split()
        out.setdefault(qid, {})[doc] = int(rank)
    return out


def test_ranks_match_the_run_files_and_terms_average_to_the_query_pmrr(bm25):
    data = read_results(bm25)
    entry = data["tasks"][TASK]
    og, changed = (file_ranks(bm25 / entry["run_files"][v]) for v in ("og", "changed"))
    task = load_task(TASK)
    per_query = entry["scores"]["per_query"]["p-MRR"]
    checked = 0
    for query in task.queries:
        found = inspect_query(bm25, query.id, loaded_task=task)
        assert found.query == query.text and found.instruction_changed == query.instruction_changed
        assert [d.doc_id for d in found.documents] != [] and \
            {d.doc_id for d in found.documents} == set(task.changed_documents[query.id])
        for doc in found.documents:
            assert doc.og_rank == og[query.id][doc.doc_id]
            assert doc.changed_rank == changed[query.id][doc.doc_id]
            assert doc.relevance_og > 0 and not doc.relevance_changed
        terms = [d.contribution for d in found.documents]
        assert sum(terms) / len(terms) == pytest.approx(per_query[query.id], abs=1e-12)
        assert found.p_mrr == pytest.approx(per_query[query.id], abs=1e-12)
        assert found.reported_p_mrr == per_query[query.id]
        assert terms == sorted(terms)  # worst first
        checked += 1
    assert checked == len(per_query) == 14


def test_a_term_by_hand(bm25):
    found = inspect_query(bm25, "903")
    doc = found.documents[0]
    # p-MRR equation 1: a document that rose (or stayed) scores RR_og / RR_new - 1 = R_new / R_og - 1
    assert doc.og_rank >= doc.changed_rank
    assert doc.contribution == pytest.approx(doc.changed_rank / doc.og_rank - 1)
    assert doc.moved == doc.og_rank - doc.changed_rank
    per_query = read_results(bm25)["tasks"][TASK]["scores"]["per_query"]
    assert found.score_og == per_query["og"]["903"]["map_cut_1000"]


def test_task_path_gives_the_same_answer(bm25):
    default = inspect_query(bm25, "905")
    from_folder = inspect_query(bm25, "905", task_path=packaged_path("followir_mini"))
    assert default.documents == from_folder.documents


def test_errors_name_the_fix(bm25, tmp_path):
    with pytest.raises(UnknownNameError, match="--query"):
        inspect_query(bm25, "no-such-query")
    with pytest.raises(UnknownNameError, match="--task"):
        inspect_query(bm25, "901", task="robust04")
    two = tmp_path / "two"
    shutil.copytree(bm25, two)
    data = read_results(two)
    data["tasks"]["other"] = data["tasks"][TASK]
    write_json(two / "results.json", data)
    with pytest.raises(UnknownNameError, match="pick one with --task"):
        inspect_query(two, "901")
    assert inspect_query(two, "901", task=TASK).task == TASK
    (two / data["tasks"][TASK]["run_files"]["changed"]).unlink()
    with pytest.raises(DataFormatError, match="run file is missing"):
        inspect_query(two, "901", task=TASK)


def test_instruction_diff_rebuilds_both_instructions():
    task = load_task(TASK)
    for query in task.queries:
        pieces = instruction_diff(query.instruction_og, query.instruction_changed)
        assert "".join(t for op, t in pieces if op != "insert") == query.instruction_og
        assert "".join(t for op, t in pieces if op != "delete") == query.instruction_changed
        assert any(op == "insert" for op, _ in pieces)


def test_snippet_cuts_at_a_word():
    assert snippet("one two three four", 100) == "one two three four"
    assert snippet("alpha beta gamma delta", 12) == "alpha beta…"


def test_cli_json_and_table(bm25):
    runner = CliRunner()
    result = runner.invoke(app, ["inspect", str(bm25), "--query", "903", "--json", "--limit", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query_id"] == "903" and len(data["documents"]) == 2
    assert data["changed_documents"] == len(inspect_query(bm25, "903").documents) > 2
    per_query = read_results(bm25)["tasks"][TASK]["scores"]["per_query"]
    assert data["p_mrr"] == pytest.approx(per_query["p-MRR"]["903"])
    shown = runner.invoke(app, ["inspect", str(bm25), "-q", "903", "-n", "3"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "og instruction" in out and "changed instruction" in out
    assert data["documents"][0]["doc_id"] in out and "p-MRR term" in out
    assert "showing 3 of" in out
    bad = runner.invoke(app, ["inspect", str(bm25), "-q", "nope"])
    assert bad.exit_code == 2 and "queries:" in bad.output
