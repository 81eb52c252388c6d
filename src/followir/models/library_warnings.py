"""Warnings that peft and transformers raise about each other, not about anything followir passes them.

- peft reads ``model.is_gradient_checkpointing``, which transformers 5 deprecated (a FutureWarning on every
  ``PeftModel``);
- peft looks for ``config.json`` beside a base model given as a GGUF file's folder, finds none, and warns that it
  "will assume that the vocabulary was not modified" (true: LoRA does not touch the vocabulary).

Every other warning still shows.
"""

from __future__ import annotations

import contextlib
import warnings

_KNOWN = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
    (UserWarning, r"Could not find a config file in .* will assume that the vocabulary was not modified"),
)


@contextlib.contextmanager
def peft_quietly():
    """Inside: the two known peft/transformers warnings are not shown."""
    with warnings.catch_warnings():
        for category, message in _KNOWN:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield
