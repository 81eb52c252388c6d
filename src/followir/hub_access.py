"""Fail fast when hub files are neither cached nor reachable.

huggingface_hub retries an unreachable hub for about half a minute, logging each retry, before it gives up.
followir asks once instead: files already in the standard hub cache (``HF_HOME``/``HF_HUB_CACHE``) at a pinned
commit are used without any request; otherwise one short request tells whether the hub answers. When it does not,
the caller gets a ``HubUnavailableError`` at once that names the missing files and how to get them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from followir.errors import FollowIRError

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10.0
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class HubUnavailableError(FollowIRError):
    """Hub files are not in the local cache and the hub cannot be reached (or is switched off)."""


def cached_snapshot(repo_id: str, repo_type: str, revision: str | None,
                    cache_dir: str | Path | None = None) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision``, or None when the cache lacks it (no request)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(repo_id=repo_id, repo_type=repo_type, revision=revision,
                                   cache_dir=str(cache_dir) if cache_dir else None, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None
    return Path(folder)


def hub_is_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def check_available(repo_id: str, repo_type: str, revision: str | None, what: str, fix: str,
                    cache_dir: str | Path | None = None) -> Path | None:
    """Return the cached snapshot when a pinned commit is cached; else make sure the hub answers.

    ``what`` names the files for the message (for example ``"weights of all-minilm-l6-v2"``) and ``fix`` says how
    to get them without the hub. Returns None when the files must come from the hub (which answered).

    Raises:
        HubUnavailableError: not cached, and ``HF_HUB_OFFLINE`` is set or one request to the hub fails.
        FollowIRError: the hub answered that the repository or revision does not exist.
    """
    rev = revision or "main"
    if revision is None or _COMMIT.match(revision):
        found = cached_snapshot(repo_id, repo_type, revision, cache_dir)
        if found is not None:
            return found
    where = f"{repo_id}@{rev}"
    if hub_is_offline():
        raise HubUnavailableError(f"{what} ({where}) are not in the local hub cache and HF_HUB_OFFLINE is set. "
                                  f"Fix: {fix}")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision, timeout=PROBE_TIMEOUT_S)
    except RevisionNotFoundError:
        raise FollowIRError(f"the hub has no revision {rev!r} of {repo_id}. Fix: check --revision") from None
    except RepositoryNotFoundError:
        raise FollowIRError(f"the hub has no {repo_type} {repo_id!r} (or it is private). Fix: check the id, "
                            f"or log in with `hf auth login` for a private repository") from None
    except Exception as e:  # connection refused, DNS failure, timeout, proxy error: the hub is out of reach
        reason = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise HubUnavailableError(f"{what} ({where}) are not in the local hub cache and the hub cannot be "
                                  f"reached ({reason}). Fix: {fix}") from None
    return None


def quiet_hub_logging() -> None:
    """Let huggingface_hub's records reach the root logger only, so that no warning is printed twice."""
    hub_logger = logging.getLogger("huggingface_hub")
    for handler in list(hub_logger.handlers):
        if type(handler) is logging.StreamHandler:
            hub_logger.removeHandler(handler)
