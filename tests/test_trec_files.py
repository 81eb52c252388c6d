"""TREC topic, qrels and run files: tiny hand-checked inline files, round trips, errors, real files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from followir.data import read_qrels, read_run, read_topics, write_qrels, write_run
from followir.errors import DataFormatError
from followir.records import Qrels, Run

ROBUST04_STYLE_TOPICS = """\
<top>

<num> Number: 301
<title> International Organized Crime

<desc> Description:
Identify organizations that participate in international criminal
activity.

<narr> Narrative:
A relevant document must as a minimum identify the organization and the
type of illegal activity.

</top>


<top>

<num> Number: 302
<title> Poliomyelitis and Post-Polio

<desc> Description:
Is the disease of Poliomyelitis (polio) under control in the world?

<narr> Narrative:
Relevant documents should contain data or outbreaks.
</top>
"""

# Core18 closes every field; TREC 1-3 topics carry extra fields (<dom>, <smry>, <con>) between ours.
CLOSED_TAG_TOPICS = """\
<top>
<num> Number: 321 </num>
<title>
Women in Parliaments
</title>
<desc> Description:
Pertinent documents reflect how women are represented.
</desc>
<narr> Narrative
Pertinent documents discuss the lack of representation by women.
</narr>
</top>
<top>
<head> Tipster Topic Description
<num> Number:  051
<dom> Domain:  International Economics
<title> Topic:  Airbus Subsidies
<desc> Description:
Document will discuss government assistance to Airbus Industrie.
<smry> Summary:
Document will discuss government assistance.
<narr> Narrative:
A relevant document will cite or discuss assistance to Airbus Industrie.
<con> Concept(s):
1. Airbus Industrie
</top>
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- topics -----------------------------------------------------------------------------------------------


def test_read_topics_robust04_style(tmp_path):
    topics = read_topics(_write(tmp_path, "topics.txt", ROBUST04_STYLE_TOPICS))
    assert [t.number for t in topics] == ["301", "302"]
    first = topics[0]
    assert first.title == "International Organized Crime"
    # "Description:" / "Narrative:" prefixes are removed and whitespace (newlines included) is collapsed.
    assert first.description == "Identify organizations that participate in international criminal activity."
    assert first.narrative == ("A relevant document must as a minimum identify the organization and the "
                               "type of illegal activity.")
    assert topics[1].title == "Poliomyelitis and Post-Polio"
    assert topics[1].description == "Is the disease of Poliomyelitis (polio) under control in the world?"
    assert topics[1].narrative == "Relevant documents should contain data or outbreaks."


def test_read_topics_closing_tags_and_extra_fields_do_not_leak(tmp_path):
    core18, adhoc = read_topics(_write(tmp_path, "topics.txt", CLOSED_TAG_TOPICS))
    assert core18.number == "321"
    assert core18.title == "Women in Parliaments"
    assert core18.description == "Pertinent documents reflect how women are represented."
    assert core18.narrative == "Pertinent documents discuss the lack of representation by women."
    assert adhoc.number == "051"
    assert adhoc.title == "Airbus Subsidies"
    assert adhoc.description == "Document will discuss government assistance to Airbus Industrie."
    assert adhoc.narrative == "A relevant document will cite or discuss assistance to Airbus Industrie."


def test_read_topics_duplicate_number_names_file_and_line(tmp_path):
    text = ROBUST04_STYLE_TOPICS + "\n<top>\n<num> Number: 301\n<title> Again\n</top>\n"
    path = _write(tmp_path, "topics.txt", text)
    with pytest.raises(DataFormatError) as info:
        read_topics(path)
    third_top_line = len(ROBUST04_STYLE_TOPICS.splitlines()) + 2  # after the blank line the "\n" starts
    assert text.splitlines()[third_top_line - 1] == "<top>"
    assert info.value.line == third_top_line
    assert str(path) in str(info.value)
    assert "duplicate topic number 301" in str(info.value)


def test_read_topics_without_top_blocks(tmp_path):
    path = _write(tmp_path, "topics.txt", "just some text\n")
    with pytest.raises(DataFormatError) as info:
        read_topics(path)
    assert info.value.line is None
    assert str(path) in str(info.value)


# --- qrels ------------------------------------------------------------------------------------------------


def test_read_qrels_hand_checked(tmp_path):
    path = _write(tmp_path, "qrels.txt", "1 0 d1 1\n1 0 d2 0\n\n1 0 d3 2\n2 0 d1 0\n2 0 d9 1\n")
    qrels = read_qrels(path)
    assert qrels.to_dict() == {"1": {"d1": 1, "d2": 0, "d3": 2}, "2": {"d1": 0, "d9": 1}}
    assert len(qrels) == 5
    assert qrels.query_ids() == ["1", "2"]
    assert qrels.relevant("1") == frozenset({"d1", "d3"})
    assert qrels.relevant("2") == frozenset({"d9"})
    assert all(isinstance(r, int) for docs in qrels.judgements.values() for r in docs.values())


def test_write_qrels_round_trip(tmp_path):
    qrels = Qrels({"301": {"FBIS3-1": 2, "FBIS3-2": 0}, "302": {"LA01": 1, "LA02": -1}})
    path = tmp_path / "out" / "qrels.txt"
    write_qrels(qrels, path)
    assert path.read_text().splitlines() == [
        "301 0 FBIS3-1 2", "301 0 FBIS3-2 0", "302 0 LA01 1", "302 0 LA02 -1"]
    assert read_qrels(path).to_dict() == qrels.to_dict()


def test_qrels_three_columns_names_file_and_line(tmp_path):
    # Line numbers count every physical line, blank ones included.
    path = _write(tmp_path, "qrels.txt", "1 0 d1 1\n\n1 d2 0\n")
    with pytest.raises(DataFormatError) as info:
        read_qrels(path)
    assert info.value.line == 3
    assert f"{path}:3" in str(info.value)
    assert "3 columns" in str(info.value)


@pytest.mark.parametrize("bad", ["x", "0.5"])
def test_qrels_non_integer_relevance_names_file_and_line(tmp_path, bad):
    path = _write(tmp_path, "qrels.txt", f"1 0 d1 1\n1 0 d2 {bad}\n")
    with pytest.raises(DataFormatError) as info:
        read_qrels(path)
    assert info.value.line == 2
    assert f"{path}:2" in str(info.value)
    assert repr(bad) in str(info.value)


def test_qrels_duplicate_judgement_names_file_and_line(tmp_path):
    path = _write(tmp_path, "qrels.txt", "1 0 d1 1\n1 0 d2 0\n2 0 d1 0\n1 0 d1 0\n")
    with pytest.raises(DataFormatError) as info:
        read_qrels(path)
    assert info.value.line == 4
    assert f"{path}:4" in str(info.value)
    assert "d1" in str(info.value)


# --- runs -------------------------------------------------------------------------------------------------


def test_read_run_hand_checked(tmp_path):
    # Ranks in the file are ignored: the scores decide.
    path = _write(tmp_path, "run.txt", "1 Q0 d1 1 0.5 bm25\n1 Q0 d2 2 1.5 bm25\n\n2 Q0 d7 1 -3 bm25\n")
    run = read_run(path)
    assert run.name == "bm25"
    assert run.to_dict() == {"1": {"d1": 0.5, "d2": 1.5}, "2": {"d7": -3.0}}
    assert run.ranking("1") == ["d2", "d1"]
    assert read_run(path, name="mine").name == "mine"


def test_write_run_ties_ranked_by_doc_id_descending(tmp_path):
    # d3 wins on score; d1, d10 and d2 tie and are ordered by id as strings, descending: d2 > d10 > d1.
    run = Run({"q1": {"d1": 1.0, "d3": 2.0, "d10": 1.0, "d2": 1.0}}, name="my run")
    path = tmp_path / "run.txt"
    write_run(run, path)
    assert path.read_text().splitlines() == [
        "q1 Q0 d3 1 2.0 my_run",
        "q1 Q0 d2 2 1.0 my_run",
        "q1 Q0 d10 3 1.0 my_run",
        "q1 Q0 d1 4 1.0 my_run",
    ]


def test_write_run_depth_and_plain_mapping(tmp_path):
    path = tmp_path / "run.txt"
    write_run({"q": {"a": 0.1, "b": 0.3, "c": 0.2}}, path, tag="t", depth=2)
    assert path.read_text().splitlines() == ["q Q0 b 1 0.3 t", "q Q0 c 2 0.2 t"]


def test_run_round_trip(tmp_path):
    scores = {"301": {"FBIS3-1": 0.1 + 0.2, "FBIS3-2": -1.25, "FBIS3-3": 7.0},
              "302": {"LA01": 1e-9, "LA02": 1e-9}}
    path = tmp_path / "run.txt"
    write_run(Run(scores, name="bm25"), path)
    back = read_run(path)
    assert back.name == "bm25"
    assert back.to_dict() == scores  # exact: floats are written with repr
    assert back.ranking("301") == ["FBIS3-3", "FBIS3-1", "FBIS3-2"]
    assert back.ranking("302") == ["LA02", "LA01"]


def test_run_bad_score_names_file_and_line(tmp_path):
    path = _write(tmp_path, "run.txt", "1 Q0 d1 1 0.5 bm25\n1 Q0 d2 2 high bm25\n")
    with pytest.raises(DataFormatError) as info:
        read_run(path)
    assert info.value.line == 2
    assert f"{path}:2" in str(info.value)
    assert "'high'" in str(info.value)


def test_run_wrong_column_count_names_file_and_line(tmp_path):
    path = _write(tmp_path, "run.txt", "1 Q0 d1 1 0.5\n")
    with pytest.raises(DataFormatError) as info:
        read_run(path)
    assert info.value.line == 1
    assert str(path) in str(info.value)


# --- real TREC files ----------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_robust04_topics(trec_data_dir):
    topics = read_topics(trec_data_dir / "topics.robust04.txt")
    assert len(topics) == 250
    numbers = [t.number for t in topics]
    assert set(numbers) == {str(n) for n in [*range(301, 451), *range(601, 701)]}
    assert all(t.narrative.strip() for t in topics)
    assert all(t.title and t.description for t in topics)
    assert topics[0].number == "301"
    assert topics[0].title == "International Organized Crime"


@pytest.mark.realdata
def test_robust04_qrels(trec_data_dir):
    qrels = read_qrels(trec_data_dir / "qrels.robust04.txt")
    assert len(qrels) == 311_410
    assert len(qrels.query_ids()) == 249
    counts = Counter(r for docs in qrels.judgements.values() for r in docs.values())
    assert counts == {0: 293_998, 1: 16_381, 2: 1_031}
    topics = {t.number for t in read_topics(trec_data_dir / "topics.robust04.txt")}
    assert topics - set(qrels.query_ids()) == {"672"}  # the one Robust04 topic without judgements
    assert set(qrels.query_ids()) <= topics


@pytest.mark.realdata
def test_core17_topics_and_qrels(trec_data_dir):
    topics = read_topics(trec_data_dir / "topics.core17.txt")
    assert len(topics) == 50
    assert all(t.narrative.strip() for t in topics)
    qrels = read_qrels(trec_data_dir / "qrels.core17.txt")
    assert len(qrels) == 30_030
    assert set(qrels.query_ids()) == {t.number for t in topics}


@pytest.mark.realdata
def test_core18_closed_tags(trec_data_dir):
    topics = read_topics(trec_data_dir / "topics.core18.txt")
    assert len(topics) == 50
    assert topics[0].number == "321"
    assert topics[0].title == "Women in Parliaments"
    assert all("<" not in t.number + t.title + t.description + t.narrative for t in topics)
    qrels = read_qrels(trec_data_dir / "qrels.core18.txt")
    assert set(qrels.query_ids()) == {t.number for t in topics}
