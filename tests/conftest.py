"""Shared fixtures for the followir test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def trec_data_dir() -> Path:
    """The real TREC topics and qrels in ``<repo>/../shared/data/trec``; skips the test when absent."""
    folder = SHARED_DATA / "trec"
    if not folder.is_dir():
        pytest.skip(f"real TREC data not found at {folder}")
    return folder.resolve()
