"""Atomic file writes: write to a temporary file beside the target, then rename it into place.

An interrupted run therefore never leaves a half-written results or run file. A run killed while writing
leaves a hidden temporary file (``.<name>.pid<PID>.<random>.tmp``); the next write of the same file removes
those whose process is gone (and, from older versions without a PID in the name, those over an hour old).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

STALE_AFTER_S = 3600.0  # temporary files without a PID in their name count as stale after this long


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def clean_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files that killed writers of ``path`` left beside it; returns what was removed."""
    path = Path(path)
    pattern = re.compile(r"^\." + re.escape(path.name) + r"\.(?:pid(\d+)\.)?[A-Za-z0-9_]+\.tmp$")
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        try:
            pid = match.group(1)
            stale = (not _alive(int(pid))) if pid else time.time() - entry.stat().st_mtime > STALE_AFTER_S
            if stale and entry.is_file():
                entry.unlink()
                removed.append(entry)
        except (OSError, ValueError):
            continue
    return removed


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions open() would
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: str | Path, data: object) -> None:
    """Write ``data`` as strict JSON (no bare NaN/Infinity: see :mod:`followir.strict_json`), atomically."""
    from followir.strict_json import dumps

    text = dumps(data)
    with atomic_open(path) as f:
        f.write(text)
        f.write("\n")
