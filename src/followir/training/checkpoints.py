"""Resuming a training run: the last complete checkpoint, and a check that it belongs to the same run.

A checkpoint is complete once the Trainer has written its ``trainer_state.json`` (the last file it writes),
so a run killed while saving resumes from the previous checkpoint. ``followir_run.json`` records what
defines a run (data hash, base model, template, LoRA shape, length, split, seed); resuming with any of
these changed is refused, because it would silently mix two trainings. Epochs, steps and the learning
rate may change between resumes.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Mapping

from followir.atomic import write_json

log = logging.getLogger(__name__)

RUN_FILE = "followir_run.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(folder: Path) -> Path | None:
    """The complete checkpoint with the highest step in ``folder``, or None."""
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := _CHECKPOINT.match(p.name)) and (p / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def prepare_run(output_dir: Path, checkpoints: Path, identity: Mapping[str, object], resume: bool,
                is_main: bool) -> Path | None:
    """The checkpoint to resume from (None: start fresh); the main process records the run's identity."""
    last = last_checkpoint(checkpoints)
    run_file = output_dir / RUN_FILE
    if last is not None and not resume:
        if is_main:
            log.warning("--no-resume: removing the checkpoints in %s", checkpoints)
            shutil.rmtree(checkpoints)
        last = None
    if last is not None and run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        changed = sorted(k for k in identity if previous.get(k) != identity[k])
        if changed:
            details = "; ".join(f"{k}: {previous.get(k)!r} -> {identity[k]!r}" for k in changed)
            raise ValueError(f"{output_dir} holds checkpoints of a different training run ({details}). Fix: use "
                             f"another --output folder, or --no-resume to start this one over")
    if last is not None:
        log.info("resuming from %s", last)
    if is_main:
        write_json(run_file, dict(identity))
    return last
