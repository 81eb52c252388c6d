"""Input templates (followir/models/templates.yaml): validation of every entry and of bad entries, and the
exact text each prompt template renders."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from followir.errors import UnknownNameError
from followir.models.templates import (
    KEYS,
    NEEDS,
    PLACEHOLDERS,
    Template,
    TemplateError,
    get_template,
    load_templates,
    validate,
)

QUERY = "space telescope scientific achievements"
INSTRUCTION = "A relevant document reports a result obtained with the Meridian Space Telescope."
DOCUMENT = "Meridian imaged a distant galaxy forming stars 12 billion years ago."


def raw_templates() -> dict:
    text = (resources.files("followir.models") / "templates.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


# -- the shipped templates ---------------------------------------------------------------------------

def test_every_shipped_template_validates():
    raw = raw_templates()
    assert len(raw) >= 14
    loaded = load_templates()
    assert set(loaded) == set(raw)
    for name, entry in raw.items():
        template = validate(name, entry)
        assert template == loaded[name] == get_template(name)
        assert template.family in NEEDS
        assert set(entry) <= KEYS
        assert "{query}" in template.query_format
        if template.family in ("seq2seq", "causal-lm"):
            assert template.answer_tokens is not None and len(template.answer_tokens) == 2
            assert template.answer_tokens[0] != template.answer_tokens[1]
        if template.family == "seq2seq":
            assert template.prompt is not None
        if template.family == "causal-lm":
            assert (template.prompt is None) != (template.user is None)


def test_expected_templates_and_families():
    families = {name: t.family for name, t in load_templates().items()}
    assert families["plain"] == families["e5"] == families["bge"] == families["instructor"] == "bi-encoder"
    assert families["cross-encoder"] == "cross-encoder"
    assert families["tart-full"] == "cross-encoder"  # an encoder-only T5 classifier on pairs (enc-t5 family)
    assert families["monot5"] == families["flan-t5"] == "seq2seq"
    assert families["followir-7b"] == families["llama2-chat"] == families["chat"] == "causal-lm"
    assert families["mistral-instruct"] == families["llama2"] == families["gritlm-reranker"] == "causal-lm"
    for name in ("monot5", "flan-t5", "followir-7b", "mistral-instruct", "llama2-chat", "llama2", "gritlm-reranker"):
        t = get_template(name)
        assert (t.truncation, t.add_special_tokens) == ("prompt-end", True), name  # as the paper's tokenizer call
        assert t.reference.startswith("orionw/FollowIR models/rerankers/reranker_models.py"), name
    assert get_template("chat").truncation == "document" and not get_template("chat").add_special_tokens
    assert get_template("monot5").answer_tokens == ("▁true", "▁false")
    assert get_template("flan-t5").answer_tokens == ("▁yes", "▁no")
    assert get_template("followir-7b").answer_tokens == ("true", "false")
    assert get_template("chat").uses_chat_template and not get_template("followir-7b").uses_chat_template


def test_unknown_template_name():
    with pytest.raises(UnknownNameError, match="unknown template 'nope'"):
        get_template("nope")


# -- validation errors -------------------------------------------------------------------------------

MONOT5_PROMPT = "Query: {query} Document: {document} Relevant:"
GOOD_SEQ2SEQ = {"family": "seq2seq", "query_format": "{query} {instruction}", "prompt": MONOT5_PROMPT,
                "answer_tokens": ["▁true", "▁false"]}


def test_good_dict_validates_into_template():
    t = validate("mine", dict(GOOD_SEQ2SEQ))
    assert t == Template(name="mine", family="seq2seq", query_format="{query} {instruction}",
                         prompt=MONOT5_PROMPT, answer_tokens=("▁true", "▁false"))


def test_unknown_key_is_rejected():
    with pytest.raises(TemplateError, match=r"template 'mine' has unknown keys \['promt'\]"):
        validate("mine", {**GOOD_SEQ2SEQ, "promt": "x"})


@pytest.mark.parametrize("key, text, bad", [
    ("query_format", "{query} {context}", "context"),
    ("prompt", "Query: {query} Document: {passage} {document}", "passage"),
    ("prompt", "Query: {query} Document: {document} {}", ""),
    ("prompt", "Query: {query} Document: {document} {0}", "0"),
])
def test_unknown_placeholder_is_rejected(key, text, bad):
    with pytest.raises(TemplateError, match="unknown placeholders") as info:
        validate("mine", {**GOOD_SEQ2SEQ, key: text})
    assert repr(bad) in str(info.value) and f"mine.{key}" in str(info.value)


def test_every_allowed_placeholder_is_accepted():
    prompt = "{bos}Query: {query} Document: {document} Relevant:"
    assert validate("mine", {**GOOD_SEQ2SEQ, "prompt": prompt}).prompt == prompt
    assert PLACEHOLDERS == {"query", "instruction", "document", "bos", "title", "text"}


def test_fidelity_keys_are_validated():
    assert validate("mine", {**GOOD_SEQ2SEQ, "truncation": "prompt-end"}).truncation == "prompt-end"
    assert validate("mine", dict(GOOD_SEQ2SEQ)).truncation == "document"
    with pytest.raises(TemplateError, match=r"mine.truncation must be one of \['prompt-end', 'document'\]"):
        validate("mine", {**GOOD_SEQ2SEQ, "truncation": "left"})
    with pytest.raises(TemplateError, match="mine.add_special_tokens must be true or false"):
        validate("mine", {**GOOD_SEQ2SEQ, "add_special_tokens": "yes"})
    with pytest.raises(TemplateError, match="mine.empty_instruction must be a string"):
        validate("mine", {**GOOD_SEQ2SEQ, "empty_instruction": 3})
    t = validate("mine", {**GOOD_SEQ2SEQ, "empty_instruction": "generic"})
    assert t.render_query("q", "") == t.render_query("q", "  ") == "q generic"


@pytest.mark.parametrize("entry, missing", [
    ({"family": "seq2seq", "query_format": "{query}", "answer_tokens": ["a", "b"]}, "prompt"),
    ({"family": "seq2seq", "query_format": "{query}", "prompt": "{query} {document}"}, "answer_tokens"),
    ({"family": "bi-encoder", "query_format": "{query}"}, "document_format"),
    ({"family": "bi-encoder", "document_format": "{document}"}, "query_format"),
    ({"family": "causal-lm", "query_format": "{query}", "answer_tokens": ["true", "false"]},
     "prompt or user"),
    ({"family": "causal-lm", "query_format": "{query}", "prompt": "{query} {document}"}, "answer_tokens"),
])
def test_missing_fields_are_rejected(entry, missing):
    with pytest.raises(TemplateError, match="lacks") as info:
        validate("mine", entry)
    assert repr(missing) in str(info.value)


def test_bad_family_and_bad_types_are_rejected():
    with pytest.raises(TemplateError, match="has family 'decoder'"):
        validate("mine", {**GOOD_SEQ2SEQ, "family": "decoder"})
    with pytest.raises(TemplateError, match="has family None"):
        validate("mine", {k: v for k, v in GOOD_SEQ2SEQ.items() if k != "family"})
    with pytest.raises(TemplateError, match="must be a mapping"):
        validate("mine", ["family", "seq2seq"])
    with pytest.raises(TemplateError, match="mine.prompt must be a string"):
        validate("mine", {**GOOD_SEQ2SEQ, "prompt": 3})
    with pytest.raises(TemplateError, match=r"query_format must contain \{query\}"):
        validate("mine", {**GOOD_SEQ2SEQ, "query_format": "{instruction}"})
    with pytest.raises(TemplateError, match=r"mine.prompt must contain \{query\} and \{document\}"):
        validate("mine", {**GOOD_SEQ2SEQ, "prompt": "Query: {query} Relevant:"})
    with pytest.raises(TemplateError, match=r"mine.user must contain"):
        validate("mine", {"family": "causal-lm", "query_format": "{query}", "user": "Document: {document}",
                          "answer_tokens": ["true", "false"]})


@pytest.mark.parametrize("tokens", [
    ["▁true"],
    ["▁true", "▁false", "▁maybe"],
    ["▁true", ""],
    ["▁true", 1],
    "▁true ▁false",
    [],
    {"true": "▁true", "false": "▁false"},
])
def test_bad_answer_tokens_are_rejected(tokens):
    with pytest.raises(TemplateError, match=r"mine.answer_tokens must be \[true_token, false_token\]"):
        validate("mine", {**GOOD_SEQ2SEQ, "answer_tokens": tokens})


def test_template_error_is_a_value_error_naming_the_source():
    with pytest.raises(ValueError, match=r"^custom.yaml: template 'mine' has unknown keys"):
        validate("mine", {**GOOD_SEQ2SEQ, "extra": 1}, source="custom.yaml")


# -- exact rendering ---------------------------------------------------------------------------------

def test_followir_7b_prompt_is_exact():
    rendered = get_template("followir-7b").render_prompt(QUERY, INSTRUCTION, DOCUMENT, bos="<s>")
    expected = (
        "<s> [INST] You are an expert Google searcher, whose job is to determine if the following document "
        "is relevant to the query (true/false). Answer using only one word, one of those two choices.\n\n"
        "Query: space telescope scientific achievements A relevant document reports a result obtained with "
        "the Meridian Space Telescope.\n"
        "Document: Meridian imaged a distant galaxy forming stars 12 billion years ago.\n"
        "Relevant (only output one word, either \"true\" or \"false\"): [/INST] "
    )
    assert rendered == expected


def test_followir_7b_prompt_without_bos_and_without_instruction():
    rendered = get_template("followir-7b").render_prompt(QUERY, "", DOCUMENT)
    assert rendered.startswith(" [INST] You are an expert Google searcher")
    assert f"\n\nQuery: {QUERY}\nDocument: {DOCUMENT}\n" in rendered
    assert rendered.endswith('either "true" or "false"): [/INST] ')


def test_llama2_chat_prompt_is_exact():
    # orionw/FollowIR models/rerankers/reranker_models.py L181-185
    rendered = get_template("llama2-chat").render_prompt("q", "i", "d", bos="<s>")
    assert rendered == (
        "<s>[INST] <<SYS>>\nYou are an expert at finding information. Determine if the following document is "
        "relevant to the query (true/false).\n<</SYS>>Query: q i\nDocument: d\nRelevant: [/INST]"
    )


def test_monot5_format_matches_its_docstring():
    t = get_template("monot5")
    assert t.render_prompt(query="q", instruction="i", document="d") == "Query: q i Document: d Relevant:"
    assert t.render_prompt(QUERY, INSTRUCTION, DOCUMENT) == (
        f"Query: {QUERY} {INSTRUCTION} Document: {DOCUMENT} Relevant:")
    assert t.render_prompt("q", "", "d") == "Query: q Document: d Relevant:"


def test_flan_t5_and_tart_full_formats():
    flan = get_template("flan-t5")
    question = "Is the following passage relevant to the query?"
    assert flan.render_prompt("q", "i", "d") == f"{question}\nQuery: q i\nPassage: d"
    assert flan.render_prompt("q", "", "d") == f"{question}\nQuery: q\nPassage: d"
    tart = get_template("tart-full")
    assert tart.render_query("q", "i") == "q [SEP] i"
    assert tart.render_query("q", "") == "q [SEP] Retrieve news paper paragraph to answer this question"


def test_bi_encoder_formats():
    assert get_template("plain").render_query("q", "i") == "q i"
    assert get_template("e5").render_query("q", "i") == "query: q i"
    assert get_template("e5").render_document("d") == "passage: d"
    assert get_template("bge").render_query("q", "i") == "i: q"
    assert get_template("bge").render_query("q", "") == "None: q"
    assert get_template("bge-prefix").render_query("q", "i") == (
        "Represent this sentence for searching relevant passages: q i")
    assert get_template("e5-mistral").render_query("q", "i") == "q i"
    assert get_template("e5-mistral").render_query("q", "") == (
        "q Given a web search query, retrieve relevant passages that answer the query")
    assert get_template("e5-mistral-instruct").render_query("q", "i") == "Instruct: i\nQuery: q"
    assert get_template("google").render_query("q", "i") == "i q"
    assert get_template("gritlm").render_query("q", "i") == "<|user|>\ni\n<|embed|>\n q"
    assert get_template("gritlm").render_document("t d", "t", "d") == "<|embed|>\n t d"
    assert get_template("gritlm").render_document("d", "", "d") == "<|embed|>\n  d"
    assert get_template("tart").render_query("q", "i") == "q [SEP] i"
    assert get_template("instructor").render_document("d") == "Represent the news document for retrieval: d"


def test_chat_template_user_message_and_no_fixed_prompt():
    chat = get_template("chat")
    assert chat.render_user("q", "i", "d") == (
        'Query: q i\nDocument: d\nRelevant (only output one word, either "true" or "false"):')
    assert chat.system.startswith("You are an expert Google searcher")
    with pytest.raises(TemplateError, match="has no prompt"):
        chat.render_prompt("q", "i", "d")
    with pytest.raises(TemplateError, match="has no chat 'user' message"):
        get_template("monot5").render_user("q", "i", "d")


@pytest.mark.parametrize("name", sorted(load_templates()))
def test_no_instruction_rendering_has_no_trailing_space(name):
    t = get_template(name)
    query = t.render_query(QUERY, "")
    assert QUERY in query
    assert query == query.rstrip(), repr(query)
    assert "  " not in query and "{" not in query
    if t.query_format.startswith("{query} {instruction}") and t.empty_instruction is None:
        assert query == QUERY
    if t.prompt is not None:
        prompt = t.render_prompt(QUERY, "", DOCUMENT)
        assert prompt == t.prompt.format(query=query, document=DOCUMENT, bos="")
        assert f"{query} \n" not in prompt and f"{query}  " not in prompt


def test_braces_in_values_are_kept_verbatim():
    t = get_template("monot5")
    assert t.render_prompt("a {query} b", "{instruction}", "{document} {}") == (
        "Query: a {query} b {instruction} Document: {document} {} Relevant:")
    assert get_template("plain").render_query("x {0}", "") == "x {0}"
