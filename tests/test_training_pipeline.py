"""The FollowIR-train pipeline: answer parsing, narratives, generation through a real loopback OpenAI-compatible
server (malformed answers, 429/500, failures, cache, resume), filtering, balancing and the datasheet; and an
end-to-end run on real TREC narratives with SmolLM2 behind the server and SmolLM2 as the judge."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chat_server import serve
from conftest import write_mini_subset
from followir.cli import app
from followir.data.trec import read_run
from followir.errors import DataFormatError, FollowIRError
from followir.llm import limits
from followir.llm.base import GenerationOptions
from followir.llm.chat import LocalChat, OpenAIChat
from followir.training.balance import balance, choose_rows
from followir.training.files import read_jsonl, read_manifest
from followir.training.filter import filter_documents, load_judge
from followir.training.generate import ParseSettings, generate
from followir.training.narratives import build_narratives, followir_topic_ids, read_source, select_pairs
from followir.training.parsing import ParseError, parse_documents
from followir.training.pipeline import PipelineConfig, run_pipeline

W = " ".join(f"w{i}" for i in range(20))  # 20 words: the default minimum length of a document


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOLLOWIR_CACHE", str(tmp_path / "default-cache.sqlite"))
    monkeypatch.setattr(limits, "_sleep", lambda s: None)  # retries wait no time


# -- parsing hand-written answers ---------------------------------------------------------------------------

def _tails(docs):
    return [d.split()[-1] for d in docs]


@pytest.mark.parametrize("answer, relevant, nonrelevant, shape", [
    (f"Relevant Document Options:\n1. {W} a\n2. {W} b\n3. {W} c\n\nIrrelevant Document Options:\n"
     f"1. {W} d\n2. {W} e\n3. {W} f", ["a", "b", "c"], ["d", "e", "f"], "sections"),
    (f"**Relevant documents:**\n\n- \"{W} a\"\n- \"{W} b\"\n\n**Irrelevant documents:**\n\n* {W} c",
     ["a", "b"], ["c"], "sections"),
    (f"### Non-relevant\n{W} x\n### Relevant\n{W} y\n{W} z", ["y", "z"], ["x"], "sections"),
    (f"Sure! Here are three different options for both a relevant and an irrelevant document:\n"
     f"Relevant document 1: {W} a\nIrrelevant Document 1 - {W} b\n2. Not relevant: {W} c\n"
     f"Option 3 (relevant): {W} d", ["a", "d"], ["b", "c"], "labelled"),
    (f"**Relevant Document 1:**\n{W} a\n\n**Irrelevant Document 1:**\n{W} b", ["a"], ["b"], "labelled"),
    ('```json\n{"relevant": ["%s a", "%s b"], "irrelevant": [{"text": "%s c"}]}\n```' % (W, W, W),
     ["a", "b"], ["c"], "json"),
    ('[{"label": "relevant", "document": "%s a"}, {"label": false, "document": "%s b"}]' % (W, W),
     ["a"], ["b"], "json"),
    ('{"label": "irrelevant", "text": "%s a"}\n{"label": "relevant", "text": "%s b"}' % (W, W),
     ["b"], ["a"], "json"),
    ("\n".join(f"{W} {i}" for i in range(6)), ["0", "1", "2"], ["3", "4", "5"], "positional"),
    (f"Relevant:\n1. {W} a\n2. {W} a\n3. {W} b\n4. {W} c\n5. {W} d\nIrrelevant:\n1. too short\n2. {W} e",
     ["a", "b", "c"], ["e"], "sections"),  # duplicates and fragments dropped, three kept per label
])
def test_parse_documents_shapes(answer, relevant, nonrelevant, shape):
    parsed = parse_documents(answer)
    assert (_tails(parsed.relevant), _tails(parsed.nonrelevant), parsed.format) == (relevant, nonrelevant, shape)


@pytest.mark.parametrize("answer, kind", [
    ("I'm sorry, I cannot help with that.", "no-labels"),
    ("\n".join(f"{W} {i}" for i in range(5)), "no-labels"),  # unlabelled, not six documents
    (f"Relevant:\n1. {W} a\n2. {W} b", "too-few"),  # no irrelevant document
    (f"Relevant:\n1. short one\nIrrelevant:\n1. {W} b", "too-few"),  # the relevant one is a fragment
])
def test_malformed_answers_raise_with_their_kind(answer, kind):
    with pytest.raises(ParseError) as info:
        parse_documents(answer)
    assert info.value.kind == kind


def test_parse_thresholds():
    answer = f"Relevant:\n1. {W} a\n2. {W} b\nIrrelevant:\n1. {W} c"
    with pytest.raises(ParseError, match="1 non-relevant"):
        parse_documents(answer, min_per_label=2)
    assert _tails(parse_documents(answer, max_per_label=1).relevant) == ["a"]
    assert _tails(parse_documents("Relevant: one two three\nIrrelevant: four five six", min_words=3).relevant) \
        == ["three"]


# -- narratives -------------------------------------------------------------------------------------------

TOPICS = """<top>
<num> Number: 301
<title> International Organized Crime
<desc> Description:
Identify organizations that participate in international criminal activity.
<narr> Narrative:
A relevant document must as a minimum identify the organization.
</top>
<top>
<num> Number: 305
<title> Most Dangerous Vehicles
<desc> Description:
Which are the most crashworthy vehicles?
<narr> Narrative:
A relevant document will contain information on the crashworthiness of a given vehicle.
</top>
<top>
<num> Number: 900
<title> Empty one
<desc> Description:
Nothing.
<narr> Narrative:
</top>
"""


def _write_sources(tmp_path: Path) -> tuple[Path, Path]:
    topics = tmp_path / "topics.small.txt"
    topics.write_text(TOPICS, encoding="utf-8")
    rows = tmp_path / "extra.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in [
        {"id": "x1", "query": "International  organized crime", "instruction": "A relevant document must as a "
         "minimum identify the organization."},  # a duplicate of 301 up to spacing and case
        {"id": "x2", "query": "Solar power", "instruction": "Documents about solar panels are relevant."},
        {"id": "x3", "topic": "42", "query": "Excluded by id", "instruction": "Anything."},
    ]) + "\n", encoding="utf-8")
    return topics, rows


def test_narratives_exclude_clean_and_count(tmp_path):
    topics, rows = _write_sources(tmp_path)
    pairs = read_source(str(topics))
    assert [(p.id, p.topic, p.query) for p in pairs][:2] == [("small:301", "301", "International Organized Crime"),
                                                              ("small:305", "305", "Most Dangerous Vehicles")]
    assert read_source(str(topics), query_field="description")[1].query == "Which are the most crashworthy vehicles?"
    out = tmp_path / "out" / "narratives.jsonl"
    manifest = build_narratives([str(topics), str(rows)], out, exclude=["robust04"], exclude_ids=["42"])
    counts = manifest["counts"]
    assert {k: counts[k] for k in ("read", "excluded", "empty_narrative", "empty_query", "duplicates", "kept")} == \
        {"read": 6, "excluded": 2, "empty_narrative": 1, "empty_query": 0, "duplicates": 1, "kept": 2}
    assert counts["excluded_topics"] == ["42", "305"]
    assert [r["id"] for r in read_jsonl(out)] == ["small:301", "x2"]
    assert manifest["options"]["exclusion"]["robust04"]["ids"] == 52
    # --limit keeps the first kept pairs and says how many it left out; the datasheet shows it
    limited = build_narratives([str(topics), str(rows)], out, exclude=["robust04"], exclude_ids=["42"], limit=1)
    assert (limited["counts"]["kept"], limited["counts"]["beyond_limit"]) == (1, 1)
    assert [r["id"] for r in read_jsonl(out)] == ["small:301"] and limited["options"]["limit"] == 1
    from followir.training.datasheet import summary

    sheet = {"counts": summary({"narratives": limited}), "settings": {}}
    assert (sheet["counts"]["narratives_beyond_limit"], sheet["counts"]["narratives_kept"]) == (1, 1)
    with pytest.raises(ValueError, match="limit=0"):
        build_narratives([str(topics)], out, limit=0)
    # a folder stands for its topic files and tables (qrels and other files are ignored)
    (tmp_path / "qrels.txt").write_text("301 0 d1 1\n", encoding="utf-8")
    assert len(read_source(str(tmp_path))) == 6


def test_same_id_different_text_kept_apart_and_errors_name_the_file(tmp_path):
    from followir.training.narratives import NarrativePair

    kept, counts = select_pairs([NarrativePair("a", "a", "q1", "i1", "s"), NarrativePair("a", "a", "q2", "i2", "s")])
    assert [p.id for p in kept] == ["a", "a#2"] and counts["kept"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "query": "q"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match="bad.jsonl:1"):
        read_source(str(bad))
    with pytest.raises(DataFormatError, match="no such file"):
        read_source(str(tmp_path / "missing.txt"))


def test_exclusion_by_a_local_task_folder_uses_its_query_ids(tmp_path):
    from followir.data.loading import packaged_path
    from followir.training.narratives import exclusion_ids

    mini = exclusion_ids([str(packaged_path("followir_mini"))])
    (entry,) = mini.values()
    assert len(entry["ids"]) == 14
    assert exclusion_ids(["followir"]).keys() == {"robust04", "news21", "core17"}
    assert exclusion_ids(["none"]) == {}


@pytest.mark.realdata
def test_followir_topic_ids_are_real_trec_topics_and_exclusion_on_real_files(trec_data_dir, tmp_path):
    from followir.data.trec import read_topics

    ids = followir_topic_ids()
    assert {k: len(v) for k, v in ids.items()} == {"robust04": 52, "core17": 20, "news21": 32}
    robust = {t.number for t in read_topics(trec_data_dir / "topics.robust04.txt")}
    core17 = {t.number for t in read_topics(trec_data_dir / "topics.core17.txt")}
    assert ids["robust04"] <= robust and ids["core17"] <= core17
    manifest = build_narratives([str(trec_data_dir)], tmp_path / "n.jsonl", exclude=["followir"])
    c = manifest["counts"]
    assert (c["read"], c["excluded"], c["duplicates"], c["kept"]) == (950, 152, 191, 607)
    kept_topics = {r["topic"] for r in read_jsonl(tmp_path / "n.jsonl")}
    assert not kept_topics & (ids["robust04"] | ids["core17"] | ids["news21"])


# -- generation through a loopback server (scripted answers) ------------------------------------------------

def well_formed(query: str, seed) -> str:
    rel = "\n".join(f"{i}. Relevant passage {i} on {query}: {W} r{i}" for i in (1, 2, 3))
    irr = "\n".join(f"{i}. Off-topic passage {i}: {W} n{i}" for i in (1, 2, 3))
    return f"Here you go!\n\nRelevant documents:\n{rel}\n\nIrrelevant documents:\n{irr}"


def scripted(messages, options) -> str:
    """Well-formed answers, except: garbage for 'Bees' on its first seed, always garbage for 'Caves'."""
    query = re.search(r"Search: (.*)\n", messages[-1]["content"]).group(1)
    if query == "Caves" or (query == "Bees" and options["seed"] == 0):
        return "I am not sure what you mean."
    return well_formed(query, options["seed"])


def _narratives(tmp_path: Path, queries=("Apples", "Bees", "Caves", "Dunes")) -> Path:
    path = tmp_path / "narratives.jsonl"
    path.write_text("".join(json.dumps({"id": f"t:{i}", "topic": str(i), "query": q,
                                        "instruction": f"Documents about {q.lower()} are relevant.", "source": "t"})
                            + "\n" for i, q in enumerate(queries)), encoding="utf-8")
    return path


def test_generate_retries_malformed_records_failures_and_reruns_for_free(tmp_path):
    narratives = _narratives(tmp_path)
    out = tmp_path / "gen"
    with serve(scripted) as server:
        server.script = [(429, {"Retry-After": "0"}, "{}"), (500, {}, "{}")]
        chat = OpenAIChat("gen", base_url=server.url, cache_path=str(tmp_path / "c.sqlite"), concurrency=2)
        manifest = generate(narratives, out, chat, attempts=3, seed=0)
        http_calls = len(server.log)
        # Apples, Bees, Caves, Dunes on seed 0; Bees and Caves on seed 1; Caves on seed 2; plus 429 and 500
        assert http_calls == 4 + 2 + 1 + 2
        rerun = OpenAIChat("gen", base_url=server.url, cache_path=str(tmp_path / "c.sqlite"), concurrency=2)
        again = generate(narratives, out, rerun, attempts=3, seed=0)
        assert len(server.log) == http_calls and rerun.stats.requests == 0  # nothing left to ask
    rows = list(read_jsonl(out / "generated.jsonl"))
    by_pair = {}
    for r in rows:
        by_pair.setdefault(r["pair_id"], []).append(r)
    assert sorted(by_pair) == ["t:0", "t:1", "t:3"]
    assert [(r["attempt"], r["seed"]) for r in by_pair["t:1"]][0] == (2, 1)
    assert [r["label"] for r in by_pair["t:0"]] == [True] * 3 + [False] * 3
    assert by_pair["t:0"][0]["id"] == "t:0/rel1" and by_pair["t:0"][3]["id"] == "t:0/nonrel1"
    assert by_pair["t:0"][0]["document"].startswith("Relevant passage 1 on Apples")
    (failure,) = read_jsonl(out / "failures.jsonl")
    assert (failure["pair_id"], failure["attempts"], failure["seeds"], failure["kind"]) == \
        ("t:2", 3, [0, 1, 2], "no-labels")
    assert failure["last_answer"] == "I am not sure what you mean."
    counts = manifest["counts"]
    assert (counts["pairs"], counts["pairs_generated"], counts["pairs_failed"], counts["documents"]) == (4, 3, 1, 18)
    assert counts["pairs_by_attempt"] == {"1": 2, "2": 1} and counts["failures_by_kind"] == {"no-labels": 1}
    assert again["counts"]["documents"] == 18 and read_manifest(out / "generated.jsonl")["complete"]


def test_generate_resumes_after_an_interrupted_write(tmp_path):
    narratives = _narratives(tmp_path, ("Apples", "Dunes", "Eels", "Figs"))
    out = tmp_path / "gen"
    with serve(scripted) as server:
        generate(narratives, out, OpenAIChat("gen", base_url=server.url, cache_path="none"), seed=0)
        assert len(server.log) == 4
        full = (out / "generated.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        # interrupted while appending the third pair: its first rows written, the last line torn
        (out / "generated.jsonl").write_text("".join(full[:6 + 6 + 2]) + full[14][:25], encoding="utf-8")
        generate(narratives, out, OpenAIChat("gen", base_url=server.url, cache_path="none"), seed=0)
        assert len(server.log) == 4 + 2  # only the cut-off pair and the missing one were asked again
    rows = (out / "generated.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    assert sorted(rows) == sorted(full)


def test_generate_refuses_to_mix_settings_and_dry_run_sends_nothing(tmp_path):
    narratives = _narratives(tmp_path, ("Apples",))
    out = tmp_path / "gen"
    with serve(scripted) as server:
        chat = OpenAIChat("gen", base_url=server.url, cache_path="none")
        dry = generate(narratives, out, chat, dry_run=True, options=GenerationOptions(max_tokens=1000))
        assert dry["todo"] == 1 and dry["estimate"]["requests"] == 1 and dry["estimate"]["output_tokens"] == 1000
        assert "price unknown" in dry["estimate_text"] and server.log == []
        generate(narratives, out, chat)
        with pytest.raises(FollowIRError, match="changed: options"):
            generate(narratives, out, chat, options=GenerationOptions(temperature=0.2, max_tokens=4096))


def test_retry_failed_gives_failed_pairs_new_seeds(tmp_path):
    narratives = _narratives(tmp_path, ("Bees",))
    out = tmp_path / "gen"
    with serve(scripted) as server:
        chat = OpenAIChat("gen", base_url=server.url, cache_path="none")
        generate(narratives, out, chat, attempts=1, seed=0)
        assert (out / "failures.jsonl").read_text() and (out / "generated.jsonl").read_text() == ""
        manifest = generate(narratives, out, chat, attempts=1, seed=0, retry_failed=True)
    assert [r["options"]["seed"] for r in server.log] == [0, 1]
    assert manifest["counts"]["pairs_generated"] == 1 and manifest["counts"]["pairs_failed"] == 0
    assert list(read_jsonl(out / "failures.jsonl")) == []


# -- filter and balance with a judge whose scores are known -------------------------------------------------

class PassageJudge:
    """A yes/no judge with hand-set p(true): relevant passages 1-2 and off-topic passage 1 look relevant."""

    name = "passage-judge"

    def describe(self):
        return {"family": "test", "settings": {}}

    def rerank(self, requests, corpus, progress=None):
        def p(text):
            if text.startswith("Relevant passage 3"):
                return 0.2  # the judge disagrees: dropped
            if text.startswith("Relevant passage"):
                return 0.9 if "passage 1" in text else 0.8
            return 0.7 if text.startswith("Off-topic passage 1") else 0.1  # passage 1: dropped
        return [{d: p(corpus[d].text) for d in r.candidates} for r in requests]


def _generated(tmp_path: Path, queries=("Apples", "Dunes")) -> Path:
    out = tmp_path / "gen"
    with serve(scripted) as server:
        generate(_narratives(tmp_path, queries), out, OpenAIChat("gen", base_url=server.url, cache_path="none"))
    return out / "generated.jsonl"


def test_filter_keeps_agreement_and_balance_writes_the_dataset(tmp_path):
    generated = _generated(tmp_path)
    build = tmp_path / "build"
    fmanifest = filter_documents(generated, build, PassageJudge(), threshold=0.5)
    c = fmanifest["counts"]
    assert (c["judged"], c["kept"], c["dropped"]) == (12, 8, 4)
    assert (c["relevant_kept"], c["relevant_dropped"], c["nonrelevant_kept"], c["nonrelevant_dropped"]) == (4, 2, 4, 2)
    assert {r["id"].split("/")[1] for r in read_jsonl(build / "rejected.jsonl")} == {"rel3", "nonrel1"}

    bmanifest = balance(build / "filtered.jsonl", build)
    rows = list(read_jsonl(build / "train.jsonl"))
    assert [list(r) for r in rows][0] == ["query", "instruction", "document", "label", "id", "score"]
    # confident choice: highest p(true) among relevant (passage 1), lowest among irrelevant (passage 2, tied 3)
    assert [(r["id"], r["label"], r["score"]) for r in rows] == [
        ("t:0/rel1", True, 0.9), ("t:0/nonrel2", False, 0.1), ("t:1/rel1", True, 0.9), ("t:1/nonrel2", False, 0.1)]
    assert rows[1]["document"].startswith("Off-topic passage 2")
    assert bmanifest["counts"] == {"filtered": 8, "instances": 4, "relevant": 2, "nonrelevant": 2, "pairs": 2,
                                   "pairs_with_both_labels": 2}
    import datasets

    data = datasets.load_from_disk(str(build / "dataset"))
    assert data.num_rows == 4 and data[0] == rows[0]

    sheet = json.loads((build / "datasheet.json").read_text())
    assert sheet["missing_steps"] == ["narratives"]  # the test wrote narratives.jsonl by hand
    assert {k: sheet["counts"][k] for k in ("pairs_generated", "documents_generated", "judged", "relevant_kept",
                                            "nonrelevant_dropped", "instances")} == \
        {"pairs_generated": 2, "documents_generated": 12, "judged": 12, "relevant_kept": 4, "nonrelevant_dropped": 2,
         "instances": 4}
    md = (build / "datasheet.md").read_text()
    assert "| filter | judged | 12 |" in md and "|  | relevant kept / dropped | 4 / 2 |" in md
    assert "| balance | instances (relevant / non-relevant) | 4 (2 / 2) |" in md


def test_pipeline_runs_every_step_then_resumes_without_asking(tmp_path):
    topics, rows = _write_sources(tmp_path)
    out = tmp_path / "build"
    with serve(lambda m, o: well_formed("x", o["seed"])) as server:
        config = PipelineConfig(sources=[str(topics), str(rows)], output=out, generator="openai:gen",
                                base_url=server.url, judge=PassageJudge(), exclude=["robust04"], exclude_ids=["42"],
                                cache_path=str(tmp_path / "cache.sqlite"), skip_train=True)
        report = run_pipeline(config)
        assert len(server.log) == 2
        again = run_pipeline(config)
        assert len(server.log) == 2
    assert [report[s]["ran"] for s in ("generate", "filter", "balance")] == [True, True, True]
    assert [again[s]["ran"] for s in ("generate", "filter", "balance")] == [False, False, False]
    counts = json.loads((out / "datasheet.json").read_text())["counts"]
    assert (counts["narratives_read"], counts["narratives_kept"], counts["documents_generated"], counts["judged"],
            counts["instances"]) == (6, 2, 12, 12, 4)
    with pytest.raises(ValueError, match="no base model"):
        run_pipeline(PipelineConfig(sources=[str(topics)], output=out, generator="openai:gen", judge=PassageJudge()))


def test_pipeline_stops_before_the_judge_when_nothing_was_generated(tmp_path):
    topics, rows = _write_sources(tmp_path)
    out = tmp_path / "build"
    with serve(lambda m, o: "Sure! Here are some documents.") as server:
        config = PipelineConfig(sources=[str(topics), str(rows)], output=out, generator="openai:gen",
                                base_url=server.url, judge=PassageJudge(), exclude=["robust04"], exclude_ids=["42"],
                                cache_path="none", skip_train=True, attempts=2)
        with pytest.raises(ValueError, match=r"no documents were generated; 2 of 2 pairs failed to parse "
                                             r"\(2 no-labels; .*failures.jsonl\)\. Fix: use a generator"):
            run_pipeline(config)
        assert len(server.log) == 4  # 2 pairs x 2 attempts
    assert (out / "generated.jsonl").read_text() == "" and len(list(read_jsonl(out / "failures.jsonl"))) == 2
    assert not (out / "filtered.jsonl").exists()
    # the pipeline passes --limit to the narratives step: one pair asked, one failed
    with serve(lambda m, o: "Sure! Here are some documents.") as server:
        limited = PipelineConfig(**{**config.__dict__, "base_url": server.url, "output": tmp_path / "one",
                                    "limit": 1})
        with pytest.raises(ValueError, match="1 of 1 pairs failed to parse"):
            run_pipeline(limited)
        assert len(server.log) == 2


def test_balance_policies(tmp_path):
    rows = [{"pair_id": "p", "label": lab, "score": s, "n": n} for n, (lab, s) in
            enumerate([(True, 0.6), (True, 0.95), (False, 0.3), (False, 0.05), (True, 0.7)])]
    rows.append({"pair_id": "q", "label": True, "score": 0.8, "n": 5})
    assert [r["n"] for r in choose_rows(rows)] == [1, 3, 5]
    assert [r["n"] for r in choose_rows(rows, per_label=2)] == [1, 4, 3, 2, 5]
    assert [r["n"] for r in choose_rows(rows, choose="first")] == [0, 2, 5]
    assert [r["n"] for r in choose_rows(rows, require_both=True)] == [1, 3]
    assert choose_rows(rows, choose="random", seed=1) == choose_rows(rows, choose="random", seed=1)
    with pytest.raises(ValueError, match="choose"):
        choose_rows(rows, choose="best")


def test_judges_must_be_yes_no_rerankers():
    with pytest.raises(ValueError, match="yes/no reranker"):
        load_judge("bm25")
    with pytest.raises(ValueError, match="yes/no reranker"):
        load_judge("all-minilm-l6-v2")


def test_cli_steps_on_small_files(tmp_path):
    topics, rows = _write_sources(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["narratives", str(topics), str(rows), "-o", str(tmp_path / "n.jsonl"),
                                 "--exclude", "robust04", "--exclude-id", "42", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["kept"] == 2
    limited = runner.invoke(app, ["narratives", str(topics), str(rows), "-o", str(tmp_path / "n1.jsonl"),
                                  "--exclude", "robust04", "--exclude-id", "42", "--limit", "1", "--json"])
    assert limited.exit_code == 0, limited.output
    assert {k: json.loads(limited.stdout)["counts"][k] for k in ("kept", "beyond_limit")} == {"kept": 1,
                                                                                             "beyond_limit": 1}
    with serve(lambda m, o: well_formed("x", o["seed"])) as server:
        base = ["generate", "--narratives", str(tmp_path / "n.jsonl"), "-g", "openai:gen", "--base-url", server.url,
                "-o", str(tmp_path / "g"), "--cache", "none"]
        dry = runner.invoke(app, base + ["--dry-run", "--max-tokens", "100"])
        assert dry.exit_code == 0 and "2 of 2 pairs to generate" in dry.stdout and server.log == []
        done = runner.invoke(app, base + ["--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["counts"]["documents"] == 12 and len(server.log) == 2
    bad = runner.invoke(app, ["generate", "--narratives", str(tmp_path / "n.jsonl"), "-g", "gpt-4", "-o",
                              str(tmp_path / "g2")])
    assert bad.exit_code == 2 and "openai:MODEL" in bad.output
    bad_judge = runner.invoke(app, ["filter", "--generated", str(tmp_path / "g" / "generated.jsonl"), "--judge",
                                    "bm25", "-o", str(tmp_path / "f")])
    assert bad_judge.exit_code == 2 and "yes/no reranker" in bad_judge.output


# -- end to end on real TREC narratives, SmolLM2 behind the server and as the judge -------------------------

E2E_TOPICS = ("301", "302", "305", "308", "321")  # 305 and 308 are FollowIR Robust04 topics


@pytest.fixture(scope="module")
def smollm():
    chat = LocalChat.from_name("smollm2-135m-instruct", cache_path="none")
    try:
        chat._load()
    except Exception as e:  # pragma: no cover - the weights package is missing
        pytest.skip(f"SmolLM2 weights not available: {e}")
    return chat


def smollm_server_answer(smollm, malformed_first: str, malformed_always: str):
    """The loopback 'model': SmolLM2 writes each document (one relevant, one off topic) and the server lays them
    out under headings as GPT-3.5 does; for two queries it returns SmolLM2's raw answer to the paper's prompt
    instead (short and unlabelled: malformed), on the first seed or always."""
    def answer(messages, options):
        query = re.search(r"Search: (.*)\n", messages[-1]["content"]).group(1)
        seed = options["seed"]
        if query == malformed_always or (query == malformed_first and seed == 0):
            return smollm.complete(messages, GenerationOptions(temperature=0.7, max_tokens=8, seed=seed))
        opts = GenerationOptions(temperature=0.7, max_tokens=16, seed=seed)
        rel = smollm.complete([{"role": "user", "content": f"Write a short news report about: {query}."}], opts)
        off = smollm.complete([{"role": "user", "content": "Write a short news report about a cooking "
                                                           "competition."}], opts)
        return f"Relevant document:\n1. {' '.join(rel.split())}\n\nIrrelevant document:\n1. {' '.join(off.split())}"
    return answer


@pytest.mark.slow
@pytest.mark.realdata
def test_end_to_end_on_real_trec_narratives(trec_data_dir, tmp_path, smollm, progress):
    from followir.data.trec import read_topics

    text = (trec_data_dir / "topics.robust04.txt").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"<top>.*?</top>", text, re.DOTALL)
              if re.search(r"<num>\s*Number:\s*(\d+)", b).group(1) in E2E_TOPICS]
    topics_file = tmp_path / "topics.sample.txt"
    topics_file.write_text("\n".join(blocks) + "\n", encoding="utf-8")
    titles = {t.number: t.title for t in read_topics(topics_file)}
    out = tmp_path / "build"
    config = PipelineConfig(
        sources=[str(topics_file)], output=out, generator="openai:smollm2-behind-http", judge="smollm2-135m-instruct",
        exclude=["robust04"], options=GenerationOptions(temperature=0.7, max_tokens=64), attempts=3,
        parse=ParseSettings(min_words=3), cache_path=str(tmp_path / "cache.sqlite"), skip_train=True,
        judge_options={"batch_size": 4}, timeout=900)  # a loaded machine makes SmolLM2 slow
    answer = smollm_server_answer(smollm, malformed_first=titles["302"], malformed_always=titles["321"])
    progress("generating through the loopback server, judging with SmolLM2, balancing")
    with serve(answer, max_requests=40) as server:
        server.script = [(500, {}, '{"error": "warming up"}')]
        config = PipelineConfig(**{**config.__dict__, "base_url": server.url})
        report = run_pipeline(config)
        requests = len(server.log)
        asked = {(re.search(r"Search: (.*)\n", r["messages"][-1]["content"]).group(1), r["options"]["seed"])
                 for r in server.answered()}
        # 301, 302, 321 on seed 0; 302 on seed 1; 321 on seeds 1 and 2; and the 500 before them
        assert asked == {(titles["301"], 0), (titles["302"], 0), (titles["321"], 0), (titles["302"], 1),
                         (titles["321"], 1), (titles["321"], 2)}
        assert [r["status"] for r in server.log].count(500) == 1 and requests == 7

        # a rerun from the command line finds every step up to date and asks the server nothing
        result = CliRunner().invoke(app, [
            "train-pipeline", "--narratives", str(topics_file), "-g", "openai:smollm2-behind-http", "--base-url",
            server.url, "--judge", "smollm2-135m-instruct", "--exclude", "robust04", "-o", str(out),
            "--max-tokens", "64", "--min-words", "3", "--cache", str(tmp_path / "cache.sqlite"), "--skip-train",
            "--timeout", "900",
            "--judge-batch-size", "4", "--json"])
        assert result.exit_code == 0, result.output
        rerun = json.loads(result.stdout)
        assert len(server.log) == requests

        # a removed output makes its step run again; then LoRA training (followir.training.lora) for one step
        progress("balancing again, then one LoRA step")
        shutil.rmtree(out / "dataset")
        tiny = {"max_steps": 1, "eval_fraction": 0.0, "per_device_batch_size": 2, "effective_batch_size": 2,
                "max_length": 384, "gradient_checkpointing": False, "eval_on_start": False}
        trained = run_pipeline(PipelineConfig(**{**config.__dict__, "skip_train": False,
                                                 "base_model": "smollm2-135m-instruct", "train_options": tiny}))
        assert len(server.log) == requests
    assert [trained[s]["ran"] for s in ("generate", "filter", "balance", "train")] == [False, False, True, True]
    assert (out / "dataset").exists() and (out / "model" / "followir_model.json").exists()
    assert read_manifest(out / "model")["inputs"]["train"]["path"] == str((out / "train.jsonl").resolve())
    assert report["generate"]["ran"] and report["filter"]["ran"] and report["balance"]["ran"]
    assert not rerun["generate"]["ran"] and not rerun["filter"]["ran"] and not rerun["balance"]["ran"]
    assert rerun["train"] == {"ran": False, "skipped": True}

    narratives = list(read_jsonl(out / "narratives.jsonl"))
    assert [n["topic"] for n in narratives] == ["301", "302", "321"]  # 305 and 308 excluded
    (failure,) = read_jsonl(out / "failures.jsonl")
    assert failure["topic"] == "321" and failure["attempts"] == 3 and failure["kind"] == "no-labels"
    generated = list(read_jsonl(out / "generated.jsonl"))
    assert {(g["topic"], g["attempt"], g["label"]) for g in generated} == {
        ("301", 1, True), ("301", 1, False), ("302", 2, True), ("302", 2, False)}
    filtered = list(read_jsonl(out / "filtered.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    assert len(filtered) + len(rejected) == 4
    assert all((r["score"] > 0.5) == r["label"] for r in filtered)
    assert all((r["score"] > 0.5) != r["label"] for r in rejected)
    train = list(read_jsonl(out / "train.jsonl"))
    assert len(train) == len(filtered)  # at most one per label per pair, and each pair has at most one

    sheet = json.loads((out / "datasheet.json").read_text())
    c = sheet["counts"]
    assert (c["narratives_read"], c["narratives_excluded"], c["narratives_empty"], c["narratives_duplicates"],
            c["narratives_kept"]) == (5, 2, 0, 0, 3)
    assert (c["pairs_generated"], c["pairs_failed_to_parse"], c["documents_generated"], c["relevant_generated"],
            c["nonrelevant_generated"]) == (2, 1, 4, 2, 2)
    assert c["judged"] == 4 and c["relevant_kept"] + c["relevant_dropped"] == 2
    assert c["relevant_kept"] + c["nonrelevant_kept"] == len(filtered) == c["instances"]
    assert sheet["missing_steps"] == [] and sheet["settings"]["judge"] == "smollm2-135m-instruct"
    md = (out / "datasheet.md").read_text()
    assert "|  | excluded (evaluation topics) | 2 |" in md
    assert "|  | pairs failed to parse (failures.jsonl) | 1 |" in md
    print("datasheet counts:", json.dumps(c))

    # step 6: the trained model is a scorer. `followir evaluate --model DIR` needs no other flag: the output
    # records its family, template, base weights and adapter. Evaluated, with the base model beside it, on two
    # topics of followir-mini, 8 candidates each (their changed documents first), passages cut to 60 words: the
    # whole benchmark costs SmolLM2 more than 7 minutes of CPU and checks nothing more.
    progress("evaluating the trained adapter and the base model on two followir-mini topics")
    subset = write_mini_subset(tmp_path / "mini-901-902", ["901", "902"], per_query=8, words=60)
    model_dir = out / "model"
    outputs = {}
    for name, model in (("trained", str(model_dir)), ("base", "smollm2-135m-instruct")):
        result = CliRunner().invoke(app, ["evaluate", "--model", model, "--task", str(subset), "--cache",
                                          str(tmp_path / "eval-cache.sqlite"), "--output", str(tmp_path / name),
                                          "--resamples", "1000", "--json"])
        assert result.exit_code == 0, result.output
        outputs[name] = json.loads((tmp_path / name / "results.json").read_text())
    results = outputs["trained"]
    settings = results["model"]["settings"]
    assert results["model"]["family"] == "causal-lm" and settings["template"] == "chat"
    assert settings["adapter"] == str((model_dir / "adapter").resolve())
    assert settings["fingerprint"] == json.loads((model_dir / "followir_model.json").read_text())["fingerprint"]
    task = results["tasks"]["mini-901-902"]
    assert (task["queries"], task["candidates"], task["missing_candidates"]) == (2, 16, 0)
    assert task["timings"]["pairs"] == 32  # every candidate under the og and the changed instruction
    scores, base = task["scores"], outputs["base"]["tasks"]["mini-901-902"]["scores"]
    print(f"trained adapter on followir-mini 901-902: MAP@1000 {100 * scores['main_score']:.1f} "
          f"(base {100 * base['main_score']:.1f}), p-MRR {100 * scores['p-MRR']:+.1f} "
          f"(base {100 * base['p-MRR']:+.1f})")
    # one step at the paper's learning rate (3e-5) on three instances barely moves SmolLM2-135M-Instruct: its
    # p(true) moves by less than 0.05 on every pair, and the scores stay where the base model's are
    trained_run = read_run(tmp_path / "trained" / task["run_files"]["og"]).scores
    base_run = read_run(tmp_path / "base" / task["run_files"]["og"]).scores
    assert trained_run.keys() == base_run.keys()
    assert max(abs(trained_run[q][d] - base_run[q][d]) for q in base_run for d in base_run[q]) < 0.05
    assert scores["main_score"] == pytest.approx(base["main_score"], abs=0.03)
    assert -1 <= scores["p-MRR"] <= 1
