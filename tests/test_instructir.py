"""InstructIR: the loader on the real files, Robustness@10 and nDCG@10 on a hand-computed case, and an end-to-end
run over the MS MARCO seed passages.

The benchmark's corpus (the passages GPT-4 rewrote per instruction, ids '<pid>_<k>') is not in
../shared/data/instructir. What is there: the real instructions and qrels, and the 1,743 MS MARCO seed passages
the targets were rewritten from. Every target '<pid>_<k>' has its seed passage '<pid>' there (checked below), so
the end-to-end tests run the real instructions over the seed passages with qrels derived from the real ones by
mapping each target to its seed passage. Every instruction of a base query then has the same relevant passage:
this exercises the whole pipeline on real text, but its numbers are NOT InstructIR scores.
"""

from __future__ import annotations

import csv
import json
import math

import pytest
from typer.testing import CliRunner

from conftest import SHARED_DATA
from followir.analyses.instructir import (
    InstructionQuery,
    InstructIRData,
    load_instructir,
    read_qrels_table,
    run_instructir,
    score_instructir,
    write_instructir,
)
from followir.cli import app
from followir.data.trec import read_run
from followir.errors import DataFormatError
from followir.models.bm25 import BM25
from followir.records import Document, Qrels, Run, rank_documents

INSTRUCTIR = SHARED_DATA / "instructir"
SEED = INSTRUCTIR / "data_creation" / "msmarco" / "filtered_version"
RESAMPLES = 200
runner = CliRunner()


@pytest.fixture(scope="module")
def instructir_dir():
    if not (INSTRUCTIR / "INSTRUCTIR" / "only_instruction_queries.jsonl").is_file():
        pytest.skip(f"InstructIR data not found at {INSTRUCTIR}")
    return INSTRUCTIR.resolve()


@pytest.fixture(scope="module")
def seed_qrels(instructir_dir, tmp_path_factory):
    """The real qrels with each target '<pid>_<k>' replaced by its seed passage '<pid>'."""
    path = tmp_path_factory.mktemp("instructir") / "seed-qrels.tsv"
    with open(instructir_dir / "INSTRUCTIR" / "qrels" / "test.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    path.write_text("qid\tpid\tscore\n" + "".join(f"{r['qid']}\t{r['pid'].rsplit('_', 1)[0]}\t{r['score']}\n"
                                                  for r in rows))
    return path


@pytest.fixture(scope="module")
def seed_data(instructir_dir, seed_qrels) -> InstructIRData:
    return load_instructir(instructir_dir, SEED / "corpus.jsonl", qrels=seed_qrels)


# -- the real files -------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_loader_counts_on_the_real_files(seed_data, instructir_dir):
    assert len(seed_data.queries) == 9906
    assert len(seed_data.base_ids) == 1267
    real_qrels = read_qrels_table(instructir_dir / "INSTRUCTIR" / "qrels" / "test.tsv")
    assert len(real_qrels) == 9906 and len(real_qrels.judgements) == 9906
    assert all(len(docs) == 1 for docs in real_qrels.judgements.values())  # one target per instruction
    first = seed_data.queries[0]
    assert (first.id, first.base_id, first.query) == ("1078446_1", "1078446", "wine cabinets definition")
    assert first.instruction.startswith("I am an interior designer")
    with open(instructir_dir / "INSTRUCTIR" / "only_queries.jsonl") as f:
        base_texts = {row["_id"]: row["text"] for row in map(json.loads, f)}
    assert all(base_texts[q.base_id] == q.query for q in seed_data.queries)
    per_base = {}
    for q in seed_data.queries:
        per_base[q.base_id] = per_base.get(q.base_id, 0) + 1
    assert min(per_base.values()) == 6 and max(per_base.values()) == 10


@pytest.mark.realdata
def test_which_ids_match_the_seed_passages(instructir_dir, seed_data):
    real = read_qrels_table(instructir_dir / "INSTRUCTIR" / "qrels" / "test.tsv")
    targets = [d for docs in real.judgements.values() for d in docs]
    assert not any(t in seed_data.corpus for t in targets)  # the rewritten targets are not there...
    assert all(t.rsplit("_", 1)[0] in seed_data.corpus for t in targets)  # ...but all their seed passages are
    assert all(t.rsplit("_", 1)[1] == q.rsplit("_", 1)[1] for q, docs in real.judgements.items() for t in docs)
    assert seed_data.missing_targets == 0 and len(seed_data.corpus) == 1743


@pytest.mark.realdata
def test_the_seed_corpus_is_refused_for_the_real_qrels(instructir_dir):
    with pytest.raises(DataFormatError, match="none of the 9906 relevant passages"):
        load_instructir(instructir_dir, SEED / "corpus.jsonl")


# -- a tiny case worked out by hand ---------------------------------------------------------------------------
class TableReranker:
    """Scores candidates from a fixed table per instruction query (not the code under test)."""

    name = "table"

    def __init__(self, table):
        self.table = table
        self.seen = {}

    def rerank(self, requests, corpus, progress=None):
        for r in requests:
            self.seen[r.query_id] = r.candidates
        return [{d: self.table[r.query_id].get(d, 0.0) for d in r.candidates} for r in requests]

    def describe(self):
        return {"family": "table", "settings": {}}


def _tiny() -> InstructIRData:
    docs = {d: Document(d, d) for d in ("t1", "t2", "t3", "x", "y", "z")}
    queries = (InstructionQuery("q1_1", "q1", "query one", "as a cook"),
               InstructionQuery("q1_2", "q1", "query one", "as a student"),
               InstructionQuery("q2_1", "q2", "query two", "as a lawyer"))
    qrels = Qrels({"q1_1": {"t1": 1}, "q1_2": {"t2": 1}, "q2_1": {"t3": 1}})
    return InstructIRData(queries, qrels, docs)


def test_robustness_and_ndcg_by_hand():
    data = _tiny()
    # the first stage holds all six documents in some order; the reranker puts
    # q1_1's target at rank 1, q1_2's at rank 3, q2_1's at rank 2
    first = Run({q.id: {d: float(i) for i, d in enumerate(["z", "y", "x", "t3", "t2", "t1"])} for q in data.queries})
    table = {"q1_1": {"t1": 9, "x": 5}, "q1_2": {"x": 9, "y": 8, "t2": 7}, "q2_1": {"y": 9, "t3": 8}}
    result = run_instructir(TableReranker(table), data, first, depth=100, resamples=RESAMPLES)
    # one relevant passage at rank r: nDCG@10 = 1 / log2(r + 1)
    ndcg = {"q1_1": 1.0, "q1_2": 1 / math.log2(4), "q2_1": 1 / math.log2(3)}
    assert result.per_query_ndcg == pytest.approx(ndcg)
    assert result.ndcg == pytest.approx((1.0 + 0.5 + 1 / math.log2(3)) / 3)
    assert result.per_base_robustness == pytest.approx({"q1": 0.5, "q2": 1 / math.log2(3)})
    assert result.robustness == pytest.approx((0.5 + 1 / math.log2(3)) / 2)
    # the first stage alone: t1 at rank 1, t2 at 2, t3 at 3
    assert result.first_stage_scores["robustness@10"] == pytest.approx(
        (min(1.0, 1 / math.log2(3)) + 1 / math.log2(4)) / 2)


def test_only_the_first_stage_top_depth_is_reranked():
    data = _tiny()
    first = Run({q.id: {"x": 3.0, "y": 2.0, "t1": 1.5, "t2": 1.0, "t3": 0.5} for q in data.queries})
    model = TableReranker({"q1_1": {"t1": 9}, "q1_2": {"t2": 9}, "q2_1": {"t3": 9}})
    result = run_instructir(model, data, first, depth=3, resamples=RESAMPLES)
    assert model.seen == {"q1_1": ("x", "y", "t1"), "q1_2": ("x", "y", "t1"), "q2_1": ("x", "y", "t1")}
    assert result.per_query_ndcg == pytest.approx({"q1_1": 1.0, "q1_2": 0.0, "q2_1": 0.0})
    assert result.robustness == pytest.approx(0.0) and result.counts["targets_in_first_stage"] == 1


def test_score_instructir_matches_the_robustness_metric():
    qrels = {"a_1": {"d1": 1}, "a_2": {"d2": 1}}
    run = {"a_1": {"d1": 2.0, "d2": 1.0}, "a_2": {"d1": 2.0, "d2": 1.0}}
    ndcg, robust = score_instructir(qrels, run)
    assert ndcg == pytest.approx({"a_1": 1.0, "a_2": 1 / math.log2(3)})
    assert robust == pytest.approx({"a": 1 / math.log2(3)})


def test_bad_inputs(tmp_path):
    (tmp_path / "only_instruction_queries.jsonl").write_text(json.dumps({"_id": "noid", "text": "t"}) + "\n")
    with pytest.raises(DataFormatError, match="is not '<qid>_<k>'"):
        load_instructir(tmp_path, {"d": Document("d", "x")})
    (tmp_path / "only_instruction_queries.jsonl").write_text(
        json.dumps({"_id": "1_1", "text": "t", "metadata": {"origin_query": "q"}}) + "\n")
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("qid\tpid\tscore\n2_1\td\t1\n")
    with pytest.raises(DataFormatError, match="not instruction ids"):
        load_instructir(tmp_path, {"d": Document("d", "x")})
    (tmp_path / "qrels" / "test.tsv").write_text("qid\tpid\tscore\n1_1\td\t1\n")
    with pytest.raises(DataFormatError, match="no such corpus"):
        load_instructir(tmp_path, tmp_path / "missing.jsonl")
    data = load_instructir(tmp_path, {"d": Document("d", "x")})
    assert data.queries == (InstructionQuery("1_1", "1", "q", "t"),)
    with pytest.raises(ValueError, match="depth=0"):
        run_instructir(BM25(), data, "bm25", depth=0)


# -- end to end over the seed passages ------------------------------------------------------------------------
def _rank_ndcg(run, qrels, k=10):
    """nDCG@k with one relevant passage, by hand: 1 / log2(rank + 1) within the top k, else 0."""
    out = {}
    for qid, docs in qrels.items():
        (target,) = docs
        ranking = rank_documents(run.get(qid, {}))
        rank = ranking.index(target) + 1 if target in ranking else None
        out[qid] = 1 / math.log2(rank + 1) if rank is not None and rank <= k else 0.0
    return out


@pytest.mark.realdata
def test_bm25_end_to_end_on_seed_passages(seed_data, tmp_path):
    data = seed_data.subset(seed_data.base_ids[:20])
    result = run_instructir(BM25(), data, "bm25", depth=100, resamples=RESAMPLES)
    qrels = data.qrels.judgements
    assert result.per_query_ndcg == pytest.approx(_rank_ndcg(result.runs["reranked"].scores, qrels))
    by_base = {}
    for q in data.queries:
        by_base[q.base_id] = min(by_base.get(q.base_id, 1.0), result.per_query_ndcg[q.id])
    assert result.per_base_robustness == pytest.approx(by_base)
    assert result.robustness <= result.ndcg and 0 < result.robustness < 1
    assert result.counts["instructions"] == len(data.queries) and result.counts["base_queries"] == 20
    assert all(len(docs) <= 100 for docs in result.runs["first_stage"].scores.values())
    # the first stage searched the whole corpus with query + instruction
    from followir.retrieval import Searcher, SearchRequest

    q = data.queries[0]
    direct = Searcher(BM25(), data.corpus).search([SearchRequest(q.id, q.query, q.instruction)], 100)
    assert result.runs["first_stage"].ranking(q.id) == direct.ranking(q.id)
    path = write_instructir(result, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["robustness@10"] == result.robustness and saved["depth"] == 100
    assert read_run(tmp_path / saved["run_files"]["reranked"]).ranking(q.id) == result.runs["reranked"].ranking(q.id)


@pytest.mark.slow
@pytest.mark.realdata
def test_cli_with_a_first_stage_run_file(seed_data, seed_qrels, tmp_path, instructir_dir):
    data = seed_data.subset(seed_data.base_ids[:5])
    first = run_instructir(BM25(), data, "bm25", depth=20, resamples=RESAMPLES).runs["first_stage"]
    from followir.data.trec import write_run

    write_run(first, tmp_path / "first.trec")
    args = ["instructir", "-m", "bm25", "--corpus", str(SEED / "corpus.jsonl"), "--data", str(instructir_dir),
            "--qrels", str(seed_qrels), "--base-queries", "5", "--depth", "20", "-o", str(tmp_path / "out"),
            "--resamples", "100"]
    by_file = runner.invoke(app, [*args, "--first-stage", str(tmp_path / "first.trec")])
    assert by_file.exit_code == 0, by_file.output
    assert "Robustness@10" in by_file.stdout
    from_file = json.loads((tmp_path / "out" / "instructir.json").read_text())
    by_search = runner.invoke(app, [*args, "--json"])
    assert by_search.exit_code == 0, by_search.output
    from_search = json.loads(by_search.stdout)
    assert from_file["first_stage"]["kind"] == "run" and from_search["first_stage"]["kind"] == "search"
    assert from_file["robustness@10"] == pytest.approx(from_search["robustness@10"])
    assert from_file["counts"]["instructions"] == len(data.queries)
    refused = runner.invoke(app, ["instructir", "-m", "bm25", "--corpus", str(SEED / "corpus.jsonl"),
                                  "--data", str(instructir_dir)])
    assert refused.exit_code == 2 and "rewritten target passages" in " ".join(refused.output.split())


@pytest.mark.slow
@pytest.mark.realdata
def test_minilm_reranks_bm25_top_100(seed_data, tmp_path):
    import followir

    data = seed_data.subset(seed_data.base_ids[:5])
    model = followir.load_model("all-minilm-l6-v2", cache_path=str(tmp_path / "cache.sqlite"))
    result = run_instructir(model, data, "bm25", depth=100, resamples=RESAMPLES)
    assert result.per_query_ndcg == pytest.approx(_rank_ndcg(result.runs["reranked"].scores, data.qrels.judgements))
    reranked = result.runs["reranked"].scores
    assert all(set(reranked[q]) == set(result.runs["first_stage"].scores[q]) for q in reranked)
    assert 0 < result.robustness <= result.ndcg <= 1
