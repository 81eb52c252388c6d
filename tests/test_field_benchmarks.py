"""mFollowIR, InfoSearch, NevIR and IFIR from folders laid out as each publishes on the hub (built here from tiny
data), through registered names (an offline hub cache holding the pinned revisions) and local folders, then
evaluated end to end with a table of known scores whose metrics are worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from followir.data.benchmarks import load_benchmark, load_benchmarks
from followir.data.field import FieldTask
from followir.errors import DataFormatError, UnknownNameError
from followir.evaluation.field import evaluate_field_task, infosearch_positives_negatives, write_field_result
from followir.records import Task
from test_field_metrics import NEVIR_QRELS, NEVIR_RUN, RUN_INS, RUN_ORI, RUN_REV, WISE_Q
from test_hub_cache import _jsonl, _parquet, add_snapshot, hub_cache  # noqa: F401  (fixture)


class TableReranker:
    """Scores read from a table ``{mode: {query id: {doc: score}}}``: results worked out by hand."""

    name = "table"

    def __init__(self, table):
        self.table = table

    def rerank(self, requests, corpus, progress=None):
        return [{d: self.table[r.variant][r.query_id].get(d, -1.0) for d in r.candidates} for r in requests]

    def describe(self):
        return {"family": "table"}


def _readme(configs: dict[str, list[tuple[str, str]]]) -> bytes:
    lines = ["---", "configs:"]
    for name, files in configs.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        for split, path in files:
            lines += [f"  - split: {split}", f"    path: {path}"]
    return ("\n".join(lines + ["---", "", "# dataset", ""])).encode("utf-8")


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


# -- mFollowIR: one repository, configs <config>-<lang> -------------------------------------------------------
LANGS = {"fas": ("گزارش", "خبر"), "rus": ("отчёт", "новость")}


def mfollowir_mteb_files() -> dict[str, bytes]:
    """jhu-clsp/mFollowIR-parquet-mteb: corpus-/queries-/instruction-/default-/top_ranked-/qrel_diff-<lang>,
    split names as MTEB's m_follow_ir.py reads them (corpus, queries, instruction, test, top_ranked, qrel_diff)."""
    files: dict[str, bytes] = {}
    configs: dict[str, list[tuple[str, str]]] = {}
    for lang, (w1, w2) in LANGS.items():
        docs = [{"_id": f"{lang}-d{i}", "title": "", "text": f"{w1} {i} {w2 if i % 2 else w1}"} for i in range(4)]
        tables = {
            "corpus": ("corpus", docs),
            "queries": ("queries", [{"_id": f"1-{v}", "text": w1} for v in ("og", "changed")]),
            "instruction": ("instruction", [{"query-id": "1-og", "instruction": f"{w2} {w1}"},
                                            {"query-id": "1-changed", "instruction": f"{w2} {w1} {w2} 3"}]),
            "default": ("test", [{"query-id": "1-og", "corpus-id": f"{lang}-d1", "score": 1.0},
                                 {"query-id": "1-og", "corpus-id": f"{lang}-d2", "score": 1.0},
                                 {"query-id": "1-changed", "corpus-id": f"{lang}-d2", "score": 1.0}]),
            "top_ranked": ("top_ranked", [{"query-id": f"1-{v}", "corpus-ids": [d["_id"] for d in docs]}
                                          for v in ("og", "changed")]),
            "qrel_diff": ("qrel_diff", [{"query-id": "1", "corpus-ids": [f"{lang}-d1"]}]),
        }
        for config, (split, rows) in tables.items():
            path = f"{config}-{lang}/{split}-00000-of-00001.parquet"
            files[path] = _parquet(rows)
            configs[f"{config}-{lang}"] = [(split, path)]
    files["README.md"] = _readme(configs)
    return files


def test_mfollowir_languages_from_the_pinned_hub_snapshot(hub_cache):  # noqa: F811
    from followir.data.catalog import TASKS

    spec = TASKS["mfollowir-fas"]
    add_snapshot(hub_cache, spec.mteb.repo_id, spec.mteb.revision, mfollowir_mteb_files())
    tasks = load_benchmarks("mfollowir", language="fas", layout="mteb")
    assert [t.name for t in tasks] == ["mfollowir-fas"]
    task = tasks[0]
    assert isinstance(task, Task) and task.revision == "09eecbe45c54b4a6dfb8e68e345cae77337768e2"
    assert task.metadata["language"] == "fas" and task.main_metric == "ndcg_cut_20"
    assert len(task.corpus) == 4 and task.candidates["1"] == ("fas-d0", "fas-d1", "fas-d2", "fas-d3")
    assert task.changed_documents["1"] == frozenset({"fas-d1"})
    assert task.query("1").instruction_changed.endswith(" 3")
    with pytest.raises(UnknownNameError, match="fas, rus or zho"):
        load_benchmarks("mfollowir", language="deu", layout="mteb")


def test_mfollowir_per_language_results_from_a_local_folder(tmp_path):
    from followir.evaluation.runner import evaluate
    from followir.models.registry import load_model

    folder = write_files(tmp_path / "mfollowir", mfollowir_mteb_files())
    tasks = load_benchmarks(str(folder), layout="mteb", language="fas,rus")
    assert [t.name for t in tasks] == ["mfollowir-fas", "mfollowir-rus"]
    out = tmp_path / "out"
    evaluate(load_model("bm25"), tasks, output_dir=out, resamples=200)
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]) == {"mfollowir-fas", "mfollowir-rus"}
    assert {results["tasks"][t]["language"] for t in results["tasks"]} == {"fas", "rus"}
    assert "ndcg_cut_20" in results["tasks"]["mfollowir-rus"]["scores"]["og"]


# -- InfoSearch -------------------------------------------------------------------------------------------
def infosearch_files() -> dict[str, bytes]:
    """jianqunZ/<Dimension>-v1, as EIT-NLP/InfoSearch's loader asks for it: corpus, queries (three instructions),
    qrels_og / qrels_changed / qrels_reversed (split test)."""
    docs = [{"_id": d, "title": "", "text": f"passage {d}"} for d in "abcde"] + \
        [{"_id": "f", "title": "", "text": "passage f"}]
    queries = [{"_id": "q", "text": "how do vaccines work", "instruction_og": "Any explanation.",
                "instruction_changed": "Written for a layman.", "instruction_reversed": "Not for a layman."},
               {"_id": "unjudged", "text": "x", "instruction_og": "a", "instruction_changed": "b",
                "instruction_reversed": "c"}]
    og = [{"query-id": "q", "corpus-id": d, "score": 1} for d in "abc"]
    changed = [{"query-id": "q", "corpus-id": d, "score": s} for d, s in (("a", 1), ("b", 1), ("c", 0))]
    reversed_ = [{"query-id": "q", "corpus-id": d, "score": s} for d, s in (("a", 0), ("b", 0), ("c", 1))]
    files = {"corpus.jsonl": _jsonl(docs), "queries.jsonl": _jsonl(queries),
             "qrels_og/test.jsonl": _jsonl(og), "qrels_changed/test.jsonl": _jsonl(changed),
             "qrels_reversed/test.jsonl": _jsonl(reversed_)}
    files["README.md"] = _readme({"corpus": [("corpus", "corpus.jsonl")], "queries": [("queries", "queries.jsonl")],
                                  **{f"qrels_{v}": [("test", f"qrels_{v}/test.jsonl")]
                                     for v in ("og", "changed", "reversed")}})
    return files


def test_infosearch_wise_sicr_pmrr_end_to_end(hub_cache, tmp_path):  # noqa: F811
    add_snapshot(hub_cache, "jianqunZ/Audience-v1", "9bc73db6f3ca419c3fdb4d98e1f0864411756fc8", infosearch_files())
    task = load_benchmark("infosearch-audience")
    assert isinstance(task, FieldTask) and task.kind == "infosearch"
    assert [q.id for q in task.queries] == ["q"]          # queries without og judgements are dropped
    assert task.candidates["q"] == tuple("abcdef")        # the whole corpus, as the reference ranks it
    assert infosearch_positives_negatives(task) == ({"q": ["a", "b"]}, {"q": ["c"]})
    table = {"ori": RUN_ORI, "ins": RUN_INS, "rev": RUN_REV}
    result = evaluate_field_task(TableReranker(table), task, resamples=200)
    assert result.main_score == pytest.approx(WISE_Q, abs=1e-7)   # WISE, by hand in test_field_metrics
    assert result.scores["SICR"] == 1.0 and result.scores["p-MRR"] == pytest.approx(2 / 3)
    path = write_field_result(result, tmp_path / "out", {"name": "table"})
    saved = json.loads(path.read_text())["field"]["infosearch-audience"]
    assert saved["revision"] == "9bc73db6f3ca419c3fdb4d98e1f0864411756fc8" and saved["main_metric"] == "WISE"
    assert saved["intervals"]["WISE"]["mean"] == pytest.approx(result.main_score)
    assert (tmp_path / "out" / "infosearch-audience.rev.trec").is_file()


def test_infosearch_bad_row_names_file_line_and_fix(tmp_path):
    files = infosearch_files()
    files["queries.jsonl"] = _jsonl([{"_id": "q", "text": "t", "instruction_og": "a", "instruction_changed": "b"}])
    folder = write_files(tmp_path / "is", files)
    with pytest.raises(DataFormatError) as err:
        load_benchmark(str(folder), layout="infosearch")
    assert err.value.path.endswith("queries.jsonl") and err.value.line == 1
    assert "instruction_reversed" in err.value.problem and err.value.fix


# -- NevIR ------------------------------------------------------------------------------------------------
def nevir_files() -> dict[str, bytes]:
    """orionweller/NevIR-mteb: MTEB's retrieval layout (corpus, queries, default qrels, top_ranked)."""
    docs = sorted({d for q in NEVIR_QRELS.values() for d in q})
    return {
        "README.md": _readme({c: [("test", f"{c}/test-00000-of-00001.parquet")]
                              for c in ("corpus", "queries", "default", "top_ranked")}),
        "corpus/test-00000-of-00001.parquet": _parquet([{"_id": d, "title": "", "text": f"passage {d}"}
                                                        for d in docs]),
        "queries/test-00000-of-00001.parquet": _parquet([{"_id": q, "text": f"question {q}"} for q in NEVIR_QRELS]),
        "default/test-00000-of-00001.parquet": _parquet(
            [{"query-id": q, "corpus-id": d, "score": r} for q, j in NEVIR_QRELS.items() for d, r in j.items()]),
        "top_ranked/test-00000-of-00001.parquet": _parquet(
            [{"query-id": q, "corpus-ids": sorted(j)} for q, j in NEVIR_QRELS.items()]),
    }


def test_nevir_paired_accuracy_end_to_end(hub_cache):  # noqa: F811
    add_snapshot(hub_cache, "orionweller/NevIR-mteb", "eab99575c01c6a8e39f8d2adc6e3c3adcfe84413", nevir_files())
    task = load_benchmark("nevir")
    assert task.kind == "nevir" and len(task.queries) == 6 and task.candidates["2_q1"] == ("d2a", "d2b")
    result = evaluate_field_task(TableReranker({"query": NEVIR_RUN}), task, resamples=200)
    assert result.main_score == pytest.approx(1 / 3)        # pairs 1, 2, 3: wrong, right, tie (wrong)
    assert result.scores["query_accuracy"] == pytest.approx(4 / 6)
    assert result.per_query["paired_accuracy"] == {"1": 0.0, "2": 1.0, "3": 0.0}


def test_nevir_unpaired_query_is_refused(tmp_path):
    files = nevir_files()
    files["queries/test-00000-of-00001.parquet"] = _parquet([{"_id": "1_q1", "text": "q"}])
    folder = write_files(tmp_path / "nevir", files)
    with pytest.raises(DataFormatError, match="no partner") as err:
        load_benchmark(str(folder), layout="nevir")
    assert "queries" in err.value.path and "_q1" in err.value.fix


# -- IFIR -------------------------------------------------------------------------------------------------
def ifir_files() -> dict[str, bytes]:
    """songtingyu/IFIR: <domain>/<domain>-corpus.jsonl and <domain>/test_data.json."""
    corpus = [{"_id": d, "title": "", "text": f"filing {d}"} for d in ("p1", "p2", "p3")]
    data = [{"_id": "Q1", "text": "best way to save for retirement", "corpus": [{"_id": "p1"}, {"_id": "p2"}],
             "instructions": [{"instruction": "I am 25 and want low fees.", "level": 1, "rel": [0]},
                              {"instruction": "I am 60; prefer bonds.", "level": 2, "rel": [1]}]}]
    return {"fiqa/fiqa-corpus.jsonl": _jsonl(corpus), "fiqa/test_data.json": json.dumps(data).encode("utf-8")}


def test_ifir_levels_end_to_end(hub_cache):  # noqa: F811
    snapshot = "1" * 40
    add_snapshot(hub_cache, "songtingyu/IFIR", snapshot, ifir_files())
    task = load_benchmark("ifir-fiqa")
    assert task.revision == snapshot                      # not pinned anywhere: the resolved snapshot is recorded
    assert [(q.id, q.level) for q in task.queries] == [("Q1", None), ("Q1.1", 1), ("Q1.2", 2)]
    table = {"none": {"Q1": {"p2": 3.0, "p1": 2.0, "p3": 1.0}},                 # p1 at 2, p2 at 1
             "instruction": {"Q1.1": {"p1": 3.0, "p2": 2.0, "p3": 1.0},         # p1 at 1
                             "Q1.2": {"p1": 3.0, "p3": 2.0, "p2": 1.0}}}        # p2 at 3
    result = evaluate_field_task(TableReranker(table), task, resamples=200)
    at2, at3 = 1 / math.log2(3), 1 / math.log2(4)
    assert result.per_query["ndcg_cut_20"] == {"Q1.1": 1.0, "Q1.2": pytest.approx(at3)}
    assert result.per_query["none.ndcg_cut_20"] == {"Q1.1": pytest.approx(at2), "Q1.2": 1.0}
    assert result.main_score == pytest.approx((1 + at3) / 2)
    assert result.breakdown["level.1"]["ndcg_cut_20"] == 1.0
    assert result.breakdown["level.2"]["gain.ndcg_cut_20"] == pytest.approx(at3 - 1)
    assert result.intervals["level.2.ndcg_cut_20"].mean == pytest.approx(at3)


def test_ifir_bad_relevance_index(tmp_path):
    files = ifir_files()
    data = json.loads(files["fiqa/test_data.json"])
    data[0]["instructions"][1]["rel"] = [5]
    files["fiqa/test_data.json"] = json.dumps(data).encode()
    folder = write_files(tmp_path / "ifir", files)
    with pytest.raises(DataFormatError, match="indexes the query's corpus list of 2") as err:
        load_benchmark(str(folder / "fiqa"), layout="ifir")
    assert "entry 1 instruction 2" in err.value.path


def test_field_tasks_are_not_followir_tasks():
    from followir.data.loading import load_task

    with pytest.raises(UnknownNameError, match="infosearch benchmark"):
        load_task("infosearch-format")


def mfollowir_original_files() -> dict[str, bytes]:
    """jhu-clsp/mFollowIR-cross-lingual-parquet (original layout): corpus-/queries-/qrels_og-/qrels_changed-/
    top_ranked-<lang> with the splits mteb's earlier mFollowIR.py reads (corpus, queries, test, top_ranked);
    English queries and instructions over Chinese documents."""
    docs = [{"_id": f"z{i}", "title": "", "text": t} for i, t in enumerate(("洪水 报告", "洪水 新闻", "天气"))]
    tables = {
        "corpus": ("corpus", docs),
        "queries": ("queries", [{"_id": "7", "text": "flood reports", "instruction_og": "Any flood report.",
                                 "instruction_changed": "Any flood report. Not news.", "keywords": "flood",
                                 "short_query": "floods"}]),
        "qrels_og": ("test", [{"query-id": "7", "corpus-id": d, "score": 1} for d in ("z0", "z1")]),
        "qrels_changed": ("test", [{"query-id": "7", "corpus-id": "z0", "score": 1}]),
        "top_ranked": ("top_ranked", [{"qid": "7", "pid": d["_id"]} for d in docs]),
    }
    files, configs = {}, {}
    for config, (split, rows) in tables.items():
        path = f"{config}-zho/{split}-00000-of-00001.parquet"
        files[path] = _parquet(rows)
        configs[f"{config}-zho"] = [(split, path)]
    files["README.md"] = _readme(configs)
    return files


def test_mfollowir_cross_lingual_original_layout(hub_cache):  # noqa: F811
    add_snapshot(hub_cache, "jhu-clsp/mFollowIR-cross-lingual-parquet", "7a82814a53229d3c8f18b2e18762a1a959dc5ff6",
                 mfollowir_original_files())
    (task,) = load_benchmarks("mfollowir-cross", language="zho")
    assert task.name == "mfollowir-cross-zho" and task.metadata["language"] == "zho"
    assert task.query("7").keywords == "flood" and task.candidates["7"] == ("z0", "z1", "z2")
    assert task.changed_documents["7"] == frozenset({"z1"})   # derived: relevant under og only
