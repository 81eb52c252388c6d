"""The cross-encoder and seq2seq families on tiny randomly initialised models built here (no downloads):
a tiny BERT sequence classifier with a WordPiece vocab written by the test, and a tiny T5 with a Unigram
tokenizer whose vocabulary holds ``▁true``/``▁false``/``▁yes``/``▁no``.

Checked: finite, deterministic scores; seq2seq p(true) in (0, 1) and equal to a softmax over the model's own
answer-token logits; only the passage is truncated; identical (query, document) pairs are scored once.
"""

from __future__ import annotations

import math
import string

import pytest

from followir.models.base import RankRequest
from followir.models.registry import load_model
from followir.records import Document

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

WORDS = [
    "the", "a", "of", "and", "is", "in", "to", "for", "space", "telescope", "galaxy", "discovery", "star",
    "images", "ocean", "coral", "reef", "bleaching", "warming", "ivory", "elephant", "poaching", "seizure",
    "relevant", "document", "query", "not", "about", "new", "result", "results", "meridian", "program",
    "budget", "repair", "mission"
]

CORPUS = {
    "d1": Document("d1", "the meridian telescope found a new galaxy", "Galaxy found"),
    "d2": Document("d2", "coral reef bleaching in a warming ocean"),
    "d3": Document("d3", "repair mission for the space telescope ran over budget"),
    "d4": Document("d4", "ivory seizure of elephant tusks"),
    "d5": Document("d5", "star images from the program are a new result"),
}
QUERY = "space telescope discovery"
INSTRUCTION = "results of the meridian program are relevant"
INSTRUCTION_2 = "repair mission results are not relevant"
LONG = " ".join(["the telescope imaged a galaxy and a star"] * 30)


def _bert(folder, num_labels: int) -> str:
    folder.mkdir(parents=True)
    letters = string.ascii_lowercase + string.digits
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + list(letters + string.punctuation)
             + ["##" + c for c in letters])
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(folder))
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=128,
                                     num_labels=num_labels, initializer_range=0.2)
    torch.manual_seed(1234 + num_labels)
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _unigram_tokenizer():
    """A Unigram tokenizer: whole-word pieces (the answer words among them) over a character fallback."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    special = ["<pad>", "</s>", "<unk>"]
    whole = ["true", "false", "yes", "no", "Query", "Document", "Relevant", "Is", "following", "passage",
             "Passage", "[SEP]", *WORDS]
    chars = sorted(set(string.ascii_letters + string.digits + string.punctuation))
    pieces = [(t, 0.0) for t in special] + [("▁" + w, -2.0) for w in dict.fromkeys(whole)]
    pieces += [("▁", -3.0)] + [(c, -5.0) for c in chars] + [("▁" + c, -5.0) for c in chars]
    tok = Tokenizer(models.Unigram(pieces, unk_id=2, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>",
                                                pad_token="<pad>", unk_token="<unk>")


def _t5(folder) -> str:
    tokenizer = _unigram_tokenizer()
    config = transformers.T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                   num_decoder_layers=2, num_heads=4, decoder_start_token_id=0,
                                   pad_token_id=0, eos_token_id=1)
    torch.manual_seed(99)
    model = transformers.T5ForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _gpt2(folder) -> str:
    """A causal LM with absolute position embeddings (left padding must not shift its positions)."""
    tokenizer = _unigram_tokenizer()
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=1024,
                                     bos_token_id=None, eos_token_id=1, pad_token_id=0)
    torch.manual_seed(7)
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return {"bert": _bert(root / "bert", 1), "bert2": _bert(root / "bert2", 2), "t5": _t5(root / "t5"),
            "gpt2": _gpt2(root / "gpt2")}


def _requests():
    """Four requests; query 7 repeats query 1's text and instruction, so their shared candidates coincide."""
    return [
        RankRequest("1", "og", QUERY, INSTRUCTION, ("d1", "d2", "d3", "d5")),
        RankRequest("1", "changed", QUERY, INSTRUCTION_2, ("d1", "d2", "d3", "d5")),
        RankRequest("7", "og", QUERY, INSTRUCTION, ("d3", "d4", "d5")),
        RankRequest("2", "og", "coral bleaching", "", ("d2", "d4")),
    ]


FAMILIES = [("bert", "cross-encoder", {}), ("bert2", "cross-encoder", {}),
            ("t5", "seq2seq", {"template": "monot5"}), ("t5", "seq2seq", {"template": "flan-t5"})]
IDS = ["cross-encoder-1-logit", "cross-encoder-2-logits", "monot5", "flan-t5"]


@pytest.mark.parametrize("which, family, options", FAMILIES, ids=IDS)
def test_scores_finite_deterministic_and_shared_pairs_scored_once(models, tmp_path, which, family, options):
    cache = str(tmp_path / "cache.sqlite")
    model = load_model(models[which], family=family, cache_path=cache, batch_size=2, **options)
    requests = _requests()
    first = model.rerank(requests, CORPUS)
    stats = model.last_stats
    assert [set(r) for r in first] == [set(r.candidates) for r in requests]
    values = [v for r in first for v in r.values()]
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert len(set(values)) > 3  # a random model still tells pairs apart
    if family == "seq2seq" or which == "bert2":
        assert all(0.0 < v < 1.0 for v in values)
    # 4 + 4 + 3 + 2 pairs asked for; query 7 (og) shares d3 and d5 with query 1 (og)
    assert stats.requested == 13 and stats.unique == 11 < stats.requested
    assert stats.computed == 11 and stats.cached == 0
    assert first[0]["d3"] == first[2]["d3"] and first[0]["d5"] == first[2]["d5"]

    # a second instance on the same cache computes nothing and returns the same floats
    again = load_model(models[which], family=family, cache_path=cache, batch_size=3, **options)
    assert again.rerank(requests, CORPUS) == first
    assert again.last_stats.computed == 0 and again.last_stats.cached == 11
    # without a cache, a fresh instance with other batch sizes computes the same scores
    fresh = load_model(models[which], family=family, cache_path="none", batch_size=1, **options)
    recomputed = fresh.rerank(requests, CORPUS)
    assert fresh.last_stats.computed == 11
    for a, b in zip(recomputed, first):
        assert a.keys() == b.keys()
        assert all(math.isclose(a[d], b[d], rel_tol=1e-5, abs_tol=1e-6) for d in a)


def test_cross_encoder_scores_are_the_models_own_logit(models):
    model = load_model(models["bert"], family="cross-encoder", cache_path="none")
    [scores] = model.rerank([RankRequest("1", "og", QUERY, INSTRUCTION, ("d1", "d3"))], CORPUS)
    tok = transformers.AutoTokenizer.from_pretrained(models["bert"])
    bert = transformers.AutoModelForSequenceClassification.from_pretrained(models["bert"]).eval()
    for doc in ("d1", "d3"):
        batch = tok(f"{QUERY} {INSTRUCTION}", CORPUS[doc].full_text, return_tensors="pt")
        with torch.no_grad():
            logit = bert(**batch).logits[0, 0].item()
        assert scores[doc] == pytest.approx(logit, rel=1e-5, abs=1e-6)


def test_cross_encoder_two_logit_head_is_softmax_of_the_last_class(models):
    model = load_model(models["bert2"], family="cross-encoder", cache_path="none")
    [scores] = model.rerank([RankRequest("1", "og", QUERY, "", ("d2",))], CORPUS)
    tok = transformers.AutoTokenizer.from_pretrained(models["bert2"])
    bert = transformers.AutoModelForSequenceClassification.from_pretrained(models["bert2"]).eval()
    with torch.no_grad():
        logits = bert(**tok(QUERY, CORPUS["d2"].text, return_tensors="pt")).logits[0].double()
    expected = math.exp(logits[1].item()) / (math.exp(logits[0].item()) + math.exp(logits[1].item()))
    assert scores["d2"] == pytest.approx(expected, rel=1e-5)


def test_cross_encoder_truncates_only_the_passage(models):
    max_length = 24
    model = load_model(models["bert"], family="cross-encoder", cache_path="none", max_length=max_length)
    tok = transformers.AutoTokenizer.from_pretrained(models["bert"])
    query = "space telescope discovery of a new galaxy"
    query_tokens = tok(query, add_special_tokens=False)["input_ids"]
    assert 5 < len(query_tokens) < max_length - 5 and len(tok(LONG)["input_ids"]) > 5 * max_length
    corpus = {"long": Document("long", LONG),
              "longer": Document("longer", LONG + " ocean coral reef bleaching"),
              "other": Document("other", "ocean " + LONG)}

    def score(q: str) -> dict[str, float]:
        return model.rerank([RankRequest("1", "og", q, "", tuple(corpus))], corpus)[0]

    def input_ids(q: str, doc_id: str) -> list[int]:
        return model.encode([(model.template.render_query(q, ""), corpus[doc_id].text)])["input_ids"][0].tolist()

    base = score(query)
    # The same float32 tokens in batches of another shape (padding, matmul blocking) give logits that differ in
    # the last bits: 3e-8 was seen on a 2-core CPU for logits of size 0.06. Scores of identical inputs are equal
    # within 1e-6 absolute; the inputs themselves are compared exactly.
    same = {"rel": 1e-5, "abs": 1e-6}
    # the passage's end is cut: what follows the first few passage tokens never reaches the model
    assert input_ids(query, "long") == input_ids(query, "longer")
    assert base["long"] == pytest.approx(base["longer"], **same)
    # the passage's start is kept: changing its first word changes the input and the score
    assert input_ids(query, "other") != input_ids(query, "long")
    assert base["other"] != pytest.approx(base["long"], **same)
    # the query is kept whole: changing its last token changes the input and the score of the same (long) passage
    changed = score("space telescope discovery of a new star")
    assert input_ids("space telescope discovery of a new star", "long") != input_ids(query, "long")
    assert changed["long"] != pytest.approx(base["long"], **same)
    # and equals the model's score for the explicitly truncated input: full query, passage cut to fit
    bert = transformers.AutoModelForSequenceClassification.from_pretrained(models["bert"]).eval()
    passage = tok(LONG, add_special_tokens=False)["input_ids"][: max_length - len(query_tokens) - 3]
    ids = [tok.cls_token_id, *query_tokens, tok.sep_token_id, *passage, tok.sep_token_id]
    assert len(ids) == max_length
    assert input_ids(query, "long") == ids
    types = [0] * (len(query_tokens) + 2) + [1] * (len(passage) + 1)
    with torch.no_grad():
        logit = bert(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]),
                     attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits[0, 0].item()
    assert base["long"] == pytest.approx(logit, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("template, answers, prompt", [
    ("monot5", ("▁true", "▁false"), "Query: {q} Document: {d} Relevant:"),
    ("flan-t5", ("▁yes", "▁no"), "Is the following passage relevant to the query?\nQuery: {q}\nPassage: {d}"),
])
def test_seq2seq_p_true_equals_softmax_of_the_models_answer_logits(models, template, answers, prompt):
    model = load_model(models["t5"], family="seq2seq", template=template, cache_path="none")
    [scores] = model.rerank([RankRequest("1", "og", QUERY, INSTRUCTION, ("d1", "d2", "d4"))], CORPUS)
    tok = transformers.AutoTokenizer.from_pretrained(models["t5"])
    t5 = transformers.AutoModelForSeq2SeqLM.from_pretrained(models["t5"]).eval()
    answer_ids = tok.convert_tokens_to_ids(list(answers))
    assert tok.unk_token_id not in answer_ids and len(set(answer_ids)) == 2
    for doc in ("d1", "d2", "d4"):
        text = prompt.format(q=f"{QUERY} {INSTRUCTION}", d=CORPUS[doc].full_text)
        input_ids = tok(text, return_tensors="pt")["input_ids"]
        assert input_ids[0, -1].item() == tok.eos_token_id
        with torch.no_grad():
            logits = t5(input_ids=input_ids, decoder_input_ids=torch.zeros((1, 1), dtype=torch.long)).logits
        yes, no = logits[0, 0, answer_ids].double().tolist()
        expected = 1.0 / (1.0 + math.exp(no - yes))
        assert 0.0 < scores[doc] < 1.0
        assert scores[doc] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert len(set(scores.values())) == 3


def test_seq2seq_batch_padding_does_not_change_scores(models):
    model = load_model(models["t5"], family="seq2seq", template="monot5", cache_path="none")
    pairs = [(f"{QUERY} {INSTRUCTION}", CORPUS[d].full_text) for d in CORPUS] + [(QUERY, LONG[:200])]
    batched = model.score(pairs)
    single = [model.score([p])[0] for p in pairs]
    assert batched == pytest.approx(single, rel=1e-5, abs=1e-6)


def test_seq2seq_truncates_the_document_end_only(models):
    model = load_model(models["t5"], family="seq2seq", template="monot5", cache_path="none", max_length=40,
                       truncation="document")  # the corrected setting; the paper's cuts the cue (test_golden_inputs)
    model.score([(QUERY, "warm up")])  # loads the tokenizer
    tok = transformers.AutoTokenizer.from_pretrained(models["t5"])
    query = f"{QUERY} {INSTRUCTION}"
    ids = model.encode(query, LONG)
    assert len(ids) <= 40 and len(tok(LONG)["input_ids"]) > 100
    head = tok(f"Query: {query} Document:", add_special_tokens=False)["input_ids"]
    tail = tok(" Relevant:")["input_ids"]  # the answer cue, then </s>
    assert ids[:len(head)] == head
    assert ids[-len(tail):] == tail
    kept = tok.decode(ids[len(head):-len(tail)]).strip()
    assert kept and LONG.startswith(kept)
    # short inputs are left whole
    whole = tok(f"Query: {QUERY} Document: coral reef Relevant:")["input_ids"]
    assert model.encode(QUERY, "coral reef") == whole


def test_causal_lm_left_padding_keeps_absolute_positions(models):
    """Batched (left-padded) scores equal one-by-one scores for a model with absolute position embeddings."""
    model = load_model(models["gpt2"], family="causal-lm", template="followir-7b", cache_path="none",
                       max_length=1024)
    pairs = [(QUERY, "the galaxy"), (f"{QUERY} {INSTRUCTION}", CORPUS["d3"].text), (QUERY, LONG[:300])]
    lengths = [len(model.encode(q, d)) for q, d in pairs]
    assert len(set(lengths)) == 3 and max(lengths) < 1024
    batched = model.score(pairs)
    single = [model.score([p])[0] for p in pairs]
    assert all(0.0 < v < 1.0 for v in batched)
    assert batched == pytest.approx(single, rel=1e-5, abs=1e-6)
    # and one-by-one equals the softmax over the model's own two answer logits, no padding anywhere
    gpt2 = transformers.AutoModelForCausalLM.from_pretrained(models["gpt2"]).eval()
    ids = model.encode(*pairs[0])
    with torch.no_grad():
        logits = gpt2(input_ids=torch.tensor([ids])).logits[0, -1, list(model.answer_ids)].double()
    assert single[0] == pytest.approx(torch.softmax(logits, -1)[0].item(), rel=1e-5)
