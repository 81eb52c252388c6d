"""Training pairs in FollowIR-train's schema, and the exact prompt + one-token target evaluation scores.

A pair is (query, instruction, document, label). Its input is the prompt ``CausalLMReranker`` scores at
evaluation time, built by the same code (same template, BOS once, only the document cut to fit
``max_length``), followed by the answer token (``"true"``/``"false"`` per the template's answer_tokens).
Only that answer token carries a label; every prompt token is masked with -100.

>>> parse_label("TRUE", "train.jsonl", 1), parse_label(False, "train.jsonl", 2)
(True, False)
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from followir.errors import DataFormatError

IGNORE_INDEX = -100
REQUIRED = ("query", "document", "label")


@dataclass(frozen=True)
class TrainPair:
    id: str
    query: str
    instruction: str
    document: str
    label: bool  # True: the document is relevant to the query under the instruction

    @property
    def group(self) -> tuple[str, str]:
        """The (query, instruction) it belongs to: held-out splits never share one with training."""
        return self.query, self.instruction


def parse_label(value: object, path: object, line: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise DataFormatError(path, line, f"label {value!r} is not a boolean",
                          'use true/false (JSON booleans or the strings "true"/"false")')


def read_train_file(path: str | Path) -> list[TrainPair]:
    """Pairs from a jsonl file with ``query``, ``instruction``, ``document``, ``label`` and ``id`` fields."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, None, "training file not found", "give a jsonl file in FollowIR-train's schema")
    pairs: list[TrainPair] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(path, number, f"invalid JSON ({e.msg})",
                                      "write one JSON object per line") from None
            if not isinstance(row, dict):
                raise DataFormatError(path, number, "a line is not a JSON object", "write one JSON object per line")
            missing = [k for k in REQUIRED if k not in row]
            if missing:
                raise DataFormatError(path, number, f"missing fields {missing}",
                                      "give query, instruction, document, label (and id) on every line")
            for key in ("query", "document"):
                if not isinstance(row[key], str) or not row[key].strip():
                    raise DataFormatError(path, number, f"{key} is empty or not a string", f"give a non-empty {key}")
            instruction = row.get("instruction") or ""
            if not isinstance(instruction, str):
                raise DataFormatError(path, number, "instruction is not a string", "give the instruction as text")
            pair_id = str(row.get("id", f"line-{number}"))
            if pair_id in seen:
                raise DataFormatError(path, number, f"duplicate id {pair_id!r}", "give every pair its own id")
            seen.add(pair_id)
            pairs.append(TrainPair(pair_id, row["query"], instruction, row["document"],
                                   parse_label(row["label"], path, number)))
    if not pairs:
        raise DataFormatError(path, None, "no training pairs", "write at least one pair per line")
    return pairs


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_pairs(pairs: Sequence[TrainPair], fraction: float, seed: int) -> tuple[list[TrainPair], list[TrainPair]]:
    """(train, held-out): whole (query, instruction) groups, chosen by a seeded hash (stable across runs).

    >>> p = [TrainPair(str(i), f"q{i // 2}", "", "d", i % 2 == 0) for i in range(20)]
    >>> train, held = split_pairs(p, 0.2, seed=0)
    >>> len(train), len(held), {x.query for x in train} & {x.query for x in held}
    (16, 4, set())
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"eval fraction {fraction} is outside [0, 1); use e.g. 0.05, or 0 for no held-out split")
    groups = sorted({p.group for p in pairs},
                    key=lambda g: hashlib.sha256(f"{seed}\0{g[0]}\0{g[1]}".encode()).hexdigest())
    n_held = math.ceil(fraction * len(groups)) if fraction > 0 and len(groups) > 1 else 0
    held_groups = set(groups[:n_held])
    train = [p for p in pairs if p.group not in held_groups]
    held = [p for p in pairs if p.group in held_groups]
    return train, held


class PromptEncoder:
    """Turns pairs into ``input_ids``/``labels`` with the scorer's own rendering (``CausalLMReranker``)."""

    def __init__(self, scorer):
        self.scorer = scorer  # a followir.models.causal_lm.CausalLMReranker (its model is never loaded here)
        tokenizer = scorer.tokenizer
        self.true_id, self.false_id = scorer.answer_ids
        self.pad_id = tokenizer.pad_token_id

    def prompt_ids(self, pair: TrainPair) -> list[int]:
        """The token ids evaluation scores for this pair (the answer is predicted after the last one)."""
        query_text = self.scorer.template.render_query(pair.query, pair.instruction)
        return self.scorer.encode(query_text, pair.document)

    def encode(self, pair: TrainPair) -> dict[str, list[int]]:
        prompt = self.prompt_ids(pair)
        answer = self.true_id if pair.label else self.false_id
        return {"input_ids": prompt + [answer], "labels": [IGNORE_INDEX] * len(prompt) + [answer]}


class PadCollator:
    """Right-pads a batch: pad token in ``input_ids``, 0 in ``attention_mask``, -100 in ``labels``."""

    def __init__(self, pad_id: int, multiple_of: int = 1):
        self.pad_id, self.multiple_of = pad_id, multiple_of

    def __call__(self, rows: Sequence[dict]) -> dict:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        width = -(-width // self.multiple_of) * self.multiple_of
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"], dtype=torch.long)
            mask[i, :n] = 1
            labels[i, :n] = torch.tensor(r["labels"], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
