"""Step 4: keep one relevant and one non-relevant document per query (the paper's balance), write the dataset.

Per pair, at most ``per_label`` documents of each label are kept (``require_both`` drops pairs that lack either
label). Which ones: ``confident`` (default) takes the documents the judge was surest about (highest p(true) for
relevant, lowest for non-relevant), ``first`` the generator's order, ``random`` a seeded draw.

Outputs, in FollowIR-train's schema (``query``, ``instruction``, ``document``, ``label``, ``id``, ``score``: the id
is the document's, ``<TREC file label>:<topic>/rel1`` for instance, so it names the track file and topic and is
unique per row; the score is the judge's p(true)):

- ``train.jsonl``;
- ``dataset/``: the same rows as a Hugging Face dataset (``datasets.load_from_disk``);
- ``datasheet.json`` and ``datasheet.md``: the counts of every step that led here.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from collections import Counter
from pathlib import Path

from followir.models.runtime import require
from followir.training.datasheet import write_datasheet
from followir.training.files import read_jsonl, write_jsonl, write_manifest

log = logging.getLogger(__name__)

TRAIN = "train.jsonl"
DATASET = "dataset"
FIELDS = ("query", "instruction", "document", "label", "id", "score")
CHOICES = ("confident", "first", "random")


def choose_rows(rows: list[dict], per_label: int = 1, require_both: bool = False, choose: str = "confident",
                seed: int = 0) -> list[dict]:
    """The balanced selection, pair by pair in input order, relevant before non-relevant."""
    if per_label < 1:
        raise ValueError(f"per_label={per_label}: keep at least one document per label")
    if choose not in CHOICES:
        raise ValueError(f"choose={choose!r}: use one of {', '.join(CHOICES)}")
    rng = random.Random(seed)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["pair_id"], []).append(row)
    out = []
    for group in groups.values():
        picked = []
        for label in (True, False):
            docs = [r for r in group if bool(r["label"]) == label]
            if choose == "confident":
                docs = sorted(docs, key=lambda r: -r["score"] if label else r["score"])
            elif choose == "random":
                docs = rng.sample(docs, len(docs))
            picked.append(docs[:per_label])
        if require_both and not all(picked):
            continue
        out.extend(picked[0] + picked[1])
    return out


def balance_settings(per_label: int, require_both: bool, choose: str, seed: int, save_hf: bool) -> dict:
    return {"per_label": per_label, "require_both": require_both, "choose": choose, "seed": seed,
            "save_hf": save_hf}


def to_train_row(row: dict) -> dict:
    return {"query": row["query"], "instruction": row["instruction"], "document": row["document"],
            "label": bool(row["label"]), "id": row["id"], "score": float(row["score"])}


def save_dataset(rows: list[dict], folder: Path) -> None:
    """The rows as a Hugging Face dataset, written beside the target and renamed into place."""
    datasets = require("datasets", "train")
    features = datasets.Features({"query": datasets.Value("string"), "instruction": datasets.Value("string"),
                                  "document": datasets.Value("string"), "label": datasets.Value("bool"),
                                  "id": datasets.Value("string"), "score": datasets.Value("float64")})
    data = datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in FIELDS}, features=features)
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    data.save_to_disk(str(tmp))
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)


def balance(filtered: str | Path, output_dir: str | Path, *, per_label: int = 1, require_both: bool = False,
            choose: str = "confident", seed: int = 0, save_hf: bool = True) -> dict:
    """Balance ``filtered.jsonl`` into ``train.jsonl``, ``dataset/`` and the datasheet; returns the manifest."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = list(read_jsonl(filtered))
    picked = choose_rows(rows, per_label, require_both, choose, seed)
    chosen = [to_train_row(r) for r in picked]
    write_jsonl(output_dir / TRAIN, chosen)
    if save_hf:
        save_dataset(chosen, output_dir / DATASET)
    labels = Counter(r["label"] for r in chosen)
    pair_labels: dict[str, set] = {}
    for r in picked:
        pair_labels.setdefault(r["pair_id"], set()).add(bool(r["label"]))
    counts = {"filtered": len(rows), "instances": len(chosen), "relevant": labels.get(True, 0),
              "nonrelevant": labels.get(False, 0), "pairs": len(pair_labels),
              "pairs_with_both_labels": sum(1 for ls in pair_labels.values() if len(ls) == 2)}
    options = balance_settings(per_label, require_both, choose, seed, save_hf)
    outputs = {"train": output_dir / TRAIN, "datasheet": output_dir / "datasheet.json"}
    if save_hf:
        outputs["dataset"] = output_dir / DATASET
    manifest = write_manifest(output_dir / TRAIN, "balance", {"filtered": filtered}, options, counts, outputs)
    write_datasheet(output_dir, manifest)
    log.info("balance: %s", counts)
    return manifest
