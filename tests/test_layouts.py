"""The two hub layouts (original and MTEB), jsonl/parquet/tsv files, README configs, and followir-mini."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from followir.data import load_task
from followir.data.layouts import detect_layout
from followir.records import Document, derive_changed_documents

# A tiny task, small enough to check by hand.
QUERIES = [
    {"_id": "301", "text": "international organized crime",
     "instruction_og": "Relevant documents name a criminal organization and its activity.",
     "instruction_changed": "Relevant documents name a criminal organization, its activity and a country.",
     "keywords": "crime, cartel", "short_query": "name the organization"},
    {"_id": "302", "text": "polio outbreaks",
     "instruction_og": "Relevant documents give data on polio outbreaks.",
     "instruction_changed": "Relevant documents give data on polio outbreaks in Africa.",
     "keywords": "polio", "short_query": "outbreak data"},
    {"_id": "303", "text": "hubble telescope achievements",
     "instruction_og": "Relevant documents describe new results from the Hubble telescope.",
     "instruction_changed": "Relevant documents describe new Hubble results obtained after the repairs.",
     "keywords": "hubble", "short_query": "hubble results"},
]
CORPUS = [
    {"_id": "d1", "title": "Cartel", "text": "The Cali cartel exports cocaine to Europe."},
    {"_id": "d2", "title": "", "text": "A gang smuggled arms and polio vaccine across borders."},
    {"_id": "d3", "title": "Markets", "text": "Stock markets rose on Tuesday."},
    {"_id": "d4", "title": "Mafia", "text": "The mafia runs gambling rings in three countries."},
    {"_id": "d5", "title": "Polio", "text": "Polio cases rose in Nigeria this year."},
    {"_id": "d6", "title": "", "text": "A vaccination campaign ended in Asia."},
    {"_id": "d7", "title": "Hubble", "text": "Hubble imaged a distant galaxy after the repair mission."},
    {"_id": "d8", "title": "Budget", "text": "The telescope budget was cut."},
]
QRELS_OG = {"301": {"d1": 1, "d2": 2, "d3": 0, "d4": 1},
            "302": {"d5": 1, "d6": 0, "d2": 1},
            "303": {"d7": 1, "d8": 0}}
QRELS_CHANGED = {"301": {"d1": 1, "d2": 0, "d3": 0},  # d4 is not judged under the changed instruction
                 "302": {"d5": 1, "d6": 1, "d2": -1},
                 "303": {"d7": 1, "d8": 0}}
# Relevant under og (> 0) and not relevant under changed (<= 0 or absent), worked out by hand.
CHANGED_BY_HAND = {"301": frozenset({"d2", "d4"}), "302": frozenset({"d2"}), "303": frozenset()}
CANDIDATES = {"301": ("d1", "d2", "d3", "d4", "d5"),
              "302": ("d2", "d5", "d6", "d7"),
              "303": ("d6", "d7", "d8", "d1")}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _tsv(path: Path, header: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(r[h]) for h in header) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _qrel_rows(qrels: dict, suffix: str = "") -> list[dict]:
    # The hub stores scores as float64 (1.0), which the readers must accept as integers.
    return [{"query-id": q + suffix, "corpus-id": d, "score": float(r)}
            for q, docs in qrels.items() for d, r in docs.items()]


def _candidate_rows() -> list[dict]:
    return [{"qid": q, "pid": d} for q, docs in CANDIDATES.items() for d in docs]


def write_original(root: Path, fmt: str = "jsonl") -> Path:
    """The jhu-clsp/*-instructions layout: corpus, queries, qrels_og/test, qrels_changed/test, top_ranked."""
    if fmt == "jsonl":
        _jsonl(root / "corpus.jsonl", CORPUS)
        _jsonl(root / "queries.jsonl", QUERIES)
        _jsonl(root / "qrels_og" / "test.jsonl", _qrel_rows(QRELS_OG))
        _jsonl(root / "qrels_changed" / "test.jsonl", _qrel_rows(QRELS_CHANGED))
        _jsonl(root / "top_ranked.jsonl", _candidate_rows())
    elif fmt == "tsv":
        _tsv(root / "corpus.tsv", ["_id", "title", "text"], CORPUS)
        _tsv(root / "queries.tsv", list(QUERIES[0]), QUERIES)
        _tsv(root / "qrels_og" / "test.tsv", ["query-id", "corpus-id", "score"], _qrel_rows(QRELS_OG))
        _tsv(root / "qrels_changed" / "test.tsv", ["query-id", "corpus-id", "score"],
             _qrel_rows(QRELS_CHANGED))
        _tsv(root / "top_ranked.tsv", ["qid", "pid"], _candidate_rows())
    else:
        raise ValueError(fmt)
    return root


def write_mteb(root: Path, qrel_diff: dict[str, list[str]] | None = None) -> Path:
    """The mteb/*InstructionRetrieval layout: parquet in config folders, '<qid>-og'/'<qid>-changed' ids."""
    _parquet(root / "corpus" / "corpus-00000-of-00001.parquet", CORPUS)
    _parquet(root / "queries" / "queries-00000-of-00001.parquet",
             [{"_id": f"{q['_id']}-{v}", "text": q["text"]} for q in QUERIES for v in ("og", "changed")])
    _parquet(root / "instruction" / "instruction-00000-of-00001.parquet",
             [{"query-id": f"{q['_id']}-{v}", "instruction": q[f"instruction_{v}"]}
              for q in QUERIES for v in ("og", "changed")])
    _parquet(root / "default" / "test-00000-of-00001.parquet",
             _qrel_rows(QRELS_OG, "-og") + _qrel_rows(QRELS_CHANGED, "-changed"))
    _parquet(root / "top_ranked" / "top_ranked-00000-of-00001.parquet",
             [{"query-id": f"{q}-{v}", "corpus-ids": list(docs)}
              for q, docs in CANDIDATES.items() for v in ("og", "changed")])
    if qrel_diff is not None:
        _parquet(root / "qrel_diff" / "qrel_diff-00000-of-00001.parquet",
                 [{"query-id": q, "corpus-ids": docs} for q, docs in qrel_diff.items()])
    return root


def _core_queries(task) -> list[tuple[str, str, str, str]]:
    return [(q.id, q.text, q.instruction_og, q.instruction_changed) for q in task.queries]


EXPECTED_CORE_QUERIES = [(q["_id"], q["text"], q["instruction_og"], q["instruction_changed"])
                         for q in QUERIES]
EXPECTED_CORPUS = {d["_id"]: Document(d["_id"], d["text"], d["title"]) for d in CORPUS}


def _assert_is_the_tiny_task(task) -> None:
    assert _core_queries(task) == EXPECTED_CORE_QUERIES
    assert dict(task.corpus) == EXPECTED_CORPUS
    assert task.qrels_og.to_dict() == QRELS_OG
    assert task.qrels_changed.to_dict() == QRELS_CHANGED
    assert all(type(r) is int for q in task.qrels_og.judgements.values() for r in q.values())
    assert dict(task.candidates) == CANDIDATES
    assert dict(task.changed_documents) == CHANGED_BY_HAND
    assert task.missing_candidates == 0


@pytest.fixture
def layouts(tmp_path) -> dict[str, Path]:
    diff = {q: sorted(d) for q, d in CHANGED_BY_HAND.items()}
    return {
        "original": write_original(tmp_path / "original"),
        "tsv": write_original(tmp_path / "tsv", fmt="tsv"),
        "mteb": write_mteb(tmp_path / "mteb", qrel_diff=diff),
        "mteb-no-diff": write_mteb(tmp_path / "mteb-no-diff"),
    }


@pytest.mark.parametrize("kind", ["original", "tsv", "mteb", "mteb-no-diff"])
def test_each_layout_loads_the_same_task(layouts, kind):
    task = load_task(str(layouts[kind]))
    _assert_is_the_tiny_task(task)
    assert task.name == kind
    assert task.source == str(layouts[kind])


def test_all_layouts_agree(layouts):
    tasks = [load_task(str(p)) for p in layouts.values()]
    first = tasks[0]
    for other in tasks[1:]:
        assert _core_queries(other) == _core_queries(first)
        assert dict(other.corpus) == dict(first.corpus)
        assert other.qrels_og == first.qrels_og
        assert other.qrels_changed == first.qrels_changed
        assert dict(other.candidates) == dict(first.candidates)
        assert dict(other.changed_documents) == dict(first.changed_documents)


def test_original_layout_keeps_keywords_and_short_query(layouts):
    for kind in ("original", "tsv"):
        query = load_task(str(layouts[kind])).query("301")
        assert query.keywords == "crime, cartel"
        assert query.short_instruction == "name the organization"
        assert query.instruction("og") == QUERIES[0]["instruction_og"]
        assert query.instruction("changed") == QUERIES[0]["instruction_changed"]
    mteb_query = load_task(str(layouts["mteb"])).query("301")
    assert mteb_query.keywords is None and mteb_query.short_instruction is None


def test_layout_auto_detection(layouts):
    assert detect_layout(layouts["original"]) == "original"
    assert detect_layout(layouts["tsv"]) == "original"
    assert detect_layout(layouts["mteb"]) == "mteb"
    assert detect_layout(layouts["mteb-no-diff"]) == "mteb"  # the instruction config alone says mteb
    assert load_task(str(layouts["original"])).metadata["layout"] == "original"
    assert load_task(str(layouts["mteb"])).metadata["layout"] == "mteb"
    # An explicit layout is obeyed.
    assert load_task(str(layouts["mteb"]), layout="mteb").metadata["layout"] == "mteb"


def test_changed_set_derivation_by_hand(layouts):
    task = load_task(str(layouts["original"]))
    # 301: d2 drops from 2 to 0, d4 is unjudged under changed; d1 stays relevant, d3 was never relevant.
    assert task.changed_documents["301"] == {"d2", "d4"}
    # 302: d2 goes to -1 (<= 0 counts as not relevant); d6 becomes relevant, which is not a "changed" doc.
    assert task.changed_documents["302"] == {"d2"}
    assert task.changed_documents["303"] == frozenset()
    assert dict(task.changed_documents) == derive_changed_documents(task.qrels_og, task.qrels_changed)


def test_qrel_diff_overrides_derivation(tmp_path):
    # Suffixed and bare query ids are both accepted in qrel_diff; 303 is not listed and keeps its derived set.
    root = write_mteb(tmp_path / "mteb", qrel_diff={"301-og": ["d1"], "302": ["d5", "d6"]})
    task = load_task(str(root))
    assert task.changed_documents["301"] == {"d1"}
    assert task.changed_documents["302"] == {"d5", "d6"}
    assert task.changed_documents["303"] == frozenset()
    # Everything else is as derived from the files.
    assert task.qrels_og.to_dict() == QRELS_OG
    assert dict(task.candidates) == CANDIDATES


def test_mteb_layout_ignores_changed_top_ranked_rows_and_corpus_ids_as_strings(tmp_path):
    root = write_mteb(tmp_path / "mteb")
    # Candidate lists sometimes come as JSON strings; the -changed rows are not read for candidates.
    _parquet(root / "top_ranked" / "top_ranked-00000-of-00001.parquet",
             [{"query-id": f"{q}-og", "corpus-ids": json.dumps(list(docs))} for q, docs in CANDIDATES.items()]
             + [{"query-id": f"{q}-changed", "corpus-ids": json.dumps(["d8"])} for q in CANDIDATES])
    assert dict(load_task(str(root)).candidates) == CANDIDATES


def test_readme_configs_at_non_default_paths(tmp_path):
    root = tmp_path / "custom"
    _jsonl(root / "data" / "corpus-file.jsonl", CORPUS)
    _jsonl(root / "data" / "queries-file.jsonl", QUERIES)
    _jsonl(root / "data" / "judgements" / "og-test.jsonl", _qrel_rows(QRELS_OG))
    _jsonl(root / "data" / "judgements" / "changed-test.jsonl", _qrel_rows(QRELS_CHANGED))
    # A second split of qrels_og; only the test split is read, so its unknown query does no harm.
    _jsonl(root / "data" / "judgements" / "og-train.jsonl",
           [{"query-id": "999", "corpus-id": "d1", "score": 1}])
    _jsonl(root / "data" / "cands" / "part-0.jsonl", _candidate_rows()[:6])
    _jsonl(root / "data" / "cands" / "part-1.jsonl", _candidate_rows()[6:])
    # Decoys at the default paths: the loader must follow the README, not the file names.
    _jsonl(root / "corpus.jsonl", [{"_id": "decoy", "text": "not the corpus"}])
    _jsonl(root / "queries.jsonl", [{"_id": "decoy"}])
    (root / "README.md").write_text(
        "---\n"
        "license: mit\n"
        "configs:\n"
        "- config_name: corpus\n"
        "  data_files: data/corpus-file.jsonl\n"
        "- config_name: queries\n"
        "  data_files:\n"
        "  - split: queries\n"
        "    path: data/queries-file.jsonl\n"
        "- config_name: qrels_og\n"
        "  data_files:\n"
        "  - split: train\n"
        "    path: data/judgements/og-train.jsonl\n"
        "  - split: test\n"
        "    path: data/judgements/og-test.jsonl\n"
        "- config_name: qrels_changed\n"
        "  data_files:\n"
        "  - split: test\n"
        "    path: data/judgements/changed-*.jsonl\n"
        "- config_name: top_ranked\n"
        "  data_files:\n"
        "  - split: top_ranked\n"
        "    path: data/cands/part-*.jsonl\n"
        "---\n"
        "# A dataset with its files in odd places\n",
        encoding="utf-8",
    )
    task = load_task(str(root))
    assert task.metadata["layout"] == "original"
    _assert_is_the_tiny_task(task)
    assert "decoy" not in task.corpus


# --- the packaged benchmark ---------------------------------------------------------------------------------


def test_followir_mini_loads_and_is_consistent():
    task = load_task("followir-mini")
    assert task.name == "followir-mini"
    assert task.source == "package:followir_mini"
    assert task.main_metric == "map_cut_1000"
    assert len(task.queries) >= 12
    assert task.missing_candidates == 0
    query_ids = {q.id for q in task.queries}
    assert set(task.qrels_og.query_ids()) == query_ids
    assert set(task.qrels_changed.query_ids()) == query_ids
    for q in task.queries:
        candidates = task.candidates[q.id]
        assert len(candidates) >= 25, q.id
        assert len(set(candidates)) == len(candidates)
        assert set(candidates) <= set(task.corpus)
        assert set(task.qrels_og.judgements[q.id]) <= set(task.corpus)
        assert set(task.qrels_changed.judgements[q.id]) <= set(task.corpus)
        og, changed = task.qrels_og.relevant(q.id), task.qrels_changed.relevant(q.id)
        assert changed < og, q.id  # the changed instruction narrows the og one
        assert task.changed_documents[q.id] == og - changed
        assert task.changed_documents[q.id], q.id
        assert task.changed_documents[q.id] <= set(candidates)
        assert q.instruction_og != q.instruction_changed
    # Hand-checked against the table in the benchmark's README.
    assert len(task.queries) == 14 and len(task.corpus) == 387
    assert len(task.qrels_og.relevant("901")) == 12
    assert len(task.qrels_changed.relevant("901")) == 7
    assert len(task.qrels_og.relevant("914")) == 14
    assert len(task.qrels_changed.relevant("914")) == 8


def test_mteb_second_spelling_id_fields_qrels_config_and_inline_instructions(tmp_path):
    """MTEB also publishes the layout with ``id`` fields, a ``qrels`` config and instructions on queries."""
    root = tmp_path / "mteb-v2"
    _parquet(root / "corpus" / "test-00000-of-00001.parquet",
             [{"id": d["_id"], "title": d["title"], "text": d["text"]} for d in CORPUS])
    _parquet(root / "queries" / "test-00000-of-00001.parquet",
             [{"id": f"{q['_id']}-{v}", "text": q["text"], "instruction": q[f"instruction_{v}"]}
              for q in QUERIES for v in ("og", "changed")])
    _parquet(root / "qrels" / "test-00000-of-00001.parquet",
             _qrel_rows(QRELS_OG, "-og") + _qrel_rows(QRELS_CHANGED, "-changed"))
    _parquet(root / "top_ranked" / "test-00000-of-00001.parquet",
             [{"query-id": f"{q}-{v}", "corpus-ids": list(docs)}
              for q, docs in CANDIDATES.items() for v in ("og", "changed")])
    _parquet(root / "qrel_diff" / "qrel_diff-00000-of-00001.parquet",
             [{"query-id": q, "corpus-ids": sorted(d)} for q, d in CHANGED_BY_HAND.items()])
    _assert_is_the_tiny_task(load_task(str(root), layout="mteb"))
