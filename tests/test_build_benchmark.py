"""Building a FollowIR benchmark (followir.construction, followir judge, followir publish): hand-checked pieces,
the followir-mini round trip, ir_datasets' own reader, and SciFact end to end, judged in a real browser."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import followir.benchmarks
from followir.cli import app
from followir.construction.candidates import fuse, maxp, select_candidates
from followir.construction.chunking import ChunkSettings, chunk_words
from followir.construction.collections import iter_documents
from followir.construction.judgements import changed_qrels
from followir.construction.narratives import accept, load_narratives, read_written, run_narratives
from followir.construction.topics import run_topics, select_topics
from followir.data.trec import TrecTopic
from followir.errors import DataFormatError
from followir.judge.agreement import cohen_kappa
from followir.judge.store import JudgementStore
from followir.records import Qrels

MINI = Path(followir.benchmarks.__file__).parent / "followir_mini"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SCIFACT = SHARED / "beir-scifact"
DATA = Path(__file__).parent / "data"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- small pieces, worked out by hand --------------------------------------------------------------------
def test_chunking_windows_overlap_and_cover_the_end():
    text = " ".join(f"w{i}" for i in range(10))
    assert chunk_words(text, ChunkSettings(4, 2)) == ["w0 w1 w2 w3", "w2 w3 w4 w5", "w4 w5 w6 w7", "w6 w7 w8 w9"]
    assert chunk_words(text, ChunkSettings(4, 0)) == ["w0 w1 w2 w3", "w4 w5 w6 w7", "w8 w9"]
    long = " ".join(str(i) for i in range(1000))
    passages = chunk_words(long)  # the paper's 400 words, 200 overlap: starts 0, 200, 400, 600
    assert [p.split()[0] for p in passages] == ["0", "200", "400", "600"] and passages[-1].split()[-1] == "999"
    with pytest.raises(ValueError, match="overlap"):
        ChunkSettings(10, 10)


def test_maxp_fusion_and_selection():
    assert maxp({"a#0": 0.2, "a#1": 0.9, "b#0": 0.5}) == {"a": (0.9, "a#1"), "b": (0.5, "b#0")}
    # round-robin: rank 1 of each model, then rank 2, skipping what is taken
    assert fuse([["x", "y", "z"], ["y", "w"]]) == ["x", "y", "w", "z"]
    # rrf: y = 1/62 + 1/61 beats x = 1/61
    assert fuse([["x", "y", "z"], ["y", "w"]], "rrf")[:2] == ["y", "x"]
    assert select_candidates(["r"], ["x", "r", "y"], 2) == ["r", "x"]
    assert select_candidates(["r1", "r2", "r3"], ["x"], 2) == ["r1", "r2", "r3"]  # relevant are always kept


def test_cohen_kappa_by_hand():
    # 10 documents: both relevant on 4, both not on 3, a yes / b no on 2, a no / b yes on 1.
    a = dict.fromkeys(range(4), 1) | dict.fromkeys(range(4, 7), 0) | {7: 1, 8: 1, 9: 0}
    b = dict.fromkeys(range(4), 1) | dict.fromkeys(range(4, 7), 0) | {7: 0, 8: 0, 9: 1}
    # p_o = 7/10; p_a(yes) = 6/10, p_b(yes) = 5/10; p_e = .3 + .2 = .5; kappa = (.7 - .5) / .5 = .4
    got = cohen_kappa(a, b)
    assert got.items == 10 and got.agreement == pytest.approx(0.7) and got.kappa == pytest.approx(0.4)
    assert math.isnan(cohen_kappa({1: 1}, {1: 1}).kappa)  # chance agreement 1: undefined


def test_changed_qrels_only_move_og_relevant_documents():
    og = Qrels({"1": {"a": 2, "b": 1, "c": 0, "d": 1}})
    got = changed_qrels(og, {("1", "a"): 1, ("1", "b"): 0, ("1", "d"): 1})
    assert got.to_dict() == {"1": {"a": 2, "b": 0, "c": 0, "d": 1}}


def topics_file(tmp_path: Path) -> tuple[Path, Path]:
    topics = tmp_path / "topics.txt"
    topics.write_text("<top>\n<num> Number: 1\n<title> ivory\n<desc> Description:\nivory trade\n<narr> Narrative:\n"
                      "Documents on the ivory trade are relevant.\n</top>\n<top>\n<num> Number: 2\n<title> banks\n"
                      "<desc> Description:\nbank shares\n<narr> Narrative:\nBank shares are relevant.\n</top>\n"
                      "<top>\n<num> Number: 3\n<title> none\n<desc> Description:\nx\n<narr> Narrative:\nY.\n</top>\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("1 0 d1 1\n1 0 d2 0\n2 0 d3 2\n3 0 d1 0\n")
    return topics, qrels


def test_topic_selection_needs_narrative_and_relevant_documents(tmp_path):
    topics, qrels = topics_file(tmp_path)
    chosen = run_topics(topics, qrels, tmp_path / "w", exclude={"2"})
    assert [t.number for t in chosen] == ["1"]  # 2 excluded, 3 has nothing relevant
    assert (tmp_path / "w" / "qrels.og.trec").read_text() == "1 0 d1 1\n1 0 d2 0\n"
    with pytest.raises(DataFormatError, match="not in the topic file"):
        select_topics([TrecTopic("1", "t", "d", "n")], Qrels({}), include={"9"})


def test_written_narratives_are_checked_with_file_and_line(tmp_path):
    topics = [TrecTopic("1", "ivory", "", "Ivory trade is relevant."), TrecTopic("2", "banks", "", "Banks.")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"topic": "1", "narrative": "Ivory trade is relevant. Only seizures."}\n'
                   '{"topic": "2", "narrative": "  banks. "}\n')
    with pytest.raises(DataFormatError) as e:
        read_written(bad, topics)
    assert f"{bad}:2" in str(e.value) and "is the og narrative" in str(e.value) and "constraint" in str(e.value)
    empty = tmp_path / "empty.tsv"
    empty.write_text("topic\tnarrative\n1\tIvory trade is relevant. Only seizures.\n2\t \n")
    with pytest.raises(DataFormatError, match=f"{empty}:3.*is empty"):
        read_written(empty, topics)
    good = tmp_path / "good.tsv"
    good.write_text("1\tIvory trade is relevant. Only seizures.\n2\tBanks. Only in Europe.\n")
    assert [n.narrative_changed for n in read_written(good, topics)] == [
        "Ivory trade is relevant. Only seizures.", "Banks. Only in Europe."]


class FakeChat:
    """A generator that adds a fixed exclusion to the narrative in the prompt."""

    name = "fake"

    def describe(self):
        return {"name": "fake"}

    def complete_many(self, conversations, options=None, progress=None):
        self.prompts = [c[-1]["content"] for c in conversations]
        return [p.split("Narrative: ", 1)[1].split("\n", 1)[0] + " Reports from Asia are not relevant."
                for p in self.prompts]


def test_drafted_narratives_wait_for_a_person(tmp_path):
    topics, qrels = topics_file(tmp_path)
    work = tmp_path / "w"
    run_topics(topics, qrels, work)
    chat = FakeChat()
    drafts = run_narratives(work, chat=chat)
    assert [n.status for n in drafts] == ["draft", "draft"]
    assert "about half" in chat.prompts[0] and "narrow" in chat.prompts[0]
    assert drafts[0].narrative_changed == \
        "Documents on the ivory trade are relevant. Reports from Asia are not relevant."
    with pytest.raises(DataFormatError, match="still a draft.*--accept 1"):
        load_narratives(work)
    assert accept(work, ["1"]) == ["1"]
    with pytest.raises(DataFormatError, match="topic 2 is still a draft"):
        load_narratives(work)
    assert accept(work) == ["2"] and [n.status for n in load_narratives(work)] == ["accepted", "accepted"]


def test_judgement_store_saves_each_judgement_and_adjudicates(tmp_path):
    store = JudgementStore(tmp_path / "j.sqlite")
    store.save("1", "a", "ann", True, "clear")
    store.save("1", "a", "bob", False)
    store.save("1", "b", "ann", False)
    store.save("1", "b", "bob", False)
    final, disputed = store.final_labels()
    assert final == {("1", "b"): 0} and disputed == [("1", "a")]
    store.adjudicate("1", "a", "carol", True)
    assert store.final_labels() == ({("1", "a"): 1, ("1", "b"): 0}, [])
    # a second process sees it all (each save was committed at once)
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        assert db.execute("SELECT assessor, relevant, note FROM judgements WHERE doc='a' ORDER BY assessor"
                          ).fetchall() == [("ann", 1, "clear"), ("bob", 0, "")]
    assert store.pairwise_kappa()[("ann", "bob")].agreement == pytest.approx(0.5)


# -- collections -------------------------------------------------------------------------------------------
def test_sgml_jsonl_and_parquet_collections_stream(tmp_path):
    sgml = tmp_path / "docs" / "LA0101"
    sgml.parent.mkdir()
    sgml.write_text("<DOC>\n<DOCNO> LA1 </DOCNO>\n<HEADLINE> Ivory &amp; law </HEADLINE>\n<TEXT>\n<P>Ivory ban.</P>"
                    "\n</TEXT>\n</DOC>\n<DOC>\n<DOCNO>LA2</DOCNO>\n<TEXT>Second.</TEXT>\n</DOC>\n")
    docs = list(iter_documents(sgml.parent))
    assert [(d.id, d.title, d.text) for d in docs] == [("LA1", "Ivory & law", "Ivory ban."), ("LA2", "", "Second.")]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"_id": ["p1", "p2"], "text": ["one", "two"]}), tmp_path / "c.parquet", row_group_size=1)
    assert [d.id for d in iter_documents(tmp_path / "c.parquet")] == ["p1", "p2"]
    stream = iter_documents(MINI / "corpus.jsonl")
    assert next(stream).id == "901-01"  # a generator: nothing is read ahead
    broken = tmp_path / "broken.sgml"
    broken.write_text("<DOC>\n<DOCNO>X</DOCNO>\n<TEXT>never closed\n")
    with pytest.raises(DataFormatError, match="never closed"):
        list(iter_documents(broken))


def test_trec_sgml_collection_through_ir_datasets_own_reader(tmp_path):
    pytest.importorskip("ir_datasets")
    # the layout ir_datasets expects for disks45 (datasets/disks45.py): $IR_DATASETS_HOME/disks45/corpus/ with
    # files matching **/FBIS/FB*, **/FR94/??/FR*, **/FT/*/FT*, **/LATIMES/LA*, exactly 2,295 of them
    base = tmp_path / "irds" / "disks45" / "corpus" / "NEWS_data"

    def doc(no, head, text, tag="HEADLINE"):
        return f"<DOC>\n<DOCNO> {no} </DOCNO>\n<{tag}> {head} </{tag}>\n<TEXT>\n{text}\n</TEXT>\n</DOC>\n"

    files = {"FBIS/FB396001": doc("FBIS3-1", "Ivory seized", "Customs seized two tonnes of ivory.", "H3"),
             "LATIMES/LA010189": doc("LA010189-0001", "Ivory ban", "The ivory ban was debated."),
             "FR94/01/FR940104": doc("FR940104-0-00001", "Rule", "A rule on ivory imports.", "DOCTITLE")}
    files.update({f"FT/FT999/FT999_{i}": doc(f"FT999-{i}", "filler", f"filler {i}") for i in range(2292)})
    for rel, text in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(text)
    # ir_datasets fixes its home folder when imported: read in a fresh process with IR_DATASETS_HOME set
    import subprocess
    import sys

    code = ("import json; from followir.construction.collections import iter_documents; "
            "docs = iter_documents('irds:disks45/nocr/trec-robust-2004'); "
            "print(json.dumps([[d.id, d.title, d.text] for d in docs]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "IR_DATASETS_HOME": str(tmp_path / "irds")})
    assert done.returncode == 0, done.stderr[-2000:]
    docs = {d[0]: d for d in json.loads(done.stdout)}
    assert len(docs) == 2295
    assert docs["FBIS3-1"] == ["FBIS3-1", "Ivory seized", "Customs seized two tonnes of ivory."]
    assert docs["LA010189-0001"][2] == "The ivory ban was debated."


# -- followir-mini round trip ------------------------------------------------------------------------------
def mini_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    queries = rows(MINI / "queries.jsonl")
    (folder / "topics.txt").write_text("".join(
        f"<top>\n<num> Number: {q['_id']}\n<title> {q['text']}\n<desc> Description:\n{q['text']}\n<narr> Narrative:"
        f"\n{q['instruction_og']}\n</top>\n\n" for q in queries))
    og = rows(MINI / "qrels_og" / "test.jsonl")
    (folder / "qrels.txt").write_text("".join(f"{r['query-id']} 0 {r['corpus-id']} {r['score']}\n" for r in og))
    (folder / "changed.jsonl").write_text("".join(
        json.dumps({"topic": q["_id"], "narrative": q["instruction_changed"]}) + "\n" for q in queries))
    relevant = {(r["query-id"], r["corpus-id"]) for r in og if r["score"] > 0}
    (folder / "judged.jsonl").write_text("".join(
        json.dumps({"topic": r["query-id"], "doc": r["corpus-id"], "relevance": r["score"]}) + "\n"
        for r in rows(MINI / "qrels_changed" / "test.jsonl") if (r["query-id"], r["corpus-id"]) in relevant))
    return {name: folder / f for name, f in (("topics", "topics.txt"), ("qrels", "qrels.txt"),
                                                ("narratives", "changed.jsonl"), ("judgements", "judged.jsonl"))}


def test_followir_mini_round_trip(tmp_path):
    given = mini_inputs(tmp_path / "in")
    out, work = tmp_path / "out", tmp_path / "work"
    args = ["build-benchmark", "--work", str(work), "-o", str(out), "--collection", str(MINI / "corpus.jsonl"),
            "--topics", str(given["topics"]), "--qrels", str(given["qrels"]), "--narratives",
            str(given["narratives"]), "--judgements", str(given["judgements"]), "--depth", "30",
            "--passage-depth", "200", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    key = lambda r: (r["query-id"], r["corpus-id"], r["score"])  # noqa: E731
    for variant in ("og", "changed"):  # the qrels come back exactly
        assert sorted(map(key, rows(out / f"qrels_{variant}" / "test.jsonl"))) == \
            sorted(map(key, rows(MINI / f"qrels_{variant}" / "test.jsonl")))
    task_mini, task_built = followir.load_task("followir-mini"), followir.load_task(str(out))
    assert dict(task_built.changed_documents) == dict(task_mini.changed_documents)
    assert task_built.queries == tuple(followir.records.Query(q.id, q.text, q.instruction_og, q.instruction_changed)
                                       for q in task_mini.queries)
    mteb = followir.load_task(str(out / "mteb"), layout="mteb")
    assert dict(mteb.changed_documents) == dict(task_mini.changed_documents)
    # candidates differ: the pool (BM25 over the whole collection) takes the 30 best per topic, not the topic's own
    # judged passages; every judged-relevant passage is a candidate all the same
    for q in task_mini.queries:
        assert task_mini.qrels_og.relevant(q.id) <= set(task_built.candidates[q.id])
        assert len(task_built.candidates[q.id]) == 30
    report = json.loads((out / "validation.json").read_text())
    assert report["ok"] and report["statistics"]["topics"] == 14
    assert report["statistics"]["relevant_og_per_topic"] == pytest.approx(181 / 14)
    assert report["statistics"]["relevant_changed_per_topic"] == pytest.approx(106 / 14)
    assert "| before (og) | 14 |" in (out / "README.md").read_text()
    # resumable: a second run does every step from its files and writes the same benchmark
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "done already" in again.output
    assert rows(out / "top_ranked.jsonl") == [{"qid": q, "pid": d} for q, ds in task_built.candidates.items()
                                              for d in ds]


def test_publish_dry_run_and_upload_call(tmp_path, monkeypatch):
    given = mini_inputs(tmp_path / "in")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "build-benchmark", "--work", str(tmp_path / "w"), "-o", str(out), "--collection", str(MINI / "corpus.jsonl"),
        "--topics", str(given["topics"]), "--qrels", str(given["qrels"]), "--narratives", str(given["narratives"]),
        "--judgements", str(given["judgements"]), "--depth", "20", "--passage-depth", "50"])
    assert result.exit_code == 0, result.output
    dry = CliRunner().invoke(app, ["publish", str(out), "--repo", "me/mini-followir", "--dry-run"])
    assert dry.exit_code == 0
    listed = dry.stdout.split()
    assert listed == ["README.md", "changed_documents.jsonl", "corpus.jsonl", "qrels_changed/test.jsonl",
                      "qrels_og/test.jsonl", "queries.jsonl", "top_ranked.jsonl", "validation.json"]
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, *a, **k: calls.append(("create", a, k)))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda self, **k: calls.append(("upload", k)))
    done = CliRunner().invoke(app, ["publish", str(out), "--repo", "me/mini-followir", "--layout", "mteb"])
    assert done.exit_code == 0, done.output
    assert calls[0] == ("create", ("me/mini-followir",), {"repo_type": "dataset", "private": False, "exist_ok": True})
    upload = calls[1][1]
    assert upload["folder_path"] == str(out / "mteb") and upload["repo_id"] == "me/mini-followir"
    assert upload["repo_type"] == "dataset" and "qrel_diff.jsonl" in upload["allow_patterns"]
    bad = CliRunner().invoke(app, ["publish", str(tmp_path / "in"), "--repo", "me/x", "--dry-run"])
    assert bad.exit_code == 2 and "not a built benchmark" in bad.output


# -- SciFact end to end, judged through the page in headless Chromium -------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def scifact_inputs(folder: Path) -> tuple[list[dict], dict[str, Path]]:
    plan = rows(DATA / "scifact_followir.jsonl")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "topics.txt").write_text("".join(
        f"<top>\n<num> Number: {p['topic']}\n<title> {p['claim']}\n<desc> Description:\n{p['claim']}\n"
        f"<narr> Narrative:\n{p['narrative_og']}\n</top>\n\n" for p in plan))
    wanted = {p["topic"] for p in plan}
    qrels = [line.split() for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    (folder / "qrels.txt").write_text("".join(f"{q} 0 {d} {s}\n" for q, d, s in qrels if q in wanted))
    (folder / "changed.jsonl").write_text("".join(
        json.dumps({"topic": p["topic"], "narrative": p["narrative_changed"]}) + "\n" for p in plan))
    return plan, {"topics": folder / "topics.txt", "qrels": folder / "qrels.txt",
                  "narratives": folder / "changed.jsonl"}


def judge_in_browser(base_url: str, assessor: str, plan: list[dict]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    short = Path(tempfile.mkdtemp(prefix="chr-", dir="/tmp" if os.access("/tmp", os.W_OK) else None))
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"],
                                        env={**os.environ, "TMPDIR": str(short)})
            page = browser.new_page()
            page.goto(base_url)
            page.fill("#assessor", assessor)
            page.click("#start")
            for topic in plan:
                page.click(f"#topic-{topic['topic']}")
                assert "<del>" not in page.inner_html("#og")  # the change only adds words
                assert page.inner_text("#changed ins") in topic["narrative_changed"]
                labels = topic["changed_judgements"]
                for i in range(len(labels)):
                    doc = page.get_attribute("#document", "data-doc")
                    assert page.inner_text("#progress").startswith(f"{i} judged")
                    if i == 0:  # a note, then Esc leaves the field and the keys judge again
                        page.fill("#note", "read in full")
                        page.press("#note", "Escape")
                    with page.expect_navigation():
                        page.keyboard.press("r" if labels[doc] else "n")
                assert page.is_visible("#done")
                page.goto(f"{base_url}?assessor={assessor}")
            browser.close()
    finally:
        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_scifact_built_judged_in_the_browser_and_evaluated(tmp_path, progress):
    if not SCIFACT.is_dir():
        pytest.skip(f"BEIR SciFact not found at {SCIFACT}")
    pytest.importorskip("flask")
    plan, given = scifact_inputs(tmp_path / "in")
    work, out = tmp_path / "work", tmp_path / "out"
    # the 30 og-relevant abstracts and the first 970 others of SciFact's 5,183: all-MiniLM encodes the whole
    # collection to pool it, and 1,000 abstracts keep that to a minute on two cores
    relevant = {d for p in plan for d in p["changed_judgements"]}
    lines = (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    others = [line for line in lines if json.loads(line)["_id"] not in relevant][:970]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join([line for line in lines if json.loads(line)["_id"] in relevant] + others) + "\n")
    corpus = str(corpus)
    runner = CliRunner()
    for args in (["build-topics", str(work), "--topics", str(given["topics"]), "--qrels", str(given["qrels"])],
                 ["build-narratives", str(work), "--narratives", str(given["narratives"])],
                 ["build-judging", str(work), "--collection", corpus]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert len(rows(work / "judging.jsonl")) == 30  # only the og-relevant abstracts are re-judged
    refused = runner.invoke(app, ["build-judgements", str(work)])
    assert refused.exit_code == 2 and "followir judge" in refused.output

    import logging

    from followir.judge.app import Judging, create_app, make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the test output
    server = make_server(create_app(Judging(work, work / "judgements.sqlite")), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        progress("judging 30 abstracts in Chromium")
        judge_in_browser(f"http://127.0.0.1:{server.server_port}/", "Ada Assessor", plan)
    finally:
        server.shutdown()
    with sqlite3.connect(work / "judgements.sqlite") as db:
        stored = db.execute("SELECT topic, doc, assessor, relevant, note, time FROM judgements").fetchall()
    expected = {(p["topic"], d): v for p in plan for d, v in p["changed_judgements"].items()}
    assert {(t, d): r for t, d, _, r, _, _ in stored} == expected
    assert {a for _, _, a, _, _, _ in stored} == {"Ada Assessor"} and all(tm for *_, tm in stored)
    assert sorted(n for *_, n, _ in stored if n) == ["read in full"] * 8

    result = runner.invoke(app, ["build-judgements", str(work)])
    assert result.exit_code == 0 and "17 still relevant, 13 no longer relevant" in result.output
    progress("pooling with bm25 and all-MiniLM-L6-v2")
    result = runner.invoke(app, ["build-candidates", str(work), "--collection", corpus, "-m", "bm25",
                                 "-m", "all-minilm-l6-v2", "--depth", "100", "--passage-depth", "300"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["build-output", str(work), "-o", str(out), "--name", "scifact-followir", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["statistics"]
    assert stats["topics"] == 8 and stats["relevant_og_per_topic"] == 30 / 8
    assert stats["relevant_changed_per_topic"] == 17 / 8 and stats["changed_per_topic"] == 13 / 8
    assert stats["judged_per_topic"] == 30 / 8 and stats["candidates_per_topic"] == 100
    assert stats["query_words"] == pytest.approx(sum(len(p["claim"].split()) for p in plan) / 8)

    from followir.evaluation import evaluate

    task = followir.load_task(str(out))
    scores = {}
    for name in ("bm25", "all-minilm-l6-v2"):
        progress(f"evaluating {name}")
        result = evaluate(followir.load_model(name), [task], output_dir=tmp_path / name).results[0].scores
        scores[name] = (result.main_score, result.p_mrr)
        assert 0 < result.main_score <= 1 and -1 <= result.p_mrr <= 1
    progress(f"MAP@1000 and p-MRR: {scores}; Table 1: {stats}")


def test_judge_without_flask_names_the_install_line(tmp_path, monkeypatch):
    import sys

    from followir.errors import MissingDependencyError
    from followir.judge.app import create_app

    monkeypatch.setitem(sys.modules, "flask", None)  # as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'followir\[judge\]'"):
        create_app(None)


def judging_work(tmp_path: Path) -> Path:
    topics, qrels = topics_file(tmp_path)
    work = tmp_path / "w"
    run_topics(topics, qrels, work)
    narratives = tmp_path / "changed.jsonl"
    narratives.write_text('{"topic": "1", "narrative": "Documents on the ivory trade in Africa are relevant."}\n'
                          '{"topic": "2", "narrative": "Bank shares are relevant. Only European banks."}\n')
    run_narratives(work, written=narratives)
    collection = tmp_path / "docs.jsonl"
    collection.write_text('{"_id": "d1", "text": "Ivory trade in Kenya."}\n{"_id": "d3", "text": "Bank shares."}\n')
    from followir.construction.judgements import prepare_judging

    assert prepare_judging(work, collection) == (2, [])
    return work


def test_agreement_page_adjudication_and_prejudging(tmp_path):
    pytest.importorskip("flask")
    from followir.construction.judgements import run_judgements
    from followir.judge.app import Judging, create_app, word_diff
    from followir.judge.prejudge import prejudge

    assert word_diff("on the trade", "on the ivory trade") == ("on the trade", "on the <ins>ivory</ins> trade")
    assert word_diff("a <b>", "a c") == ("a <del>&lt;b&gt;</del>", "a <ins>c</ins>")
    work = judging_work(tmp_path)
    judging = Judging(work, work / "judgements.sqlite")
    client = create_app(judging, show_prejudge=True).test_client()
    assert b"Your name (required)" in client.get("/").data
    assert client.get("/topic/1").status_code == 302  # no name, no judging
    page = client.get("/topic/1?assessor=ann").data.decode()
    assert 'data-doc="d1"' in page or "data-doc='d1'" in page
    assert "<ins>in Africa</ins>" in page
    for who, value in (("ann", "1"), ("bob", "0")):
        done = client.post("/judge", data={"assessor": who, "topic": "1", "doc": "d1", "relevant": value})
        assert done.status_code == 303
    unknown = client.post("/judge", data={"assessor": "ann", "topic": "1", "doc": "zz", "relevant": "1"})
    assert unknown.status_code == 400
    client.post("/judge", data={"assessor": "ann", "topic": "2", "doc": "d3", "relevant": "1"})
    client.post("/judge", data={"assessor": "bob", "topic": "2", "doc": "d3", "relevant": "1", "note": "sure"})
    agreement = client.get("/agreement?assessor=carol").data.decode()
    assert agreement.count("class='disagreement'") == 1 and "ann: relevant, bob: not relevant" in agreement
    with pytest.raises(DataFormatError, match="1 document has assessors who disagree"):
        run_judgements(work)
    client.post("/adjudicate", data={"assessor": "carol", "topic": "1", "doc": "d1", "relevant": "0"})
    assert run_judgements(work) == {("1", "d1"): 0, ("2", "d3"): 1}
    # kappa between ann and bob: p_o = 1/2, p(ann yes) = 1, so p_e = p(bob yes) = 1/2 and kappa = 0
    assert judging.store.pairwise_kappa()[("ann", "bob")].kappa == pytest.approx(0.0)

    class YesNo:  # a deterministic stand-in for a yes/no reranker: p(relevant) 0.9 for d1, 0.8 for d3
        name = "fake-monot5"

        def describe(self):
            return {"family": "seq2seq"}

        def rerank(self, requests, corpus, progress=None):
            assert [r.instruction for r in requests][0].endswith("in Africa are relevant.")
            return [{d: {"d1": 0.9, "d3": 0.8}[d] for d in r.candidates} for r in requests]

    assert prejudge(judging.store, judging.items, judging.narratives, judging.topics, YesNo()) == 2
    got = judging.store.model_agreement()["fake-monot5"]  # says yes to d1 (people: no) and d3 (people: yes)
    assert got.items == 2 and got.agreement == pytest.approx(0.5)
    assert "show the model" in client.get("/topic/1?assessor=dan").data.decode()
    assert "p(relevant) = 0.90" in client.get("/topic/1?assessor=dan&hint=1").data.decode()
    assert "p(relevant)" not in create_app(judging).test_client().get("/topic/1?assessor=dan&hint=1").data.decode()


def test_overlap_shares_some_documents_and_splits_the_rest(tmp_path):
    from followir.judge.store import in_overlap

    shared = [d for d in range(1000) if in_overlap("1", str(d), 0.2)]
    assert 150 < len(shared) < 250  # about a fifth, fixed by the hash
    work = judging_work(tmp_path)
    from followir.judge.app import Judging

    judging = Judging(work, work / "j.sqlite", overlap=0.0)
    assert [i.doc for i in judging.queue("1", "ann")[0]] == ["d1"]
    judging.store.save("1", "d1", "ann", True, narrative=judging.current["1"])
    assert judging.queue("1", "bob") == ([], 0)  # no overlap: ann took it
    assert [i.doc for i in Judging(work, work / "j.sqlite", overlap=1.0).queue("1", "bob")[0]] == ["d1"]


def test_judge_command_serves_on_localhost(tmp_path):
    pytest.importorskip("flask")
    import re
    import subprocess
    import sys
    import urllib.request

    work = judging_work(tmp_path)
    server = subprocess.Popen([sys.executable, "-c", "from followir.cli import main; main()", "judge", str(work),
                               "--port", "0"], stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "300"})
    try:
        line = ""
        while "judging page" not in line:
            line = server.stderr.readline()
            assert line, "the server stopped before it said where it listens"
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        page = urllib.request.urlopen(url + "?assessor=ann", timeout=30).read().decode()
        assert "topic-1" in page and "0 / 1" in page
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_pool_models_get_the_ray_setting_bm25_none():
    pytest.importorskip("sentence_transformers")
    from followir.cli.construction import _model_loader

    load = _model_loader(None, None, None, "ray://head:10001")
    assert load("all-minilm-l6-v2").ray.address == "ray://head:10001"  # the encoders' Ray path, not started here
    assert type(load("bm25")).__name__ == "BM25"
    with pytest.raises(ValueError, match="cannot search a whole collection"):
        load("monot5-base")


# -- resuming: build.json, stale judgements, interrupted re-chunking and output ----------------------------------
def test_build_reruns_a_step_whose_settings_or_inputs_changed_and_every_later_one(tmp_path, monkeypatch):
    given = mini_inputs(tmp_path / "in")
    out, work = tmp_path / "out", tmp_path / "work"
    base = ["build-benchmark", "--work", str(work), "-o", str(out), "--collection", str(MINI / "corpus.jsonl"),
            "--topics", str(given["topics"]), "--qrels", str(given["qrels"]), "--narratives",
            str(given["narratives"]), "--judgements", str(given["judgements"]), "--passage-depth", "50"]

    def build(*extra):
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    def stamps():
        names = ("topics.jsonl", "narratives.jsonl", "judging.jsonl", "judgements.jsonl", "candidates.jsonl")
        return {n: (work / n).stat().st_mtime_ns for n in names}

    def per_topic(path):
        counts: dict[str, int] = {}
        for r in rows(path):
            counts[r.get("topic", r.get("qid"))] = counts.get(r.get("topic", r.get("qid")), 0) + 1
        return set(counts.values())

    build("--depth", "20")
    recorded = json.loads((work / "build.json").read_text())["steps"]
    assert set(recorded) == {"topics", "narratives", "judging", "judgements", "candidates", "output"}
    assert recorded["candidates"]["settings"]["pool"]["depth"] == 20
    first = stamps()
    said = build("--depth", "20")  # the same settings: every step from its files
    assert "candidates: done already" in said and "running" not in said.replace("output: running", "")
    assert stamps() == first
    said = build("--depth", "25")  # a pool setting changed: candidates and output run again, nothing before
    assert "candidates: running again (settings changed: pool)" in said
    assert "judgements: done already" in said
    after = stamps()
    assert after["candidates.jsonl"] != first["candidates.jsonl"]
    assert {n: after[n] for n in first if n != "candidates.jsonl"} == {n: first[n] for n in first
                                                                      if n != "candidates.jsonl"}
    assert per_topic(work / "candidates.jsonl") == {25} and per_topic(out / "top_ranked.jsonl") == {25}
    said = build("--depth", "25", "--redo", "narratives")  # --redo: that step and every one after it
    assert "topics: done already" in said and "narratives: running again (--redo)" in said
    for step in ("judging", "judgements", "candidates"):
        assert f"{step}: running again (an earlier step (narratives) ran again)" in said
    redone = stamps()
    assert redone["topics.jsonl"] == after["topics.jsonl"]
    assert all(redone[n] != after[n] for n in redone if n != "topics.jsonl")
    # a changed input file: narratives (one changed narrative edited) and every step after them
    lines = given["narratives"].read_text().splitlines()
    first_row = json.loads(lines[0])
    lines[0] = json.dumps({**first_row, "narrative": first_row["narrative"] + " Only reports from 1990 on."})
    given["narratives"].write_text("\n".join(lines) + "\n")
    said = build("--depth", "25")
    assert "narratives: running again (inputs changed: --narratives)" in said
    assert "candidates: running again" in said
    assert rows(out / "queries.jsonl")[0]["instruction_changed"].endswith("Only reports from 1990 on.")
    # a run that fails half way (the search fails) leaves the steps it would redo marked: the next run, even with
    # the old settings, redoes them
    import followir.construction.candidates as candidates

    def failing(*args, **kwargs):
        raise ValueError("the search failed")

    monkeypatch.setattr(candidates, "_passage_run", failing)
    failed = CliRunner().invoke(app, [*base, "--depth", "25", "--passage-depth", "40"])
    assert failed.exit_code != 0 and "the search failed" in failed.output
    monkeypatch.undo()
    assert "redo" in json.loads((work / "build.json").read_text())["steps"]["candidates"]
    said = build("--depth", "25")
    assert "candidates: running again (an earlier run that redoes it did not finish" in said


def test_judgements_against_an_older_changed_narrative_do_not_count(tmp_path):
    pytest.importorskip("flask")
    from followir.construction.judgements import run_judgements
    from followir.judge.app import Judging, create_app

    work = judging_work(tmp_path)
    db = work / "judgements.sqlite"
    client = create_app(Judging(work, db)).test_client()
    for topic, doc in (("1", "d1"), ("2", "d3")):
        client.post("/judge", data={"assessor": "ann", "topic": topic, "doc": doc, "relevant": "1"})
    assert run_judgements(work) == {("1", "d1"): 1, ("2", "d3"): 1}
    # topic 1's changed narrative is rewritten: ann's judgement of d1 was made against the old one
    newer = tmp_path / "newer.jsonl"
    newer.write_text('{"topic": "1", "narrative": "Documents on the ivory trade in Africa are relevant. Only '
                     'documents that name a country other than Kenya."}\n'
                     '{"topic": "2", "narrative": "Bank shares are relevant. Only European banks."}\n')
    run_narratives(work, written=newer)
    judging = Judging(work, db)
    assert [i.doc for i in judging.queue("1", "ann")[0]] == ["d1"]  # asked again
    assert judging.queue("2", "ann") == ([], 1)  # topic 2's narrative did not change
    with pytest.raises(DataFormatError, match="1 of 2 og-relevant documents has no changed judgement"):
        run_judgements(work)
    client = create_app(judging).test_client()
    assert "0 / 1" in client.get("/?assessor=ann").data.decode()
    client.post("/judge", data={"assessor": "ann", "topic": "1", "doc": "d1", "relevant": "0"})
    assert run_judgements(work) == {("1", "d1"): 0, ("2", "d3"): 1}
    with sqlite3.connect(db) as con:  # the old judgement is kept, for the record
        kept = con.execute("SELECT relevant, narrative FROM judgements WHERE topic='1' AND doc='d1' "
                           "ORDER BY time, relevant DESC").fetchall()
    assert [r for r, _ in kept] == [1, 0] and kept[0][1] != kept[1][1]
    assert JudgementStore(db).stale(judging.current) == 1


def test_a_store_from_before_narrative_hashes_is_migrated_and_stamped(tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as con:
        con.executescript("CREATE TABLE judgements (topic TEXT NOT NULL, doc TEXT NOT NULL, assessor TEXT NOT NULL, "
                          "relevant INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '', time TEXT NOT NULL, "
                          "PRIMARY KEY (topic, doc, assessor));"
                          "INSERT INTO judgements VALUES ('1', 'a', 'ann', 1, '', '2024-01-01T00:00:00+00:00');")
    store = JudgementStore(db)
    assert store.final_labels({"1": "h1"}) == ({}, [])  # unstamped: not yet taken as made against h1
    assert store.stamp_unstamped({"1": "h1"}) == 1
    assert store.final_labels({"1": "h1"}) == ({("1", "a"): 1}, [])
    assert store.final_labels({"1": "h2"}) == ({}, [])


def test_rechunking_drops_the_stamp_and_runs_first_and_output_drops_its_report_first(tmp_path, monkeypatch):
    import followir.construction.candidates as candidates
    import followir.construction.output as output

    given = mini_inputs(tmp_path / "in")
    out, work = tmp_path / "out", tmp_path / "work"
    base = ["build-benchmark", "--work", str(work), "-o", str(out), "--collection", str(MINI / "corpus.jsonl"),
            "--topics", str(given["topics"]), "--qrels", str(given["qrels"]), "--narratives",
            str(given["narratives"]), "--judgements", str(given["judgements"]), "--depth", "20",
            "--passage-depth", "50"]
    assert CliRunner().invoke(app, base).exit_code == 0
    pool = work / "pool"
    assert (pool / "passages.json").exists() and list(pool.glob("*.trec")) and (out / "validation.json").exists()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the run were killed while chunking

    monkeypatch.setattr(candidates, "write_passages", killed)
    with pytest.raises(KeyboardInterrupt):
        candidates.run_candidates(work, MINI / "corpus.jsonl", ["bm25"],
                                  settings=candidates.PoolSettings(chunk=ChunkSettings(100, 50), passage_depth=50))
    assert not (pool / "passages.json").exists() and not list(pool.glob("*.trec"))
    monkeypatch.undo()
    # the output step: a kill half way leaves no validation.json beside half-rewritten files
    monkeypatch.setattr(output, "_write_mteb", killed)
    with pytest.raises(KeyboardInterrupt):
        output.run_output(work, out)
    assert not (out / "validation.json").exists() and (out / "README.md").exists()
    with pytest.raises(DataFormatError, match="the build did not finish"):
        from followir.construction.publish import publish_files

        publish_files(out)


# -- a mistake on the command line deletes nothing and marks nothing for redo -----------------------------------
def test_pool_runs_survive_a_mistyped_model_and_settings_that_only_pick_candidates(tmp_path, monkeypatch):
    import followir.construction.candidates as candidates

    given = mini_inputs(tmp_path / "in")
    work = tmp_path / "work"
    assert run_topics(given["topics"], given["qrels"], work)
    corpus = MINI / "corpus.jsonl"
    searched: list[str] = []  # the models loaded to search
    real = candidates._load_model

    def spy(name):
        searched.append(name)
        return real(name)

    monkeypatch.setattr(candidates, "_load_model", spy)
    settings = candidates.PoolSettings(depth=20, passage_depth=50)
    candidates.run_candidates(work, corpus, ["bm25"], settings=settings)
    trec = work / "pool" / "bm25.trec"
    before = (trec.read_bytes(), trec.stat().st_mtime_ns)
    assert searched == ["bm25"]
    # a mistyped model: refused before anything goes, from the library and the command line
    with pytest.raises(Exception, match="unknown model 'bm-25'"):
        candidates.run_candidates(work, corpus, ["bm-25"], settings=settings)
    result = CliRunner().invoke(app, ["build-candidates", str(work), "--collection", str(corpus), "-m", "bm-25",
                                      "--depth", "20", "--passage-depth", "50"])
    assert result.exit_code != 0 and "unknown model 'bm-25'" in result.output
    assert "searched again" not in result.output
    # a mistyped collection: nothing deleted either
    with pytest.raises(DataFormatError, match="the collection does not exist"):
        candidates.run_candidates(work, tmp_path / "no-such.jsonl", ["bm25"], settings=settings)
    assert (trec.read_bytes(), trec.stat().st_mtime_ns) == before
    assert (work / "pool" / "passages.json").exists()
    # --depth and --fusion only pick candidates again: the passage run is read back
    picked = candidates.run_candidates(work, corpus, ["bm25"],
                                       settings=candidates.PoolSettings(depth=25, passage_depth=50, fusion="rrf"))
    assert searched == ["bm25"] and {len(d) for d in picked.values()} == {25}
    assert (trec.read_bytes(), trec.stat().st_mtime_ns) == before
    # another model added: only it searches; bm25's run is kept
    searched.clear()
    candidates.run_candidates(work, corpus, ["bm25", "bm25-regex"], settings=settings)
    assert searched == ["bm25-regex"] and (work / "pool" / "bm25-regex.trec").exists()
    assert (trec.read_bytes(), trec.stat().st_mtime_ns) == before
    # what a run depends on (passage depth) changed: searched again
    searched.clear()
    candidates.run_candidates(work, corpus, ["bm25"], settings=candidates.PoolSettings(depth=20, passage_depth=40))
    assert searched == ["bm25"]


def test_build_checks_its_inputs_before_marking_any_step_for_redo(tmp_path):
    given = mini_inputs(tmp_path / "in")
    out, work = tmp_path / "out", tmp_path / "work"
    base = ["build-benchmark", "--work", str(work), "-o", str(out), "--topics", str(given["topics"]), "--qrels",
            str(given["qrels"]), "--narratives", str(given["narratives"]), "--judgements", str(given["judgements"]),
            "--depth", "20", "--passage-depth", "50"]
    good = ["--collection", str(MINI / "corpus.jsonl")]
    assert CliRunner().invoke(app, [*base, *good]).exit_code == 0
    recorded = (work / "build.json").read_text()
    for wrong, says in ((["--collection", str(tmp_path / "corpus.jsnol")], "the collection does not exist"),
                        ([*good, "-m", "bm-25"], "unknown model 'bm-25'"),
                        ([*good, "--judgements", str(tmp_path / "no.jsonl")], "--judgements"),
                        ([*good, "--corpus-text", "documents"], "--corpus-text documents")):
        result = CliRunner().invoke(app, [*base, *wrong])
        assert result.exit_code != 0 and says in " ".join(result.output.split()), result.output
        assert (work / "build.json").read_text() == recorded  # nothing marked for redo
    said = " ".join(CliRunner().invoke(app, [*base, *good]).output.split())
    assert "candidates: done already" in said and "running again" not in said


def test_messages_for_a_misnamed_collection_swapped_columns_and_missing_judgements(tmp_path):
    from followir.construction.judgements import prepare_judging, run_judgements

    docs = tmp_path / "docs.json"  # JSON lines under a .json name
    docs.write_text('{"_id": "d1", "text": "ivory"}\n')
    with pytest.raises(DataFormatError, match=r"looks like JSON.*name the file docs\.jsonl"):
        list(iter_documents(docs))
    # swapped TSV columns: column 2 is a selected topic
    given = mini_inputs(tmp_path / "in")
    work = tmp_path / "work"
    chosen = run_topics(given["topics"], given["qrels"], work)
    narrative = "A relevant document " + "names a country " * 20
    swapped = tmp_path / "swapped.tsv"
    swapped.write_text(f"{narrative}\t{chosen[0].number}\n")
    with pytest.raises(DataFormatError, match="columns look swapped") as caught:
        read_written(swapped, chosen)
    assert "topic<TAB>changed narrative" in str(caught.value) and narrative.strip() not in str(caught.value)
    assert "..." in str(caught.value)
    one = tmp_path / "one.tsv"
    one.write_text("".join(f"{t.number}\t{t.narrative} Only after 1990.\n" for t in chosen[:-1]))
    with pytest.raises(DataFormatError, match=f"no changed narrative for topic {chosen[-1].number}\\."):
        read_written(one, chosen)
    # judgements from a file that lacks some: add them to that file
    run_narratives(work, written=given["narratives"])
    prepare_judging(work, MINI / "corpus.jsonl")
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(given["judgements"].read_text().splitlines(keepends=True)[3:]))
    with pytest.raises(DataFormatError, match="3 of 181 og-relevant documents have no changed judgement yet.*add "
                       f"their judgements to {partial}"):
        run_judgements(work, judgements=partial)
    with pytest.raises(DataFormatError, match="no judgements yet.*--judgements FILE"):
        run_judgements(work)
    result = CliRunner().invoke(app, ["build-output", str(work), "-o", str(tmp_path / "out"), "--corpus-text",
                                      "document"])
    said = " ".join(result.output.split())
    assert result.exit_code != 0 and "Fix: give --collection C" in said, said
    help_text = " ".join(CliRunner().invoke(app, ["build-benchmark", "--help"]).output.split())
    assert "candidates, output" in help_text.replace("│", "").replace("  ", " ")
