"""Readers for the two FollowIR dataset layouts on the Hugging Face hub (or a local copy of either).

- original (``jhu-clsp/*-instructions``): configs ``corpus``, ``queries`` (with ``instruction_og``,
  ``instruction_changed``, ``keywords``, ``short_query``), ``qrels_og``, ``qrels_changed``, ``top_ranked``.
- mteb (``mteb/*InstructionRetrieval``): configs ``corpus``, ``queries``, ``instruction``, ``default``
  (qrels), ``top_ranked`` (query id -> list of corpus ids) and ``qrel_diff``, with query ids
  ``<qid>-og`` / ``<qid>-changed``. The suffixes are turned into an explicit variant here, at the edge.
  MTEB has published this layout in two spellings, both read: ids as ``_id`` or ``id``, qrels in a
  ``default`` or a ``qrels`` config, instructions in an ``instruction`` config or an ``instruction``
  field of the queries.

A ``subset`` (mFollowIR's language, e.g. ``fas``) suffixes every config name: ``corpus-fas``, ``queries-fas``,
``qrels_og-fas`` (original) or ``default-fas``, ``instruction-fas``, ``qrel_diff-fas`` (mteb), as mFollowIR
publishes its languages in one repository.
"""

from __future__ import annotations

import json
from pathlib import Path

from followir.data.builder import TaskBuilder
from followir.data.configs import config_files
from followir.data.tables import parse_relevance, read_rows, require
from followir.errors import DataFormatError
from followir.records import Query, Task

LAYOUTS = ("original", "mteb")


def detect_layout(root: Path) -> str:
    """``mteb`` when the directory has an ``instruction`` or ``qrel_diff`` config, else ``original``."""
    for config in ("instruction", "qrel_diff"):
        if config_files(root, config, required=False):
            return "mteb"
    return "original"


def read_layout(root: str | Path, layout: str, builder: TaskBuilder, subset: str | None = None) -> Task:
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root) if not subset else \
            ("mteb" if config_files(root, f"instruction-{subset}", required=False) else "original")
    if subset:
        builder.metadata.setdefault("subset", subset)
    if layout == "original":
        _read_original(root, builder, _Configs(subset))
    elif layout == "mteb":
        _read_mteb(root, builder, _Configs(subset))
    else:
        raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS} or 'auto'")
    builder.metadata.setdefault("layout", layout)
    return builder.build()


class _Configs:
    """Config names of one subset: ``corpus`` or ``corpus-<subset>``."""

    def __init__(self, subset: str | None = None):
        self.subset = subset

    def __call__(self, config: str) -> str:
        return f"{config}-{self.subset}" if self.subset else config


def _id_field(row: dict) -> str:
    return "_id" if "_id" in row or "id" not in row else "id"


def _read_corpus(root: Path, builder: TaskBuilder, cfg: _Configs = _Configs()) -> None:
    paths = config_files(root, cfg("corpus"))
    rows = 0
    for path in paths:
        for line, row in read_rows(path):
            doc_id = require(row, _id_field(row), path, line)
            builder.add_document(doc_id, require(row, "text", path, line, allow_empty=True),
                                 str(row.get("title") or ""), path, line)
            rows += 1
    if not rows:
        _refuse_empty(paths, "corpus", "document")


def _refuse_empty(paths: list[Path], config: str, what: str) -> None:
    raise DataFormatError(paths[0] if len(paths) == 1 else paths[0].parent, None,
                          f"the {config} config holds no {what} (its files are empty)",
                          f"give the {config} file one JSON object per {what}")


def _read_qrels(paths: list[Path], builder: TaskBuilder, variant_of) -> None:
    for path in paths:
        for line, row in read_rows(path):
            raw_qid = require(row, "query-id", path, line)
            doc = require(row, "corpus-id", path, line)
            if "score" not in row:
                raise DataFormatError(path, line, "missing field 'score'", "add the relevance grade as 'score'")
            variant, qid = variant_of(raw_qid, path, line)
            builder.add_judgement(variant, qid, doc, parse_relevance(row["score"], path, line), path, line)


def _optional(row: dict, key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    value = str(value).strip()
    return value or None


def _read_original(root: Path, builder: TaskBuilder, cfg: _Configs = _Configs()) -> None:
    _read_corpus(root, builder, cfg)
    query_paths = config_files(root, cfg("queries"))
    if not any(True for path in query_paths for _ in read_rows(path)):
        _refuse_empty(query_paths, "queries", "query")
    for path in query_paths:
        for line, row in read_rows(path):
            builder.add_query(Query(
                id=require(row, "_id", path, line),
                text=require(row, "text", path, line),
                instruction_og=require(row, "instruction_og", path, line),
                instruction_changed=require(row, "instruction_changed", path, line),
                keywords=_optional(row, "keywords"),
                short_instruction=_optional(row, "short_query"),
            ), path, line)
    for variant in ("og", "changed"):
        _read_qrels(config_files(root, cfg(f"qrels_{variant}"), prefer_split="test"), builder,
                    lambda qid, _p, _l, v=variant: (v, qid))
    for path in config_files(root, cfg("top_ranked"), required=False):
        for line, row in read_rows(path):
            builder.add_candidates(require(row, "qid", path, line), [require(row, "pid", path, line)], path, line)


def _split_variant(raw_qid: str, path: Path | str, line: int | None) -> tuple[str, str]:
    for variant in ("og", "changed"):
        suffix = f"-{variant}"
        if raw_qid.endswith(suffix):
            return variant, raw_qid[: -len(suffix)]
    raise DataFormatError(path, line, f"query id {raw_qid!r} ends in neither '-og' nor '-changed'",
                          "MTEB-layout query ids are '<qid>-og' and '<qid>-changed'")


def _id_list(value: object, path: Path, line: int) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise DataFormatError(path, line, "corpus-ids is not a valid JSON list",
                                      'write the ids as ["d1", "d2"]') from None
        else:
            value = [v for v in text.split() if v]
    if not isinstance(value, (list, tuple)):
        raise DataFormatError(path, line, f"corpus-ids is a {type(value).__name__}, not a list",
                              "give a list of corpus ids")
    return [str(v) for v in value]


def _read_mteb(root: Path, builder: TaskBuilder, cfg: _Configs = _Configs()) -> None:
    _read_corpus(root, builder, cfg)
    texts: dict[str, dict[str, tuple[str, Path, int]]] = {}
    instructions: dict[str, dict[str, str]] = {}
    for path in config_files(root, cfg("queries"), prefer_split="test"):
        for line, row in read_rows(path):
            raw = require(row, _id_field(row), path, line)
            variant, qid = _split_variant(raw, path, line)
            if variant in texts.get(qid, {}):
                first = texts[qid][variant]
                raise DataFormatError(path, line, f"duplicate query id {raw!r} (first at {first[1]}:{first[2]})",
                                      "give every query id one row")
            texts.setdefault(qid, {})[variant] = (require(row, "text", path, line), path, line)
            if row.get("instruction"):
                instructions.setdefault(qid, {})[variant] = str(row["instruction"])
    inline = {qid: set(v) for qid, v in instructions.items()}
    for path in config_files(root, cfg("instruction"), required=False, prefer_split="test"):
        for line, row in read_rows(path):
            raw = require(row, "query-id", path, line)
            variant, qid = _split_variant(raw, path, line)
            if variant in instructions.get(qid, {}) and variant not in inline.get(qid, set()):
                raise DataFormatError(path, line, f"a second instruction for {raw!r}",
                                      "give every query id one instruction row")
            instructions.setdefault(qid, {})[variant] = require(row, "instruction", path, line)
    for qid, by_variant in texts.items():
        text, path, line = by_variant.get("og") or by_variant["changed"]
        inst = instructions.get(qid, {})
        for variant in ("og", "changed"):
            if variant not in inst:
                raise DataFormatError(path, line, f"query {qid!r} has no {variant} instruction",
                                      f"add a row '{qid}-{variant}' to the instruction config")
        builder.add_query(Query(qid, text, inst["og"], inst["changed"]), path, line)
    qrels = config_files(root, cfg("default"), required=False, prefer_split="test") or \
        config_files(root, cfg("qrels"), prefer_split="test")
    _read_qrels(qrels, builder, _split_variant)
    for path in config_files(root, cfg("top_ranked"), required=False, prefer_split="test"):
        for line, row in read_rows(path):
            variant, qid = _split_variant(require(row, "query-id", path, line), path, line)
            ids = _id_list(row["corpus-ids"], path, line) if "corpus-ids" in row else \
                [require(row, "corpus-id", path, line)]
            if variant == "og":
                builder.add_candidates(qid, ids, path, line)
    for path in config_files(root, cfg("qrel_diff"), required=False):
        for line, row in read_rows(path):
            raw = require(row, "query-id", path, line)
            qid = _split_variant(raw, path, line)[1] if raw.endswith(("-og", "-changed")) else raw
            builder.add_changed(qid, _id_list(row.get("corpus-ids", []), path, line), path, line)
