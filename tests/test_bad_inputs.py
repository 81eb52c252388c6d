"""Bad input files: each kind is refused, naming the file, the line and the fix, or handled by a documented rule.

Kinds (issue 11): unusable run/qrels files, queries ranked in one run only, non-finite scores, readers that
drop or merge content, ids that cannot round-trip, strict JSON, hash-seed independence, XML topics.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from followir.cli import app
from followir.data import read_qrels, read_run, read_topics, write_qrels, write_run
from followir.data.configs import config_files
from followir.data.tables import read_rows
from followir.errors import DataFormatError, FollowIRError
from followir.metrics.followir_scores import score_followir
from followir.metrics.pmrr import p_mrr_per_query
from followir.records import Qrels

runner = CliRunner()


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _error(reader, path: Path) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        reader(path)
    assert str(path) in str(info.value)
    assert "Fix:" in str(info.value)
    return info.value


def _metrics(folder: Path, *extra: str, og="og.qrels", changed="ch.qrels", run_og="og.run", run_ch="ch.run"):
    return runner.invoke(app, ["metrics", "--qrels-og", str(folder / og), "--qrels-changed", str(folder / changed),
                               "--run-og", str(folder / run_og), "--run-changed", str(folder / run_ch), *extra])


def _strict_loads(text: str):
    def refuse(constant):
        raise ValueError(f"non-strict JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


# --- a run or qrels file that yields nothing usable ------------------------------------------------------------

@pytest.mark.parametrize("content", ["", "\n\n   \n", "\x0b\x0c\x1c\x1d\n\t\n"])
def test_empty_or_blank_run_is_an_error(tmp_path, content):
    err = _error(read_run, _write(tmp_path, "run.txt", content))
    assert "no ranking" in err.problem


@pytest.mark.parametrize("content", ["", "  \n\n"])
def test_empty_qrels_is_an_error(tmp_path, content):
    err = _error(read_qrels, _write(tmp_path, "qrels.txt", content))
    assert "no judgement" in err.problem


def _case(folder: Path) -> None:
    _write(folder, "og.qrels", "1 0 a 1\n1 0 b 1\n2 0 c 1\n")
    _write(folder, "ch.qrels", "1 0 a 1\n1 0 b 0\n2 0 c 1\n")
    _write(folder, "og.run", "1 Q0 a 1 2.0 s\n1 Q0 b 2 1.0 s\n2 Q0 c 1 1.0 s\n")
    _write(folder, "ch.run", "1 Q0 a 1 2.0 s\n1 Q0 b 2 1.0 s\n2 Q0 c 1 1.0 s\n")


@pytest.mark.parametrize("which", ["og.run", "ch.run"])
def test_metrics_run_sharing_no_query_with_the_qrels_is_an_error(tmp_path, which):
    _case(tmp_path)
    _write(tmp_path, which, "7 Q0 a 1 2.0 s\n8 Q0 b 1 1.0 s\n")
    result = _metrics(tmp_path, "--json")
    assert result.exit_code == 2, result.output
    text = result.output.replace("\n", "")
    assert which in text and "no query in common" in text


@pytest.mark.parametrize("which", ["og.run", "og.qrels", "ch.qrels"])
def test_metrics_empty_file_is_an_error(tmp_path, which):
    _case(tmp_path)
    _write(tmp_path, which, "")
    result = _metrics(tmp_path, "--json")
    assert result.exit_code == 2, result.output
    assert which in result.output.replace("\n", "")


def test_metrics_og_qrels_without_any_relevant_document_is_an_error(tmp_path):
    _case(tmp_path)
    _write(tmp_path, "og.qrels", "1 0 a 0\n1 0 b 0\n2 0 c 0\n")
    result = _metrics(tmp_path, "--json")
    assert result.exit_code == 2, result.output
    assert "og.qrels" in result.output.replace("\n", "") and "no relevant" in result.output.replace("\n", "")


# --- the shared case pmrr-missing-query: a query ranked in one run only is left out of p-MRR -----------------

PMRR_MISSING = {
    "run_og.txt": "q1 Q0 a 1 9 sys\nq1 Q0 c 2 8 sys\nq1 Q0 b 3 7 sys\n",
    "run_changed.txt": ("q1 Q0 a 1 9 sys\nq1 Q0 c 2 8 sys\nq1 Q0 b 3 7 sys\n"
                        "q2 Q0 x 1 9 sys\nq2 Q0 z 2 8 sys\nq2 Q0 w 3 7 sys\nq2 Q0 y 4 6 sys\n"),
    "qrels_og.txt": "q1 0 a 1\nq1 0 b 1\nq2 0 x 1\nq2 0 y 1\n",
    "qrels_changed.txt": "q1 0 a 1\nq1 0 b 0\nq2 0 x 1\nq2 0 y 0\n",
}


@pytest.mark.parametrize("swap", [False, True])
def test_case_pmrr_missing_query_is_left_out_with_one_warning(tmp_path, swap):
    for name, text in PMRR_MISSING.items():
        _write(tmp_path, name, text)
    og, ch = ("run_changed.txt", "run_og.txt") if swap else ("run_og.txt", "run_changed.txt")
    result = _metrics(tmp_path, "--json", "--per-query", og="qrels_og.txt", changed="qrels_changed.txt",
                      run_og=og, run_ch=ch)
    assert result.exit_code == 0, result.output
    data = _strict_loads(result.stdout)
    # q1: b at rank 3 in both runs -> 0; q2 is not scored (mteb: p-MRR 0.0 over q1 only), in either direction
    assert data["p-MRR"] == 0.0
    assert data["per_query"]["p-MRR"] == {"q1": 0.0}
    assert data["p-MRR_skipped"] == {"count": 1, "queries": ["q2"],
                                     "reason": "ranked in only one of the two runs, or in neither"}
    assert result.stderr.count("p-MRR leaves out 1 query") == 1


def test_p_mrr_per_query_skips_queries_missing_from_either_run_with_one_warning(caplog):
    changed = {"1": {"a"}, "2": {"b"}, "3": {"c"}, "4": {"d"}}
    og = {"1": {"a": 1.0, "x": 2.0}, "2": {"b": 1.0}}
    new = {"1": {"a": 2.0, "x": 1.0}, "3": {"c": 1.0}}
    with caplog.at_level(logging.WARNING):
        per_query = p_mrr_per_query(og, new, changed)
    # query 1: a falls from rank 2 to rank 1 -> RR_og/RR_new - 1 = 0.5 - 1
    assert per_query == {"1": -0.5}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "leaves out 3 queries" in warnings[0].getMessage()


# --- the shared case run-nan-score, and non-finite scores generally ------------------------------------------

NAN_ORDER1 = "q1 Q0 c 1 0.9 sys\nq1 Q0 a 2 nan sys\nq1 Q0 d 3 0.5 sys\nq1 Q0 b 4 NaN sys\n"
NAN_ORDER2 = "q1 Q0 b 1 NaN sys\nq1 Q0 d 2 0.5 sys\nq1 Q0 a 3 nan sys\nq1 Q0 c 4 0.9 sys\n"


@pytest.mark.parametrize(("name", "text", "line"), [("run_og_order1.txt", NAN_ORDER1, 2),
                                                    ("run_og_order2.txt", NAN_ORDER2, 1)])
def test_case_run_nan_score_is_refused_naming_file_and_line(tmp_path, name, text, line):
    _write(tmp_path, name, text)
    _write(tmp_path, "run_changed.txt", "q1 Q0 a 1 0.9 sys\nq1 Q0 b 2 0.8 sys\nq1 Q0 c 3 0.5 sys\nq1 Q0 d 4 0.1 sys\n")
    _write(tmp_path, "qrels_og.txt", "q1 0 a 1\nq1 0 b 1\nq1 0 c 0\nq1 0 d 0\n")
    _write(tmp_path, "qrels_changed.txt", "q1 0 a 1\nq1 0 b 0\nq1 0 c 0\nq1 0 d 0\n")
    result = _metrics(tmp_path, "--json", og="qrels_og.txt", changed="qrels_changed.txt", run_og=name,
                      run_ch="run_changed.txt")
    assert result.exit_code == 2, result.output
    text_out = result.output.replace("\n", "")
    assert f"{name}:{line}" in text_out and "is not a finite number" in text_out


@pytest.mark.parametrize("score", ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "-Infinity", "1e999"])
def test_non_finite_run_score_names_file_and_line(tmp_path, score):
    path = _write(tmp_path, "run.txt", f"1 Q0 a 1 2.0 s\n1 Q0 b 2 {score} s\n")
    err = _error(read_run, path)
    assert err.line == 2 and "is not a finite number" in err.problem


def test_write_run_refuses_non_finite_scores(tmp_path):
    with pytest.raises(FollowIRError, match="'1'.*'b'.*not a finite number"):
        write_run({"1": {"a": 1.0, "b": float("inf")}}, tmp_path / "run.txt")
    assert not (tmp_path / "run.txt").exists()


# --- non-UTF-8 bytes, byte-order marks ---------------------------------------------------------------------------

@pytest.mark.parametrize(("reader", "content"), [
    (read_run, b"1 Q0 a 1 2.0 s\n1 Q0 caf\xe9 2 1.0 s\n"),
    (read_qrels, b"1 0 a 1\n1 0 caf\xe9 1\n"),
    (read_topics, b"<top>\n<num> Number: 1\n<title> caf\xe9\n</top>\n"),
])
def test_non_utf8_bytes_name_file_and_line(tmp_path, reader, content):
    err = _error(reader, _write(tmp_path, "file.txt", content))
    assert err.line == 2 or (reader is read_topics and err.line == 3)
    assert "UTF-8" in err.problem and "UTF-8" in err.fix


def test_non_utf8_bytes_in_a_jsonl_table_name_file_and_line(tmp_path):
    path = _write(tmp_path, "corpus.jsonl", b'{"_id": "1", "text": "a"}\n{"_id": "2", "text": "caf\xe9"}\n')
    err = _error(lambda p: list(read_rows(p)), path)
    assert err.line == 2 and "UTF-8" in err.problem


def test_metrics_non_utf8_run_exits_2_with_file_and_line(tmp_path):
    _case(tmp_path)
    _write(tmp_path, "og.run", b"1 Q0 a 1 2.0 s\n1 Q0 \xff\xfe 2 1.0 s\n")
    result = _metrics(tmp_path)
    assert result.exit_code == 2
    assert "og.run:2" in result.output.replace("\n", "") and "UTF-8" in result.output


def test_byte_order_mark_is_not_part_of_the_first_id(tmp_path):
    run = read_run(_write(tmp_path, "run.txt", "\ufeff1 Q0 a 1 2.0 s\n"))
    qrels = read_qrels(_write(tmp_path, "qrels.txt", "\ufeff1 0 a 1\n"))
    assert list(run.scores) == ["1"] and list(qrels.judgements) == ["1"]


# --- ids must round-trip ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["doc 1", "doc\t1", "doc\xa01", "doc\u20281", "", " d"])
def test_write_run_and_qrels_refuse_ids_that_cannot_read_back(tmp_path, bad):
    with pytest.raises(FollowIRError, match="cannot be written to a TREC file"):
        write_run({"1": {bad: 1.0}}, tmp_path / "run.txt")
    with pytest.raises(FollowIRError, match="cannot be written to a TREC file"):
        write_qrels(Qrels({bad: {"a": 1}}), tmp_path / "qrels.txt")


def test_written_ids_and_tags_read_back_identically(tmp_path):
    ids = ["1", "001", "d-1_x.y", "caf\u00e9", "#7", "q/1:2"]
    run = {q: {d: float(i) for i, d in enumerate(ids)} for q in ids}
    write_run(run, tmp_path / "run.txt", tag="my system\tv2")
    back = read_run(tmp_path / "run.txt")
    assert back.to_dict() == run and back.name == "my_system_v2"
    write_qrels(Qrels({q: {d: 1 for d in ids} for q in ids}), tmp_path / "qrels.txt")
    assert read_qrels(tmp_path / "qrels.txt").to_dict() == {q: {d: 1 for d in ids} for q in ids}


def _original_task(root: Path, doc_id: str = "d1", qid: str = "1") -> Path:
    _write(root, "corpus.jsonl", json.dumps({"_id": doc_id, "text": "cartel cocaine"}) + "\n"
           + json.dumps({"_id": "d2", "text": "polio cases"}) + "\n")
    _write(root, "queries.jsonl", json.dumps({"_id": qid, "text": "crime", "instruction_og": "Name it.",
                                              "instruction_changed": "Name it and a country."}) + "\n")
    _write(root, "qrels_og/test.jsonl", json.dumps({"query-id": qid, "corpus-id": doc_id, "score": 1}) + "\n")
    _write(root, "qrels_changed/test.jsonl", json.dumps({"query-id": qid, "corpus-id": doc_id, "score": 0}) + "\n")
    return root


@pytest.mark.parametrize(("doc_id", "qid", "file"), [("d 1", "1", "corpus.jsonl"), ("d1", "q 1", "queries.jsonl"),
                                                     ("d1", "q\u00a01", "queries.jsonl")])
def test_task_ids_with_whitespace_are_refused_at_load_time(tmp_path, doc_id, qid, file):
    from followir.data import load_task

    root = _original_task(tmp_path, doc_id, qid)
    err = _error(lambda p: load_task(str(p)), root)
    assert Path(err.path) == root / file and err.line == 1
    assert "whitespace" in err.problem


def test_beir_ids_with_whitespace_are_refused_at_load_time(tmp_path):
    from followir.data.beir import read_beir_folder

    _write(tmp_path, "corpus.jsonl", '{"_id": "d1", "text": "a"}\n{"_id": "d 2", "text": "b"}\n')
    _write(tmp_path, "queries.jsonl", '{"_id": "1", "text": "q"}\n')
    _write(tmp_path, "qrels/test.tsv", "query-id\tcorpus-id\tscore\n1\td1\t1\n")
    err = _error(read_beir_folder, tmp_path)
    assert Path(err.path) == tmp_path / "corpus.jsonl" and err.line == 2


# --- readers must not drop or merge content ------------------------------------------------------------------

GOOD_TOPIC = "<top>\n<num> Number: 301\n<title> Crime\n<desc> Description:\nFind it.\n<narr> Narrative:\nAll.\n</top>\n"


@pytest.mark.parametrize(("text", "line", "words"), [
    ("<top>\n<num> Number: 301\n<title> Crime\n", 1, "no closing </top>"),
    ("<top>\n<num> Number: 301\n<title> Crime\n<top>\n<num> Number: 302\n</top>\n", 4, "before </top>"),
    ("stray words\n" + GOOD_TOPIC, 1, "outside"),
    (GOOD_TOPIC + "trailing words\n", 9, "outside"),
    ("<top>\nhello\n<num> Number: 301\n</top>\n", 2, "before the first field"),
    ("<top>\n<num> Number: 301\n<nar> Narrative: x\n</top>\n", 3, "unknown tag <nar>"),
    ("<top>\n<num> Number: 301\n<title> a\n<title> b\n</top>\n", 4, "second <title>"),
    ("<top>\n<num> Number: 301\n<title> a\n</desc>\n</top>\n", 4, "</desc>"),
    ("<top>\n<num> Number: 301\n<title> a</title> stray\n</top>\n", 3, "stray"),
    ("</top>\n" + GOOD_TOPIC, 1, "</top>"),
])
def test_sgml_topic_structure_problems_name_file_and_line(tmp_path, text, line, words):
    err = _error(read_topics, _write(tmp_path, "topics.txt", text))
    assert err.line == line, err
    assert words in str(err)


XML_TOPICS = """\
<?xml version="1.0" encoding="UTF-8"?>
<topics task="COVIDSearch 2020" batch="5">
  <topic number="1">
    <query>coronavirus origin</query>
    <question>what is the origin of COVID-19</question>
    <narrative>seeking range of information about the SARS-CoV-2 virus's origin &amp; evolution</narrative>
  </topic>
  <topic number="2">
    <query>coronavirus response to weather changes</query>
    <question>how does the coronavirus respond to changes in the weather</question>
    <narrative>seeking range of information about the SARS-CoV-2 virus viability in different weather/climate
      conditions as well as information related to transmission of the virus in different climate conditions</narrative>
  </topic>
</topics>
"""


def test_xml_topics_as_trec_covid_publishes_them(tmp_path):
    first, second = read_topics(_write(tmp_path, "topics-rnd5.xml", XML_TOPICS))
    assert (first.number, first.title, first.description) == ("1", "coronavirus origin",
                                                              "what is the origin of COVID-19")
    assert first.narrative == "seeking range of information about the SARS-CoV-2 virus's origin & evolution"
    assert second.number == "2"
    assert second.narrative.endswith("virus in different climate conditions")
    assert "\n" not in second.narrative and "  " not in second.narrative


@pytest.mark.parametrize(("text", "line", "words"), [
    (XML_TOPICS.replace("<question>what is", "<questoin>what is").replace("19</question>", "19</questoin>"), 5,
     "unknown element <questoin>"),
    (XML_TOPICS.replace(' number="2"', ""), 8, "number"),
    (XML_TOPICS.replace("</topic>\n  <topic number=\"2\">", "<topic number=\"2\">"), 7, "before </topic>"),
    (XML_TOPICS.replace(' number="2"', ' number="1"'), 8, "duplicate topic number 1"),
    (XML_TOPICS.replace("<query>coronavirus origin</query>", "<query>coronavirus origin</query>stray"), 4,
     "stray"),
])
def test_xml_topic_problems_name_file_and_line(tmp_path, text, line, words):
    err = _error(read_topics, _write(tmp_path, "topics.xml", text))
    assert err.line == line, err
    assert words in str(err)


def test_xml_topics_feed_the_narrative_reader(tmp_path):
    from followir.training.narratives import read_source

    _write(tmp_path, "topics.covid.xml", XML_TOPICS)
    pairs = read_source(str(tmp_path))
    assert [(p.id, p.query) for p in pairs] == [("covid:1", "coronavirus origin"),
                                                ("covid:2", "coronavirus response to weather changes")]
    assert pairs[0].instruction.startswith("seeking range of information")


def test_jsonl_duplicate_keys_are_refused(tmp_path):
    path = _write(tmp_path, "rows.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "2", "text": "b", "text": "c"}\n')
    err = _error(lambda p: list(read_rows(p)), path)
    assert err.line == 2 and "'text' twice" in err.problem


def test_tsv_duplicate_header_column_is_refused(tmp_path):
    path = _write(tmp_path, "qrels.tsv", "query-id\tcorpus-id\tscore\tscore\n1\td1\t1\t0\n")
    err = _error(lambda p: list(read_rows(p)), path)
    assert err.line == 1 and "'score' twice" in err.problem


def test_parquet_that_is_not_parquet_is_a_data_error(tmp_path):
    path = _write(tmp_path, "corpus.parquet", b"not parquet at all\n")
    err = _error(lambda p: list(read_rows(p)), path)
    assert "parquet" in err.problem


@pytest.mark.parametrize(("card", "words"), [
    ("configs: corpus\n", "'configs' is a str"),
    ("configs:\n- config_name: corpus\n  data_files:\n  - split: test\n", "no 'path'"),
    ("configs:\n- config_name: corpus\n  data_files: 3\n", "'data_files'"),
])
def test_dataset_card_problems_say_what_is_wrong(tmp_path, card, words):
    _write(tmp_path, "README.md", f"---\n{card}---\n")
    err = _error(lambda p: config_files(p, "corpus"), tmp_path)
    assert Path(err.path) == tmp_path / "README.md"
    assert words in err.problem


def test_mteb_layout_duplicate_query_row_is_refused(tmp_path):
    from followir.data import load_task

    _write(tmp_path, "corpus.jsonl", '{"_id": "d1", "text": "a"}\n')
    _write(tmp_path, "queries.jsonl", '{"_id": "1-og", "text": "q"}\n{"_id": "1-changed", "text": "q"}\n'
                                      '{"_id": "1-og", "text": "other q"}\n')
    _write(tmp_path, "instruction.jsonl", '{"query-id": "1-og", "instruction": "i"}\n'
                                          '{"query-id": "1-changed", "instruction": "j"}\n')
    _write(tmp_path, "default.jsonl", '{"query-id": "1-og", "corpus-id": "d1", "score": 1}\n')
    err = _error(lambda p: load_task(str(p)), tmp_path)
    assert Path(err.path) == tmp_path / "queries.jsonl" and err.line == 3


# --- strict JSON -------------------------------------------------------------------------------------------------

def test_undefined_values_are_null_with_a_reason(tmp_path):
    _case(tmp_path)
    _write(tmp_path, "ch.qrels", "1 0 a 0\n1 0 b 0\n2 0 c 0\n")
    result = _metrics(tmp_path, "--json", "--per-query")
    assert result.exit_code == 0, result.output
    data = _strict_loads(result.stdout)
    assert all(v is None for v in data["changed"].values())
    assert "no relevant document" in data["undefined"]["changed"]
    assert data["intervals"]["changed.map"] == {"mean": None, "low": None, "high": None, "level": 0.95}
    # every changed document fell out of relevance; og ranks a at 1 and b at 2, the changed run the same:
    # query 1 terms 0, 0; query 2 term 0
    assert data["p-MRR"] == 0.0


def test_scores_with_no_changed_document_have_null_p_mrr_with_a_reason():
    scores = score_followir({"1": {"a": 1}}, {"1": {"a": 1}}, {"1": {"a": 1.0}}, {"1": {"a": 1.0}},
                            {"1": frozenset()}, resamples=10)
    data = _strict_loads(json.dumps(scores.to_dict()))
    assert data["p-MRR"] is None and "no query has a changed document" in data["undefined"]["p-MRR"]
    assert data["og"]["map"] == 1.0


# --- bit-identical results across hash seeds ------------------------------------------------------------------


def _seed_case(folder: Path) -> None:
    docs = [f"d{i}" for i in range(12)]
    _write(folder, "og.qrels", "".join(f"1 0 {d} 1\n" for d in docs))
    _write(folder, "ch.qrels", "1 0 d0 1\n")
    _write(folder, "og.run", "".join(f"1 Q0 {d} {i + 1} {100 - i} s\n" for i, d in enumerate(docs)))
    order = [3, 7, 1, 11, 5, 9, 0, 2, 10, 4, 8, 6]
    _write(folder, "ch.run", "".join(f"1 Q0 d{j} {i + 1} {100 - i} s\n" for i, j in enumerate(order)))


def test_metrics_output_is_identical_under_different_hash_seeds(tmp_path):
    _seed_case(tmp_path)
    cmd = [sys.executable, "-m", "followir.cli", "metrics", "--json", "--per-query",
           "--qrels-og", "og.qrels", "--qrels-changed", "ch.qrels", "--run-og", "og.run", "--run-changed", "ch.run"]
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed, "COLUMNS": "200"})
        assert out.returncode == 0, out.stderr
        outputs.add(out.stdout)
    assert len(outputs) == 1


def _tiny_task(root: Path, changed_relevant: int = 1) -> Path:
    rows = {
        "corpus.jsonl": [{"_id": f"d{i}", "text": text} for i, text in enumerate(
            ["cartel cocaine exports", "polio cases in nigeria", "stock markets rose", "cocaine seized at port",
             "polio vaccine drive"])],
        "queries.jsonl": [
            {"_id": "1", "text": "cocaine cartel", "instruction_og": "Any cartel activity.",
             "instruction_changed": "Only seizures at ports."},
            {"_id": "2", "text": "polio", "instruction_og": "Any polio news.",
             "instruction_changed": "Only vaccine drives."},
        ],
        "qrels_og/test.jsonl": [{"query-id": "1", "corpus-id": "d0", "score": 1},
                                {"query-id": "1", "corpus-id": "d3", "score": 1},
                                {"query-id": "2", "corpus-id": "d1", "score": 1},
                                {"query-id": "2", "corpus-id": "d4", "score": 1}],
        "qrels_changed/test.jsonl": [{"query-id": "1", "corpus-id": "d0", "score": 0},
                                     {"query-id": "1", "corpus-id": "d3", "score": changed_relevant},
                                     {"query-id": "2", "corpus-id": "d1", "score": 0},
                                     {"query-id": "2", "corpus-id": "d4", "score": changed_relevant}],
    }
    for name, file_rows in rows.items():
        _write(root, name, "".join(json.dumps(r) + "\n" for r in file_rows))
    return root


def test_results_json_is_strict_with_reasons_when_changed_qrels_have_no_relevant_document(tmp_path):
    task = _tiny_task(tmp_path / "task", changed_relevant=0)
    result = runner.invoke(app, ["evaluate", "-m", "bm25", "-t", str(task), "-o", str(tmp_path / "out"),
                                 "--resamples", "20", "--json"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "results.json").read_text(encoding="utf-8")
    data = _strict_loads(text)
    scores = data["tasks"]["task"]["scores"]
    assert all(v is None for v in scores["changed"].values())
    assert "changed qrels have no relevant document" in scores["undefined"]["changed"]
    assert scores["p-MRR_skipped"]["count"] == 0
    _strict_loads(result.stdout)


def test_results_json_average_over_an_undefined_p_mrr_is_null_with_a_reason(tmp_path):
    task = _tiny_task(tmp_path / "task", changed_relevant=0)
    for name in ("qrels_og/test.jsonl", "qrels_changed/test.jsonl"):  # the same qrels: no changed document
        _write(task, name, (task / "qrels_og/test.jsonl").read_text(encoding="utf-8"))
    result = runner.invoke(app, ["evaluate", "-m", "bm25", "-t", str(task), "-o", str(tmp_path / "out"),
                                 "--resamples", "20"])
    assert result.exit_code == 0, result.output
    data = _strict_loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert data["tasks"]["task"]["scores"]["p-MRR"] is None
    assert data["average"]["p-MRR"] is None and data["average"]["score"] is not None
    assert "task: no query has a changed document" in data["undefined"]["average.p-MRR"]


def _results_without_timings(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("created", "timings", "machine"):
        data.pop(key, None)
    for task in data["tasks"].values():
        task.pop("timings", None)
    return data


def test_results_json_is_identical_under_different_hash_seeds(tmp_path):
    task = _tiny_task(tmp_path / "task")
    files = set()
    for seed in ("1", "2", "3"):
        out = tmp_path / f"out{seed}"
        done = subprocess.run([sys.executable, "-m", "followir.cli", "evaluate", "-m", "bm25", "-t", str(task),
                               "-o", str(out), "--resamples", "50"],
                              capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr
        files.add(json.dumps(_results_without_timings(out / "results.json"), sort_keys=True))
    assert len(files) == 1


def test_compare_results_without_per_query_scores_is_a_data_error(tmp_path):
    for name in ("a", "b"):
        _write(tmp_path / name, "results.json", json.dumps(
            {"model": {"name": name}, "tasks": {"t": {"scores": {"main_metric": "map", "p-MRR": 0.1}}}}))
    result = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 2, result.output
    assert "per_query" in result.output and "results.json" in result.output


def test_instructir_ids_with_whitespace_are_refused_at_load_time(tmp_path):
    from followir.analyses.instructir import read_corpus, read_instructions

    corpus = _write(tmp_path, "corpus.jsonl", '{"_id": "p1_1", "text": "a"}\n{"_id": "p 2_1", "text": "b"}\n')
    err = _error(read_corpus, corpus)
    assert err.line == 2 and "whitespace" in err.problem
    instructions = _write(tmp_path, "only_instruction_queries.jsonl",
                          '{"_id": "1 _1", "text": "I am a nurse.", "metadata": {"origin_query": "q"}}\n')
    err = _error(read_instructions, instructions)
    assert err.line == 1 and "whitespace" in err.problem


@pytest.mark.parametrize(("which", "named"), [("og.qrels", "ch.qrels"), ("ch.qrels", "ch.qrels")])
def test_metrics_qrels_of_other_topics_is_an_error(tmp_path, which, named):
    _case(tmp_path)
    _write(tmp_path, which, "7 0 a 1\n8 0 c 1\n")
    result = _metrics(tmp_path, "--json")
    assert result.exit_code == 2, result.output
    text = result.output.replace("\n", "")
    assert f"{named}: the" in text and "no query in common" in text and "og.qrels" in text


@pytest.mark.parametrize("file", ["corpus.jsonl", "queries.jsonl"])
def test_empty_corpus_or_queries_file_is_named(tmp_path, file):
    from followir.data import load_task

    root = _original_task(tmp_path)
    _write(root, file, "\n")
    err = _error(lambda p: load_task(str(p)), root)
    assert Path(err.path) == root / file and "holds no" in err.problem
