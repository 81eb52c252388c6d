"""The FollowIR-train recipe end to end on real TREC narratives: SmolLM2 behind a loopback OpenAI-compatible
server (an injected 500, malformed answers), SmolLM2 as the judge, balancing, LoRA training of SmolLM2, and
``followir evaluate`` of the trained adapter on the whole of followir-mini."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from chat_server import serve
from followir.cli import app
from followir.llm import limits
from followir.llm.base import GenerationOptions
from followir.llm.chat import LocalChat
from followir.training.files import read_jsonl, read_manifest
from followir.training.generate import ParseSettings
from followir.training.pipeline import PipelineConfig, run_pipeline


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOLLOWIR_CACHE", str(tmp_path / "default-cache.sqlite"))
    monkeypatch.setattr(limits, "_sleep", lambda s: None)  # retries wait no time


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
def test_end_to_end_on_real_trec_narratives(trec_data_dir, tmp_path, smollm):
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
    # records its family, template, base weights and adapter. Evaluated on the whole of followir-mini.
    model_dir = out / "model"
    result = CliRunner().invoke(app, ["evaluate", "--model", str(model_dir), "--task", "followir-mini", "--cache",
                                      str(tmp_path / "eval-cache.sqlite"), "--output", str(tmp_path / "eval"),
                                      "--resamples", "1000", "--json"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    settings = results["model"]["settings"]
    assert results["model"]["family"] == "causal-lm" and settings["template"] == "chat"
    assert settings["adapter"] == str((model_dir / "adapter").resolve())
    assert settings["fingerprint"] == json.loads((model_dir / "followir_model.json").read_text())["fingerprint"]
    mini = results["tasks"]["followir-mini"]
    assert (mini["queries"], mini["candidates"], mini["missing_candidates"]) == (14, 387, 0)
    assert mini["timings"]["pairs"] == 774  # every candidate under the og and the changed instruction
    scores = mini["scores"]
    print(f"trained adapter on followir-mini: MAP@1000 {100 * scores['main_score']:.1f}, "
          f"p-MRR {100 * scores['p-MRR']:+.1f}")
    # one step at the paper's learning rate (3e-5) on three instances barely moves SmolLM2-135M-Instruct,
    # whose base scores here are MAP@1000 55.9 and p-MRR +2.1 (docs/analyses.md)
    assert scores["main_score"] == pytest.approx(0.559, abs=0.03)
    assert -1 <= scores["p-MRR"] <= 1
