"""Input templates as validated data (``templates.yaml``): one named format per model input style.

>>> t = get_template("monot5")
>>> t.render_prompt(query="q", instruction="i", document="d")
'Query: q i Document: d Relevant:'
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from followir.errors import UnknownNameError

PLACEHOLDERS = {"query", "instruction", "document", "bos", "title", "text"}
KEYS = {"family", "description", "query_format", "query_format_no_instruction", "document_format", "prompt",
        "answer_tokens", "system", "user", "empty_instruction", "add_special_tokens", "truncation", "reference"}
TRUNCATIONS = ("prompt-end", "document")  # what a too-long input loses: see Template.truncation
NEEDS = {
    "bi-encoder": {"query_format", "document_format"},
    "cross-encoder": {"query_format", "document_format"},
    "seq2seq": {"query_format", "prompt", "answer_tokens"},
    "causal-lm": {"query_format", "answer_tokens"},
    "api-embedder": {"query_format", "document_format"},
}


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Template:
    name: str
    family: str
    description: str = ""
    query_format: str = "{query} {instruction}"
    document_format: str = "{document}"
    query_format_no_instruction: str | None = None
    prompt: str | None = None
    answer_tokens: tuple[str, str] | None = None
    system: str | None = None
    user: str | None = None
    # instruction used when the pair has none (TART-full, E5-mistral in the paper's code)
    empty_instruction: str | None = None
    # tokenize the rendered prompt with the tokenizer's special tokens (the paper's code did; a literal
    # "<s>" in the prompt then gives two BOS tokens with Llama/Mistral tokenizers)
    add_special_tokens: bool = False
    # "prompt-end": the tokenizer cuts the end of the whole prompt (the paper's ``truncation=True``; a long
    # passage pushes the answer cue out); "document": only the passage's end is cut, the cue stays
    truncation: str = "document"
    reference: str = ""  # where the format comes from (file and lines of the paper's code)

    @property
    def uses_chat_template(self) -> bool:
        return self.user is not None

    def render_query(self, query: str, instruction: str) -> str:
        """The query text, ends stripped as every model in the paper's code did (``f"{q} {i}".strip()``).
        Without an instruction (empty or blank): ``empty_instruction`` when the template has one, else
        ``query_format_no_instruction``, else the separator collapses (no trailing space)."""
        if not instruction.strip() and self.empty_instruction is not None:
            instruction = self.empty_instruction
        if instruction.strip():
            return self.query_format.format(query=query, instruction=instruction).strip()
        if self.query_format_no_instruction is not None:
            return self.query_format_no_instruction.format(query=query).strip()
        return self.query_format.replace(" {instruction}", "").replace("{instruction}", "").format(query=query).strip()

    def render_document(self, document: str, title: str = "", text: str | None = None) -> str:
        """The passage text: ``{document}`` is ``(title + " " + text).strip()``; ``{title}`` and ``{text}``
        are the raw fields (GritLM's code joined them itself)."""
        return self.document_format.format(document=document, title=title,
                                           text=document if text is None else text).strip()

    def render_passage(self, doc) -> str:
        """``render_document`` of a ``followir.records.Document``."""
        return self.render_document(doc.full_text, doc.title, doc.text)

    def render_prompt(self, query: str, instruction: str, document: str, bos: str = "") -> str:
        if self.prompt is None:
            raise TemplateError(f"template {self.name!r} has no prompt; it is a chat template (system/user)")
        return self.fill_prompt(self.render_query(query, instruction), document, bos)

    def fill_prompt(self, query_text: str, document: str, bos: str = "") -> str:
        """The prompt for an already rendered query text."""
        return self.prompt.format(query=query_text, document=document, bos=bos)

    def render_user(self, query: str, instruction: str, document: str) -> str:
        if self.user is None:
            raise TemplateError(f"template {self.name!r} has no chat 'user' message")
        return self.user.format(query=self.render_query(query, instruction), document=document)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def validate(name: str, raw: dict, source: str = "templates.yaml") -> Template:
    if not isinstance(raw, dict):
        raise TemplateError(f"{source}: template {name!r} must be a mapping")
    unknown = set(raw) - KEYS
    if unknown:
        raise TemplateError(f"{source}: template {name!r} has unknown keys {sorted(unknown)}; allowed: {sorted(KEYS)}")
    family = raw.get("family")
    if family not in NEEDS:
        raise TemplateError(f"{source}: template {name!r} has family {family!r}; use one of {sorted(NEEDS)}")
    missing = NEEDS[family] - set(raw)
    if family == "causal-lm" and "prompt" not in raw and "user" not in raw:
        missing |= {"prompt or user"}
    if missing:
        raise TemplateError(f"{source}: template {name!r} ({family}) lacks {sorted(missing)}")
    for key in ("query_format", "query_format_no_instruction", "document_format", "prompt", "system", "user"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise TemplateError(f"{source}: {name}.{key} must be a string")
            bad = _placeholders(raw[key]) - PLACEHOLDERS
            if bad:
                raise TemplateError(f"{source}: {name}.{key} uses unknown placeholders {sorted(bad)}; "
                                    f"allowed: {sorted(PLACEHOLDERS)}")
    if "{query}" not in raw["query_format"]:
        raise TemplateError(f"{source}: {name}.query_format must contain {{query}}")
    for key in ("prompt", "user"):
        if key in raw and not {"query", "document"} <= _placeholders(raw[key]):
            raise TemplateError(f"{source}: {name}.{key} must contain {{query}} and {{document}}")
    if "truncation" in raw and raw["truncation"] not in TRUNCATIONS:
        raise TemplateError(f"{source}: {name}.truncation must be one of {list(TRUNCATIONS)}")
    if "add_special_tokens" in raw and not isinstance(raw["add_special_tokens"], bool):
        raise TemplateError(f"{source}: {name}.add_special_tokens must be true or false")
    for key in ("empty_instruction", "reference", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise TemplateError(f"{source}: {name}.{key} must be a string")
    tokens = raw.get("answer_tokens")
    if tokens is not None and (not isinstance(tokens, list) or len(tokens) != 2
                               or not all(isinstance(t, str) and t for t in tokens)):
        raise TemplateError(f"{source}: {name}.answer_tokens must be [true_token, false_token]")
    return Template(name=name, family=family, description=raw.get("description", ""),
                    query_format=raw["query_format"], document_format=raw.get("document_format", "{document}"),
                    query_format_no_instruction=raw.get("query_format_no_instruction"),
                    prompt=raw.get("prompt"), answer_tokens=tuple(tokens) if tokens else None,
                    system=raw.get("system"), user=raw.get("user"), empty_instruction=raw.get("empty_instruction"),
                    add_special_tokens=raw.get("add_special_tokens", False),
                    truncation=raw.get("truncation", "document"), reference=raw.get("reference", ""))


@lru_cache(maxsize=None)
def load_templates() -> dict[str, Template]:
    text = (resources.files("followir.models") / "templates.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    return {name: validate(name, entry) for name, entry in raw.items()}


def get_template(name: str) -> Template:
    templates = load_templates()
    if name not in templates:
        raise UnknownNameError(f"unknown template {name!r}; templates: {', '.join(sorted(templates))}")
    return templates[name]
