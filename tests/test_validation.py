"""Bad local datasets (original layout) fail with a DataFormatError naming the file and the line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from followir.data import load_task
from followir.errors import DataFormatError


def _good_rows() -> dict[str, list[dict]]:
    return {
        "corpus.jsonl": [
            {"_id": "d1", "title": "", "text": "The Cali cartel exports cocaine."},
            {"_id": "d2", "title": "Polio", "text": "Polio cases rose in Nigeria."},
            {"_id": "d3", "title": "", "text": "Stock markets rose on Tuesday."},
        ],
        "queries.jsonl": [
            {"_id": "1", "text": "organized crime", "instruction_og": "Name the organization.",
             "instruction_changed": "Name the organization and a country."},
            {"_id": "2", "text": "polio", "instruction_og": "Give outbreak data.",
             "instruction_changed": "Give outbreak data for Africa."},
        ],
        "qrels_og/test.jsonl": [
            {"query-id": "1", "corpus-id": "d1", "score": 1.0},
            {"query-id": "1", "corpus-id": "d3", "score": 0.0},
            {"query-id": "2", "corpus-id": "d2", "score": 1.0},
        ],
        "qrels_changed/test.jsonl": [
            {"query-id": "1", "corpus-id": "d1", "score": 0.0},
            {"query-id": "1", "corpus-id": "d3", "score": 0.0},
            {"query-id": "2", "corpus-id": "d2", "score": 1.0},
        ],
        "top_ranked.jsonl": [
            {"qid": "1", "pid": "d1"}, {"qid": "1", "pid": "d3"},
            {"qid": "2", "pid": "d2"}, {"qid": "2", "pid": "d1"},
        ],
    }


def _write(root: Path, rows: dict[str, list[dict]]) -> Path:
    for name, file_rows in rows.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in file_rows), encoding="utf-8")
    return root


def _load_error(root: Path) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        load_task(str(root))
    return info.value


def _assert_names(err: DataFormatError, root: Path, file: str, line: int) -> None:
    path = root / file
    assert Path(err.path) == path
    assert err.line == line
    assert f"{path}:{line}" in str(err)
    assert "Fix:" in str(err)


def test_the_good_dataset_loads(tmp_path):
    task = load_task(str(_write(tmp_path, _good_rows())))
    assert [q.id for q in task.queries] == ["1", "2"]
    assert task.changed_documents == {"1": {"d1"}, "2": frozenset()}
    assert task.missing_candidates == 0


def test_missing_field(tmp_path):
    rows = _good_rows()
    del rows["queries.jsonl"][1]["instruction_og"]
    err = _load_error(_write(tmp_path, rows))
    _assert_names(err, tmp_path, "queries.jsonl", 2)
    assert "missing field 'instruction_og'" in str(err)


def test_qrels_naming_unknown_query(tmp_path):
    rows = _good_rows()
    rows["qrels_og/test.jsonl"].append({"query-id": "99", "corpus-id": "d1", "score": 1.0})
    rows["qrels_og/test.jsonl"].append({"query-id": "99", "corpus-id": "d2", "score": 0.0})
    err = _load_error(_write(tmp_path, rows))
    _assert_names(err, tmp_path, "qrels_og/test.jsonl", 4)  # the first line judging query 99
    assert "'99'" in str(err)


def test_non_integer_relevance(tmp_path):
    rows = _good_rows()
    rows["qrels_changed/test.jsonl"][2]["score"] = 0.5
    err = _load_error(_write(tmp_path, rows))
    _assert_names(err, tmp_path, "qrels_changed/test.jsonl", 3)
    assert "0.5" in str(err)


def test_duplicate_document_id(tmp_path):
    rows = _good_rows()
    rows["corpus.jsonl"].append({"_id": "d2", "title": "", "text": "Another text under an old id."})
    err = _load_error(_write(tmp_path, rows))
    _assert_names(err, tmp_path, "corpus.jsonl", 4)
    assert "duplicate document id 'd2'" in str(err)
    assert f"{tmp_path / 'corpus.jsonl'}:2" in str(err)  # where the first one was


def test_duplicate_query_id(tmp_path):
    rows = _good_rows()
    rows["queries.jsonl"].append(dict(rows["queries.jsonl"][0]))
    err = _load_error(_write(tmp_path, rows))
    _assert_names(err, tmp_path, "queries.jsonl", 3)
    assert "duplicate query id '1'" in str(err)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_document_text(tmp_path, text):
    rows = _good_rows()
    rows["corpus.jsonl"][2]["text"] = text
    err = _load_error(_write(tmp_path, rows))
    _assert_names(err, tmp_path, "corpus.jsonl", 3)
    assert "'d3'" in str(err)


@pytest.mark.parametrize("field", ["instruction_og", "instruction_changed"])
def test_empty_instruction(tmp_path, field):
    rows = _good_rows()
    rows["queries.jsonl"][1][field] = "  "
    err = _load_error(_write(tmp_path, rows))
    _assert_names(err, tmp_path, "queries.jsonl", 2)
    assert field in str(err)


def test_candidates_missing_from_corpus_are_dropped_with_one_warning(tmp_path, caplog):
    rows = _good_rows()
    rows["top_ranked.jsonl"][1:1] = [{"qid": "1", "pid": "gone-1"}]
    rows["top_ranked.jsonl"].append({"qid": "2", "pid": "gone-2"})
    rows["top_ranked.jsonl"].append({"qid": "2", "pid": "gone-3"})
    root = _write(tmp_path, rows)
    with caplog.at_level(logging.WARNING):
        task = load_task(str(root))
    assert task.missing_candidates == 3
    assert task.candidates == {"1": ("d1", "d3"), "2": ("d2", "d1")}  # order kept, missing ones dropped
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "3 candidate entries" in warnings[0].getMessage()
