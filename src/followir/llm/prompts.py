"""Generator prompts as validated data (``prompts.yaml``): the FollowIR paper's Appendix H prompts.

>>> p = get_prompt("keywords")
>>> p.placeholders
('instruction',)
>>> p.messages(instruction="Find a PubMed paper.")[0]["role"]
'user'
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from followir.errors import UnknownNameError

PLACEHOLDERS = ("query", "instruction")
KEYS = {"description", "source", "placeholders", "system", "user"}
REQUIRED = {"description", "placeholders", "user"}


class PromptError(ValueError):
    """A prompt entry that does not validate; the message names the prompt, the key and the fix."""


@dataclass(frozen=True)
class Prompt:
    name: str
    description: str
    user: str
    placeholders: tuple[str, ...]
    system: str | None = None
    source: str = ""

    def messages(self, **values: str) -> list[dict[str, str]]:
        """The chat messages with every placeholder filled; a missing or unknown value raises."""
        missing = [p for p in self.placeholders if p not in values]
        extra = sorted(set(values) - set(self.placeholders))
        if missing or extra:
            raise PromptError(f"prompt {self.name!r} takes {list(self.placeholders)}; "
                              f"missing {missing}, unexpected {extra}")
        out = []
        if self.system is not None:
            out.append({"role": "system", "content": self.system.format(**values)})
        out.append({"role": "user", "content": self.user.format(**values)})
        return out


def _placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as e:  # a stray brace
        raise PromptError(f"{e}; write literal braces as '{{{{' and '}}}}'") from None


def validate(name: str, raw: object, source: str = "prompts.yaml") -> Prompt:
    if not isinstance(raw, dict):
        raise PromptError(f"{source}: prompt {name!r} must be a mapping with keys {sorted(KEYS)}")
    unknown = set(raw) - KEYS
    if unknown:
        raise PromptError(f"{source}: prompt {name!r} has unknown keys {sorted(unknown)}; allowed: {sorted(KEYS)}")
    missing = REQUIRED - set(raw)
    if missing:
        raise PromptError(f"{source}: prompt {name!r} lacks {sorted(missing)}")
    declared = raw["placeholders"]
    if not isinstance(declared, list) or not all(isinstance(p, str) for p in declared):
        raise PromptError(f"{source}: {name}.placeholders must be a list of names from {list(PLACEHOLDERS)}")
    bad = sorted(set(declared) - set(PLACEHOLDERS))
    if bad:
        raise PromptError(f"{source}: {name}.placeholders names unknown placeholders {bad}; "
                          f"allowed: {list(PLACEHOLDERS)}")
    used: set[str] = set()
    for key in ("user", "system"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise PromptError(f"{source}: {name}.{key} must be a non-empty string")
            found = _placeholders(raw[key])
            undeclared = sorted(found - set(declared))
            if undeclared:
                raise PromptError(f"{source}: {name}.{key} uses {undeclared}, not declared in placeholders "
                                  f"{declared}; declare them (allowed: {list(PLACEHOLDERS)}) or remove them")
            used |= found
    unused = sorted(set(declared) - used)
    if unused:
        raise PromptError(f"{source}: prompt {name!r} declares {unused} but its text never uses them")
    return Prompt(name=name, description=str(raw["description"]), user=raw["user"],
                  placeholders=tuple(declared), system=raw.get("system"), source=str(raw.get("source", "")))


def parse_prompts(text: str, source: str = "prompts.yaml") -> dict[str, Prompt]:
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise PromptError(f"{source}: expected a mapping of prompt names to prompts")
    return {name: validate(name, entry, source) for name, entry in raw.items()}


@lru_cache(maxsize=None)
def load_prompts() -> dict[str, Prompt]:
    text = (resources.files("followir.llm") / "prompts.yaml").read_text(encoding="utf-8")
    return parse_prompts(text)


def get_prompt(name: str) -> Prompt:
    prompts = load_prompts()
    if name not in prompts:
        raise UnknownNameError(f"unknown prompt {name!r}; prompts: {', '.join(sorted(prompts))}")
    return prompts[name]
