"""Fetch a dataset snapshot from the Hugging Face hub (cached, pinned revision) with huggingface_hub.

``snapshot_download`` keeps files in the standard hub cache (``HF_HOME`` / ``HF_HUB_CACHE``), honours
``HF_HUB_OFFLINE=1`` and returns the local folder laid out exactly as the repository is, which the
layout readers then read like any local directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

from followir.errors import FollowIRError

log = logging.getLogger(__name__)

_DATA_PATTERNS = ["README.md", "*.jsonl", "*.json", "*.parquet", "*.tsv", "**/*.jsonl", "**/*.parquet",
                  "**/*.tsv", "**/*.json"]


def fetch_dataset(repo_id: str, revision: str | None, cache_dir: str | Path | None = None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    from followir.hub_access import check_available, hub_is_offline

    rev = f" --revision {revision}" if revision else ""
    fix = ("connect to the hub once" + (" (unset HF_HUB_OFFLINE)" if hub_is_offline() else "")
           + f" so that its cache holds them, or download them where the hub is reachable (hf download "
           f"--repo-type dataset {repo_id}{rev} --local-dir DIR), copy DIR here and pass --task DIR")
    cached = check_available(repo_id, "dataset", revision, "the dataset's files", fix, cache_dir)
    if cached is not None:
        return cached
    log.info("fetching dataset %s@%s", repo_id, revision or "main")
    try:
        folder = snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision,
                                   cache_dir=str(cache_dir) if cache_dir else None,
                                   allow_patterns=_DATA_PATTERNS)
    except LocalEntryNotFoundError as e:
        raise FollowIRError(
            f"dataset {repo_id}@{revision or 'main'} is not in the local hub cache and the hub cannot be "
            f"reached ({e.__class__.__name__}). Fix: connect to the internet once (unset HF_HUB_OFFLINE), or "
            f"download the dataset elsewhere and pass its folder as --task PATH"
        ) from None
    except (HfHubHTTPError, OSError) as e:
        raise FollowIRError(
            f"could not download dataset {repo_id}@{revision or 'main'}: {e}. Fix: check the network and the "
            f"id, or pass a local folder as --task PATH"
        ) from None
    return Path(folder)
