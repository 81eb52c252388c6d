"""The trained weights, as a LoRA adapter or merged into the base model, and the card that loads them.

Folders are written under a temporary name and renamed into place, and ``followir_model.json`` is
written last: a folder with a card always has complete weights.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Callable

from followir.training.base_model import BaseModel, load_causal_lm

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"


def temporary_folder(target: Path) -> Path:
    """An empty path beside ``target`` to write into before ``swap_into_place``."""
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    return tmp


def swap_into_place(tmp: Path, target: Path) -> Path:
    """Rename a complete ``tmp`` folder to ``target``, replacing an older one."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        if old.exists():
            shutil.rmtree(old)
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old)
    else:
        tmp.rename(target)
    return target


def replace_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a fresh temporary folder beside ``target``, then swap it into place."""
    tmp = temporary_folder(target)
    write(tmp)
    return swap_into_place(tmp, target)


def folder_sha256(folder: Path) -> str:
    """Hash of every file's relative path and bytes (the adapter's identity in score caches)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def merge_adapter(base: BaseModel, adapter_dir: Path, target: Path, dtype) -> Path:
    """Load the base model, fold the adapter into its weights, save model and tokenizer to ``target``."""
    from followir.models.runtime import require

    peft = require("peft", "train")
    transformers = require("transformers", "train")
    log.info("merging %s into %s", adapter_dir, base.name)
    from followir.models.library_warnings import peft_quietly

    with peft_quietly():
        model = peft.PeftModel.from_pretrained(load_causal_lm(base, dtype), str(adapter_dir)).merge_and_unload()
    kwargs = {"revision": base.revision, "trust_remote_code": base.trust_remote_code}
    if base.gguf_file:
        kwargs["gguf_file"] = base.gguf_file
    tokenizer = transformers.AutoTokenizer.from_pretrained(base.path, **kwargs)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return replace_folder(target, write)
