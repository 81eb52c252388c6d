"""CLI commands for analyses (registered on the shared app)."""

from __future__ import annotations

from followir.cli.common import app  # noqa: F401
