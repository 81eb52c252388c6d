"""Credentials never reach a message or a log line: ``redact`` masks API keys and tokens in any text.

Masked: the value of every environment variable whose name says it holds a secret (``*KEY*``, ``*TOKEN*``,
``*SECRET*``, ``*PASSWORD*``; values of 8 characters or more), and text shaped like a credential: bearer
tokens, ``sk-...``-style keys, Google ``AIza...`` keys, and ``api_key=...`` / ``"token": "..."`` pairs. Servers
that echo the key in an error body (some do, on a 401) are thereby safe to quote.
"""

from __future__ import annotations

import os
import re

MASK = "[redacted]"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\b(?:sk|pk|rk|hf|gsk|xai)[-_][A-Za-z0-9_-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"),
    re.compile(r"(?i)((?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|x-api-key)[\"']?\s*[:=]\s*"
               r"[\"']?)[^\s\"',;&]{6,}"),
)


def redact(text: object) -> str:
    """``text`` with every credential replaced by ``[redacted]``.

    >>> redact("Incorrect API key provided: sk-abcdefgh12345678")
    'Incorrect API key provided: [redacted]'
    """
    out = str(text)
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in out:
            out = out.replace(value, MASK)
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, out)
    return out
