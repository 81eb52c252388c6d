"""What the pipeline steps share: jsonl files written to survive interruption, and step manifests.

- Whole files are written atomically (temp file + ``os.replace``); files that grow (generation output) are
  appended one record group at a time with ``fsync``. A run killed mid-append leaves at most a torn last line,
  which ``read_jsonl(..., repair=True)`` cuts off.
- Each step writes ``<output stem>.manifest.json`` next to its main output: its inputs (paths and sha256), its
  options, its counts and its outputs. A step is complete when its manifest says so, and it is up to date when
  the inputs and options it records are the current ones and its outputs are all there; the pipeline skips such
  steps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from followir.atomic import atomic_open, write_json
from followir.errors import DataFormatError, FollowIRError

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1


def read_jsonl(path: str | Path, repair: bool = False) -> Iterator[dict]:
    """Rows of a jsonl file. With ``repair``, a torn last line (an interrupted append) is cut off the file."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            last = number == len(lines) and not data.endswith(b"\n")
            if repair and last:
                keep = len(data) - len(raw)
                log.warning("%s: cutting off a torn last line (an interrupted write): %r", path, raw[:80])
                with open(path, "r+b") as f:
                    f.truncate(keep)
                return
            raise DataFormatError(path, number, f"invalid JSON ({e.msg})", "write one JSON object per line") from None
        if not isinstance(row, dict):
            raise DataFormatError(path, number, "a line is not a JSON object", "write one JSON object per line")
        yield row


def write_jsonl(path: str | Path, rows: Iterable[Mapping]) -> int:
    """Write all rows atomically; returns how many."""
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def append_jsonl(path: str | Path, rows: Iterable[Mapping]) -> None:
    """Append rows in one write, flushed and fsynced (one call per record group: a pair's documents)."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if not text:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f"{output.stem}.manifest.json")


def _plain(options: Mapping) -> dict:
    return json.loads(json.dumps(dict(options), default=str))


def write_manifest(output: str | Path, step: str, inputs: Mapping[str, str | Path], options: Mapping,
                   counts: Mapping, outputs: Mapping[str, str | Path] | None = None, complete: bool = True) -> dict:
    """Record a step's inputs, options and counts; ``complete=False`` marks a step under way."""
    manifest = {
        "step": step,
        "version": MANIFEST_VERSION,
        "complete": complete,
        "inputs": {name: {"path": str(Path(p).resolve()), "sha256": sha256(p)} for name, p in inputs.items()},
        "options": _plain(options),
        "counts": dict(counts),
        "outputs": {name: str(Path(p).resolve()) for name, p in (outputs or {"main": output}).items()
                    if Path(p).exists() or not complete},
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(manifest_path(output), manifest)
    return manifest


def read_manifest(output: str | Path) -> dict | None:
    path = manifest_path(output)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def up_to_date(output: str | Path, step: str, inputs: Mapping[str, str | Path], options: Mapping) -> bool:
    """The step's output exists with a manifest recording these inputs (same content) and options."""
    manifest = read_manifest(output)
    if manifest is None or manifest.get("step") != step or manifest.get("version") != MANIFEST_VERSION \
            or not manifest.get("complete"):
        return False
    if not Path(output).exists() or not all(Path(p).exists() for p in manifest.get("outputs", {}).values()):
        return False
    for name, p in inputs.items():
        recorded = manifest["inputs"].get(name)
        if recorded is None or not Path(p).exists() or recorded["sha256"] != sha256(p):
            return False
    return manifest["options"] == _plain(options)


def check_resumable(output: str | Path, step: str, options: Mapping, overwrite_hint: str) -> None:
    """Refuse to extend an output that an earlier run made with other settings (the rows would mix)."""
    manifest = read_manifest(output)
    if manifest is None or not Path(output).exists() or Path(output).stat().st_size == 0:
        return
    if manifest.get("step") == step and manifest.get("options") == _plain(options):
        return
    recorded, current = manifest.get("options", {}), _plain(options)
    changed = sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
    raise FollowIRError(f"{output} was made with other {step} settings (changed: {', '.join(changed)}); resuming "
                          f"would mix them. Fix: use another output folder, or {overwrite_hint}")
