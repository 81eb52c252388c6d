"""The exact input a registered model gets for one (query, instruction, passage), without loading weights.

``render_input(name, query, instruction, passage)`` renders it with the same template code the model
families use, so a user can compare it with the paper's code (``templates.yaml`` cites file and lines).

>>> print(render_input("monot5-base", "q", "i", "p").prompt)
Query: q i Document: p Relevant:
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from followir.models.registry import FAMILIES, resolve
from followir.models.templates import Template, get_template
from followir.records import Document

SAMPLE_QUERY = "Iran nuclear weapons program"
SAMPLE_INSTRUCTION = ("A relevant document reports on Iran's efforts to build a nuclear weapon. Documents about "
                      "civilian nuclear power plants are not relevant.")
SAMPLE_TITLE = ""
SAMPLE_PASSAGE = ("Tehran, Jan. 3 -- Officials said the Bushehr reactor, dying since 1979, will produce "
                  "electricity by 1996.")

LLAMA_BOS = "<s>"  # {bos} without a tokenizer: the BOS text of Llama and Mistral tokenizers

_LAYOUTS = {
    "bm25": "bag of words: query terms scored against the passage terms of the query's candidate pool",
    "bi-encoder": "query text and passage text embedded separately",
    "api-embedder": "query text and passage text embedded separately (query/document input types)",
    "cross-encoder": "one pair (first, second) through the tokenizer; only the second is truncated",
    "enc-t5": "token ids <s> first </s> second </s>; only the second is truncated",
    "seq2seq": "prompt to the encoder; one decoder step from the start token",
    "causal-lm": "prompt; the answer is read at the last position",
}
_SCORES = {
    "bm25": "Okapi BM25, k1=1.5, b=0.75, epsilon=0.25 (rank_bm25.BM25Okapi defaults)",
    "bi-encoder": "similarity of the two embeddings",
    "api-embedder": "cosine similarity of the two embeddings",
    "cross-encoder": "softmax p(label 1) for a two-label head, the logit for a one-label head",
    "enc-t5": "softmax(classifier(hidden state of <s>))[label 1]",
    "seq2seq": "p(first answer token) from a softmax over the two answer tokens' logits",
    "causal-lm": "p(first answer token) from a softmax over the two answer tokens' logits",
}


@dataclass(frozen=True)
class ModelInput:
    """What one model is given. Fields that do not apply to the family are None."""

    model: str
    family: str
    template: str | None
    layout: str
    query: str | None = None  # embedders: the query text; pair models: the first text of the pair
    passage: str | None = None  # embedders: the passage text; pair models: the second text
    prompt: str | None = None  # seq2seq and causal-lm: the text given to the tokenizer
    query_terms: tuple[str, ...] | None = None  # bm25
    passage_terms: tuple[str, ...] | None = None  # bm25
    add_special_tokens: bool | None = None  # whether the tokenizer adds its special tokens to the prompt
    truncation: str | None = None
    max_length: int | None = None
    answer_tokens: tuple[str, str] | None = None
    score: str = ""
    reference: str = ""
    settings: dict = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"model: {self.model} ({self.family}{', template ' + self.template if self.template else ''})",
                 f"input: {self.layout}"]
        for label, value in (("query", self.query), ("passage", self.passage), ("prompt", self.prompt)):
            if value is not None:
                lines.append(f"{label}: {value!r}")
        if self.query_terms is not None:
            lines.append(f"query terms: {list(self.query_terms)}")
            lines.append(f"passage terms: {list(self.passage_terms or ())}")
        if self.add_special_tokens is not None:
            lines.append(f"tokenizer adds special tokens: {'yes' if self.add_special_tokens else 'no'}")
        if self.max_length is not None:
            lines.append(f"max length: {self.max_length} tokens ({self.truncation})")
        if self.answer_tokens:
            lines.append(f"answer tokens: {list(self.answer_tokens)}")
        lines.append(f"score: {self.score}")
        if self.reference:
            lines.append(f"reference: {self.reference}")
        return "\n".join(lines)


def _defaults(family: str) -> dict:
    """The family factory's keyword defaults (max_length and the like), without importing torch."""
    import importlib

    module, _, attr = FAMILIES[family].factory.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    return {k: p.default for k, p in inspect.signature(factory).parameters.items()
            if p.default is not inspect.Parameter.empty}


def render_input(name: str, query: str = SAMPLE_QUERY, instruction: str = SAMPLE_INSTRUCTION,
                 passage: str = SAMPLE_PASSAGE, title: str = SAMPLE_TITLE, family: str | None = None,
                 tokenizer=None, **overrides) -> ModelInput:
    """The exact input of model ``name`` (registered, or any name with ``family``) for one pair.

    ``passage`` and ``title`` make the document (``followir.records.Document``); ``overrides`` are model
    settings (``template``, ``truncation``, ``add_special_tokens``, ``max_length``). Chat templates need
    the model's tokenizer: pass ``tokenizer``, or it is loaded from the model's files. Without a tokenizer
    ``{bos}`` shows as "<s>", the BOS of the Llama and Mistral tokenizers the paper's prompts were for.
    """
    spec = resolve(name, family)
    settings = {**_defaults(spec.family), **dict(spec.settings), **overrides}
    doc = Document("sample", passage, title)
    if spec.family == "bm25":
        from followir.models.bm25 import BM25

        bm25 = BM25(**{k: v for k, v in settings.items() if k in inspect.signature(BM25).parameters})
        analyzer = bm25.analyzer
        if getattr(analyzer, "name", "") == "paper":
            terms = analyzer(query) + analyzer(instruction.strip())
        else:
            terms = analyzer(f"{query} {instruction}".strip())
        return ModelInput(spec.name, spec.family, None, _LAYOUTS["bm25"], query_terms=tuple(terms),
                          passage_terms=tuple(analyzer(doc.full_text)), score=_SCORES["bm25"],
                          reference="orionw/FollowIR models/bm25/evaluate_bm25.py" if analyzer.name == "paper"
                          else "", settings=settings)
    template: Template = get_template(settings.get("template") or "plain")
    base = dict(model=spec.name, family=spec.family, template=template.name, layout=_LAYOUTS[spec.family],
                score=_SCORES[spec.family], reference=template.reference, settings=settings)
    query_text = template.render_query(query, instruction)
    if spec.family in ("bi-encoder", "api-embedder"):
        score = _SCORES[spec.family]
        if spec.family == "bi-encoder":
            score = f"{settings.get('similarity') or 'cosine'} similarity of the two embeddings"
        return ModelInput(**{**base, "score": score}, query=query_text, passage=template.render_passage(doc),
                          max_length=settings.get("max_length"), truncation="the model's own" if
                          settings.get("max_length") is None else "each text cut at its end")
    if spec.family in ("cross-encoder", "enc-t5"):
        return ModelInput(**base, query=query_text, passage=template.render_passage(doc),
                          max_length=settings.get("max_length"), truncation="only the second text is cut",
                          add_special_tokens=True)
    truncation = settings.get("truncation") or template.truncation
    cut = ("prompt-end: the tokenizer keeps the first max_length tokens" if truncation == "prompt-end"
           else "document: only the passage is cut")
    special = settings.get("add_special_tokens")
    special = template.add_special_tokens if special is None else special
    if spec.family == "seq2seq":
        prompt = template.fill_prompt(query_text, doc.full_text)
        special = True
    elif template.prompt is not None:
        bos = LLAMA_BOS if tokenizer is None else (tokenizer.bos_token or "")
        prompt = template.fill_prompt(query_text, doc.full_text, bos=bos)
    else:
        if tokenizer is None:
            from followir.models.causal_lm import CausalLMReranker
            from followir.models.registry import resolve_model_id

            keys = ("revision", "gguf_file", "trust_remote_code")
            tokenizer = CausalLMReranker(resolve_model_id(spec.model_id), template=template.name,
                                         **{k: settings[k] for k in keys if k in settings}).tokenizer
        messages = ([{"role": "system", "content": template.system}] if template.system else [])
        messages.append({"role": "user", "content": template.user.format(query=query_text, document=doc.full_text)})
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return ModelInput(**base, prompt=prompt, add_special_tokens=bool(special), truncation=cut,
                      max_length=settings.get("max_length"), answer_tokens=template.answer_tokens)
