"""Every registered model's input for one fixed (query, instruction, passage), character for character
against the paper's code.

Expected strings are written by hand from reading the reference, orionw/FollowIR at 61ad33e (2024-05-08)
with mteb 1.7.64 (its requirements.txt); each entry cites file and lines. ``followir.models.inputs.
render_input`` renders with the template code the families run; the tiny-model tests at the end check that
the families tokenize exactly those renderings the way the reference's tokenizer calls did.
"""

from __future__ import annotations

import string

import pytest

from followir.models.inputs import ModelInput, render_input
from followir.models.registry import MODELS
from followir.records import Document

QUERY = "Iran nuclear program"
INSTRUCTION = "Relevant documents name a reactor."
PASSAGE = "The Bushehr reactor, dying since 1979, will produce power."
TITLE = "Bushehr"  # a titled passage: mteb gave (title + " " + text).strip()
Q_I = f"{QUERY} {INSTRUCTION}"  # f"{q} {i}".strip(): mteb DRESModel L303-307 and every reranker's predict
DOC = f"{TITLE} {PASSAGE}"
MTEB = "mteb 1.7.64 mteb/evaluation/evaluators/RetrievalEvaluator.py"
RR = "orionw/FollowIR models/rerankers/reranker_models.py"

# name -> (expected fields of render_input(name, QUERY, INSTRUCTION, PASSAGE, TITLE), citation)
GOLDEN: dict[str, tuple[dict, str]] = {
    # evaluate_bm25.py clean() L21-26; query/instruction cleaned separately L40-43; split on " " L34, L48
    "bm25": ({"query_terms": ("iran", "nuclear", "program", "relev", "document", "name", "reactor"),
              "passage_terms": ("bushehr", "bushehr", "reactor", "die", "sinc", "1979", "produc", "power")},
             "orionw/FollowIR models/bm25/evaluate_bm25.py L21-26, L33-48"),
    "bm25-corpus": ({"query_terms": ("iran", "nuclear", "program", "relev", "document", "name", "reactor")},
                    "evaluate_bm25.py analysis with collection statistics (not the paper's protocol)"),
    "bm25-regex": ({"query_terms": ("iran", "nuclear", "program", "relev", "document", "name", "reactor"),
                    "passage_terms": ("bushehr", "bushehr", "reactor", "dy", "sinc", "1979", "produc", "power")},
                   "followir's earlier analysis (not the paper's): \\w\\w+ tokens, PyStemmer Porter"),
    # evaluate_e5.py encode_queries (query_or_passage): f'query: {(q + " " + i).strip()}';
    # encode_corpus: 'passage: ' + '{} {}'.format(title, text).strip()
    "e5-base-v2": ({"query": f"query: {Q_I}", "passage": f"passage: {DOC}"},
                   "orionw/FollowIR models/e5/evaluate_e5.py encode_queries/encode_corpus"),
    "e5-large-v2": ({"query": f"query: {Q_I}", "passage": f"passage: {DOC}"},
                    "orionw/FollowIR models/e5/evaluate_e5.py encode_queries/encode_corpus"),
    # SentenceTransformer through mteb's DRESModel: encode_queries L303-307, encode_corpus L334-338
    "contriever": ({"query": Q_I, "passage": DOC}, f"{MTEB} DRESModel"),
    "all-minilm-l6-v2": ({"query": Q_I, "passage": DOC}, f"{MTEB} DRESModel (not in Table 2)"),
    # flag_dres_model.py encode_queries: '{}: {}'.format(instruction, query).strip()
    "bge-base": ({"query": f"{INSTRUCTION}: {QUERY}", "passage": DOC},
                 "orionw/FollowIR models/bge/flag_dres_model.py encode_queries/encode_corpus"),
    "bge-large": ({"query": f"{INSTRUCTION}: {QUERY}", "passage": DOC},
                  "orionw/FollowIR models/bge/flag_dres_model.py encode_queries/encode_corpus"),
    # evaluate_instructor.py: Instructor has no encode_queries, so mteb wraps it in DRESModel (plain strings)
    "instructor-base": ({"query": Q_I, "passage": DOC},
                        f"orionw/FollowIR models/instructor/evaluate_instructor.py + {MTEB} L400-406"),
    "instructor-xl": ({"query": Q_I, "passage": DOC},
                      f"orionw/FollowIR models/instructor/evaluate_instructor.py + {MTEB} L400-406"),
    # evaluate_sentence_transformer.py: InstructionSentenceTransformer lacks encode_corpus, so it is not
    # dres-compatible and mteb wraps it in DRESModel: its "[SEP]" encode_queries never runs
    "tart-contriever": ({"query": Q_I, "passage": DOC},
                        f"orionw/FollowIR models/base_sentence_transformer/evaluate_sentence_transformer.py "
                        f"+ {MTEB} is_dres_compatible L362-367, L400-406"),
    # evaluate_e5.py prefix_type 'instruction' (model_config.py): (q + " " + i).strip(), no prefix on passages
    "e5-mistral": ({"query": Q_I, "passage": DOC}, "orionw/FollowIR models/e5/evaluate_e5.py encode_queries"),
    # downloaded_gritlm.py L9-10 (format), L85-88 (queries), L95-101 (passages), L133 ((i + " " + s).strip())
    "gritlm-7b": ({"query": f"<|user|>\n{INSTRUCTION}\n<|embed|>\n {QUERY}", "passage": f"<|embed|>\n {DOC}"},
                  "orionw/FollowIR models/gritlm/downloaded_gritlm.py L9-10, L81-102, L131-134"),
    # MonoBERTReranker.predict L365-385: (f"{q} {i}".strip(), passage), truncation="only_second"
    "monobert": ({"query": Q_I, "passage": DOC, "max_length": 512}, f"{RR} L336-385"),
    # MonoT5Reranker L73-167: prompt_template L75, query join L140, tokenizer(truncation=True) L150-157
    "monot5-base": ({"prompt": f"Query: {Q_I} Document: {DOC} Relevant:", "answer_tokens": ("▁true", "▁false"),
                     "max_length": 512}, f"{RR} L21-35, L73-167"),
    "monot5-3b": ({"prompt": f"Query: {Q_I} Document: {DOC} Relevant:", "answer_tokens": ("▁true", "▁false"),
                   "max_length": 512}, f"{RR} L21-35, L73-167"),
    # FLANT5Reranker L323-332: prompt_template, answer ids of encode("yes")/encode("no")
    "flan-t5-base": ({"prompt": f"Is the following passage relevant to the query?\nQuery: {Q_I}\nPassage: {DOC}",
                      "answer_tokens": ("▁yes", "▁no")}, f"{RR} L323-332"),
    "flan-t5-large": ({"prompt": f"Is the following passage relevant to the query?\nQuery: {Q_I}\nPassage: {DOC}",
                       "answer_tokens": ("▁yes", "▁no")}, f"{RR} L323-332"),
    # TARTFullReranker.predict L402-408 and max_length 1024 L394
    "tart-full": ({"query": f"{QUERY} [SEP] {INSTRUCTION}", "passage": DOC, "max_length": 1024},
                  f"{RR} L388-442"),
    # evaluate_api.py encode L82-85 ((s + " " + i).strip()), encode_corpus L46
    "openai-v3-large": ({"query": Q_I, "passage": DOC}, "orionw/FollowIR models/api/evaluate_api.py L40-85"),
    "cohere-v3-english": ({"query": Q_I, "passage": DOC}, "orionw/FollowIR models/api/evaluate_api.py L40-85"),
    # evaluate_google_api.py L58-59: (i + " " + s).strip(), instruction first; L40 passages
    "google-gecko": ({"query": f"{INSTRUCTION} {QUERY}", "passage": DOC},
                     "orionw/FollowIR models/api/evaluate_google_api.py L40, L58-59"),
    # LlamaReranker L180-185 ("chat" in the name), tokenizer(prompts, truncation=True, max_length=2048) L248-255
    "llama-2-7b-chat": ({"prompt": "<s>[INST] <<SYS>>\nYou are an expert at finding information. Determine if the "
                                   "following document is relevant to the query (true/false).\n<</SYS>>Query: "
                                   f"{Q_I}\nDocument: {DOC}\nRelevant: [/INST]",
                         "answer_tokens": ("true", "false"), "add_special_tokens": True, "max_length": 2048},
                        f"{RR} L170-270"),
    # LlamaReranker L186-191 (no "chat" in the name)
    "llama-2-7b": ({"prompt": "Determine if the following document is relevant to the query (true/false).\n\n"
                              f"Query: {Q_I}\nDocument: {DOC}\nRelevant: ",
                    "answer_tokens": ("true", "false"), "add_special_tokens": True}, f"{RR} L186-191"),
    # GritLMReranker L288-301 (the query appears twice; no space before "Only")
    "gritlm-reranker": ({"prompt": "<|user|>\nRank the passage based on its relevance to the search query "
                                   f"(true/false) {Q_I}.\n\n{DOC}\n\nSearch Query: {Q_I}.\n\nDetermine the "
                                   "passage's relevance to the search query.Only respond with true or false, "
                                   "do not say any other word or explain.\n<|assistant|>\n",
                         "answer_tokens": ("true", "false"), "add_special_tokens": True}, f"{RR} L288-301"),
    # MistralReranker L273-285
    "mistral-7b-instruct": ({"prompt": "<s>[INST] You are an expert Google searcher, whose job is to determine if "
                                       "the following document is relevant to the query (true/false).\nQuery: "
                                       f"{Q_I}\nDocument: {DOC}\nRelevant (either \"true\" or \"false\"): [/INST]",
                             "answer_tokens": ("true", "false"), "add_special_tokens": True}, f"{RR} L273-285"),
    # FollowIRReranker L304-319
    "followir-7b": ({"prompt": "<s> [INST] You are an expert Google searcher, whose job is to determine if the "
                               "following document is relevant to the query (true/false). Answer using only one "
                               f"word, one of those two choices.\n\nQuery: {Q_I}\nDocument: {DOC}\nRelevant (only "
                               "output one word, either \"true\" or \"false\"): [/INST] ",
                     "answer_tokens": ("true", "false"), "add_special_tokens": True, "max_length": 2048},
                    f"{RR} L304-319"),
}
NOT_FROM_THE_PAPER = {"smollm2-135m-instruct"}  # a chat-template model; its own chat template is the format

# Table 2 of the paper, row by row, and the registered name of each
TABLE_2 = {
    "E5-base-v2": "e5-base-v2", "Contriever": "contriever", "MonoBERT": "monobert", "BM25": "bm25",
    "MonoT5-base": "monot5-base", "E5-large-v2": "e5-large-v2", "MonoT5-3B": "monot5-3b",
    "TART-Contriever": "tart-contriever", "INSTRUCTOR-base": "instructor-base", "E5-mistral": "e5-mistral",
    "BGE-base": "bge-base", "INSTRUCTOR-xl": "instructor-xl", "BGE-large": "bge-large", "GritLM-7B": "gritlm-7b",
    "TART-FLAN-T5-xl": "tart-full", "OpenAI v3 Large": "openai-v3-large", "Cohere v3 English": "cohere-v3-english",
    "Google Gecko": "google-gecko", "FLAN-T5-base": "flan-t5-base", "Llama-2-7B-chat": "llama-2-7b-chat",
    "FLAN-T5-large": "flan-t5-large", "GritLM-Reranker": "gritlm-reranker",
    "Mistral-7B-instruct": "mistral-7b-instruct", "FollowIR-7B": "followir-7b",
}


def test_every_registered_model_has_a_golden_input():
    assert set(GOLDEN) | NOT_FROM_THE_PAPER == set(MODELS)


def test_every_table_2_row_is_a_registered_name():
    assert len(TABLE_2) == 24 and set(TABLE_2.values()) <= set(MODELS)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_input(name):
    expected, citation = GOLDEN[name]
    assert citation
    got = render_input(name, QUERY, INSTRUCTION, PASSAGE, TITLE)
    assert isinstance(got, ModelInput) and got.model == name
    for key, value in expected.items():
        assert getattr(got, key) == value, (name, key)
    assert str(got).startswith(f"model: {name} ")


def test_empty_instruction_inputs():
    # TARTFullReranker L405-406: the generic instruction; flag_dres_model.py: "None: query" (the
    # FollowIR run set query_instruction_for_retrieval to None); evaluate_e5.py: generic task instruction
    assert render_input("tart-full", QUERY, "", PASSAGE).query == (
        f"{QUERY} [SEP] Retrieve news paper paragraph to answer this question")
    assert render_input("bge-base", QUERY, "", PASSAGE).query == f"None: {QUERY}"
    assert render_input("e5-mistral", QUERY, "", PASSAGE).query == (
        f"{QUERY} Given a web search query, retrieve relevant passages that answer the query")
    assert render_input("gritlm-7b", QUERY, "", PASSAGE).query == f"<|embed|>\n {QUERY}"
    assert render_input("monot5-base", QUERY, " ", PASSAGE).prompt == f"Query: {QUERY} Document: {PASSAGE} Relevant:"
    # GritLM's corpus text is title + " " + text before its own join: an empty title leaves two spaces
    assert render_input("gritlm-7b", QUERY, "", PASSAGE, "").passage == f"<|embed|>\n  {PASSAGE}"
    assert render_input("e5-base-v2", QUERY, "", PASSAGE, "").passage == f"passage: {PASSAGE}"


def test_corrected_settings_show_in_the_rendering():
    paper = render_input("followir-7b")
    fixed = render_input("followir-7b", add_special_tokens=False, truncation="document")
    assert paper.add_special_tokens and not fixed.add_special_tokens
    assert paper.truncation.startswith("prompt-end") and fixed.truncation.startswith("document")
    assert paper.prompt == fixed.prompt


# -- the families feed the model exactly these renderings (tiny random models, no downloads) -----------

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

WORDS = ["iran", "nuclear", "program", "relevant", "documents", "name", "a", "reactor", "the", "bushehr",
         "dying", "since", "will", "produce", "power", "query", "document", "passage", "true", "false", "yes", "no",
         "Query", "Document", "Relevant", "[SEP]", "[INST]", "[/INST]", "Is", "following"]
LONG = " ".join(["the reactor will produce power"] * 40)


def _tokenizer(bos: bool):
    """A Unigram tokenizer over whole words and characters; with ``bos`` it is Llama-like: BOS "<s>" added
    at the start, and "<s>" written in the text is parsed as that special token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    special = ["<pad>", "</s>", "<unk>"] + (["<s>"] if bos else [])
    chars = sorted(set(string.ascii_letters + string.digits + string.punctuation))
    pieces = [(t, 0.0) for t in special] + [("▁" + w, -2.0) for w in dict.fromkeys(WORDS)]
    pieces += [("▁", -3.0)] + [(c, -5.0) for c in chars] + [("▁" + c, -5.0) for c in chars]
    tok = Tokenizer(models.Unigram(pieces, unk_id=2, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    if bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 3)])
        return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                                    pad_token="<pad>", unk_token="<unk>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>",
                                                unk_token="<unk>")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden-models")
    torch.manual_seed(5)
    t5_tok = _tokenizer(bos=False)
    t5 = transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=len(t5_tok) + 1, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
        num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)).eval()
    t5.save_pretrained(root / "t5")
    t5_tok.save_pretrained(root / "t5")
    # an EncT5 checkpoint: T5 encoder weights plus classifier.weight/bias in one file
    encoder = transformers.T5EncoderModel(t5.config).eval()
    encoder.save_pretrained(root / "enc-t5")
    t5_tok.save_pretrained(root / "enc-t5")
    from safetensors.torch import load_file, save_file

    state = load_file(str(root / "enc-t5" / "model.safetensors"))
    state["classifier.weight"] = torch.randn(2, 32) * 3
    state["classifier.bias"] = torch.tensor([0.1, -0.2])
    save_file(state, str(root / "enc-t5" / "model.safetensors"), metadata={"format": "pt"})
    llama_tok = _tokenizer(bos=True)
    llama = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=len(llama_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=4096, bos_token_id=3, eos_token_id=1, pad_token_id=0)).eval()
    llama.save_pretrained(root / "llama")
    llama_tok.save_pretrained(root / "llama")
    return {"t5": str(root / "t5"), "enc-t5": str(root / "enc-t5"), "llama": str(root / "llama"),
            "classifier": (state["classifier.weight"], state["classifier.bias"])}


def test_seq2seq_paper_truncation_cuts_the_answer_cue_and_the_setting_keeps_it(tiny):
    from followir.models.registry import load_model

    paper = load_model(tiny["t5"], family="seq2seq", template="monot5", cache_path="none", max_length=40)
    fixed = load_model(tiny["t5"], family="seq2seq", template="monot5", cache_path="none", max_length=40,
                       truncation="document")
    paper.score([(QUERY, "warm up")])
    fixed.score([(QUERY, "warm up")])
    tok = transformers.AutoTokenizer.from_pretrained(tiny["t5"])
    prompt = render_input("monot5-base", QUERY, INSTRUCTION, LONG).prompt
    # MonoT5Reranker.predict L150-157: tokenizer(prompts, truncation=True, max_length=self.max_length)
    assert paper.encode(Q_I, LONG) == tok(prompt, truncation=True, max_length=40)["input_ids"]
    cue = tok(" Relevant:", add_special_tokens=False)["input_ids"]
    assert paper.encode(Q_I, LONG)[-len(cue) - 1:-1] != cue  # the cue is gone, </s> ends the input
    assert fixed.encode(Q_I, LONG)[-len(cue) - 1:-1] == cue and len(fixed.encode(Q_I, LONG)) <= 40
    short = render_input("monot5-base", QUERY, "", "the reactor").prompt
    assert len(tok(short)["input_ids"]) <= 40
    assert paper.encode(QUERY, "the reactor") == fixed.encode(QUERY, "the reactor") == tok(short)["input_ids"]


def test_causal_lm_paper_tokenization_gives_two_bos_tokens_and_cuts_the_prompt_end(tiny):
    from followir.models.registry import load_model

    paper = load_model(tiny["llama"], family="causal-lm", template="followir-7b", cache_path="none")
    tok = paper.tokenizer
    prompt = render_input("followir-7b", QUERY, INSTRUCTION, PASSAGE, TITLE).prompt
    assert paper.render(Q_I, DOC) == prompt  # {bos} is this tokenizer's "<s>"
    ids = paper.encode(Q_I, DOC)
    # LlamaReranker.predict L248-255: tokenizer(prompts, truncation=True, max_length=2048): BOS added to "<s>"
    assert ids == tok(prompt, truncation=True, max_length=2048)["input_ids"]
    assert ids[:2] == [tok.bos_token_id, tok.bos_token_id] and ids[2] != tok.bos_token_id
    once = load_model(tiny["llama"], family="causal-lm", template="followir-7b", cache_path="none",
                      add_special_tokens=False)
    assert once.encode(Q_I, DOC) == ids[1:]
    cut = load_model(tiny["llama"], family="causal-lm", template="followir-7b", cache_path="none", max_length=60)
    long_ids = cut.encode(Q_I, LONG)
    assert len(long_ids) == 60 and long_ids == tok(cut.render(Q_I, LONG))["input_ids"][:60]
    assert 0.0 < cut.score([(Q_I, LONG)])[0] < 1.0


def test_enc_t5_pair_ids_and_score_equal_the_reference_classifier(tiny):
    from followir.models.base import RankRequest
    from followir.models.registry import load_model

    model = load_model(tiny["enc-t5"], family="enc-t5", cache_path="none", max_length=24)
    model.load()
    tok = model._tokenizer
    first = f"{QUERY} [SEP] {INSTRUCTION}"
    a = tok(first, add_special_tokens=False)["input_ids"]
    b = tok(LONG, add_special_tokens=False)["input_ids"]
    bos = tok.convert_tokens_to_ids("<s>")
    assert bos == len(_tokenizer(bos=False))  # "<s>" is added after the vocabulary, as EncT5Tokenizer's bos
    # tokenization_enc_t5.py L103-112: <s> A </s> B </s>; truncation="only_second", max_length (L426-433)
    ids = model.encode(first, LONG)
    assert ids == [bos, *a, tok.eos_token_id, *b[:24 - len(a) - 3], tok.eos_token_id] and len(ids) == 24
    corpus = {"d": Document("d", LONG)}
    [scores] = model.rerank([RankRequest("q", "og", QUERY, INSTRUCTION, ("d",))], corpus)
    encoder = transformers.T5EncoderModel.from_pretrained(tiny["enc-t5"]).eval()
    weight, bias = tiny["classifier"]
    with torch.no_grad():
        hidden = encoder(input_ids=torch.tensor([ids])).last_hidden_state[:, 0, :]
        expected = torch.softmax(hidden @ weight.T + bias, -1)[0, 1].item()  # modeling_enc_t5.py L101-105
    assert scores["d"] == pytest.approx(expected, rel=1e-5)
    # the generic instruction when the instruction is empty (reranker_models.py L405-406)
    generic = "Retrieve news paper paragraph to answer this question"
    assert model.template.render_query(QUERY, "") == f"{QUERY} [SEP] {generic}"
