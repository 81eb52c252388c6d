"""Find the files of a dataset config in a directory laid out like a Hugging Face dataset repo.

The hub serves a dataset as files plus a README whose YAML front matter maps each config to its files
(``configs: [{config_name, data_files: [{split, path}]}]``). When that mapping is present it is followed
exactly; otherwise files are found by name: ``<config>.{jsonl,parquet,tsv}`` or ``<config>/*``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from followir.data.tables import TABLE_SUFFIXES
from followir.errors import DataFormatError


def _front_matter(root: Path) -> dict:
    readme = root / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError as e:
        raise DataFormatError(readme, None, f"invalid YAML front matter ({e})", "fix the dataset card") from None
    return data if isinstance(data, dict) else {}


def _declared(root: Path, config: str) -> list[tuple[str, list[Path]]] | None:
    readme = root / "README.md"
    configs = _front_matter(root).get("configs") or []
    if not isinstance(configs, list):
        raise DataFormatError(readme, None, f"'configs' is a {type(configs).__name__}, not a list",
                              "write configs as a list of {config_name, data_files} entries")
    for entry in configs:
        if not isinstance(entry, dict) or entry.get("config_name") != config:
            continue
        data_files = entry.get("data_files")
        if isinstance(data_files, str) or (isinstance(data_files, list)
                                           and all(isinstance(f, str) for f in data_files)):
            patterns = [data_files] if isinstance(data_files, str) else list(data_files)
            return [("train", _glob(root, patterns))]
        if not isinstance(data_files, list) or not all(isinstance(f, dict) for f in data_files):
            raise DataFormatError(readme, None, f"config {config!r}: 'data_files' is {data_files!r}, not a path "
                                  "or a list of {split, path} entries",
                                  "give data_files as a path, a list of paths, or a list of {split, path}")
        out = []
        for split_entry in data_files:
            pattern = split_entry.get("path")
            if not pattern or not (isinstance(pattern, str)
                                   or (isinstance(pattern, list) and all(isinstance(x, str) for x in pattern))):
                raise DataFormatError(readme, None, f"config {config!r}: the data_files entry {split_entry!r} has "
                                      "no 'path' (a file path or glob, or a list of them)",
                                      "give every data_files entry a 'path'")
            patterns = [pattern] if isinstance(pattern, str) else list(pattern)
            out.append((str(split_entry.get("split", "train")), _glob(root, patterns)))
        return out
    return None


def _glob(root: Path, patterns: list[str]) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        files.extend(sorted(p for p in root.glob(pattern) if p.is_file()))
    return files


def config_files(root: str | Path, config: str, *, required: bool = True,
                 prefer_split: str | None = None) -> list[Path]:
    """Data files of ``config`` under ``root`` (all splits, or only ``prefer_split`` when it exists)."""
    root = Path(root)
    declared = _declared(root, config)
    if declared is not None:
        splits = dict(declared)
        if prefer_split and prefer_split in splits:
            chosen = splits[prefer_split]
        else:
            chosen = [f for _, files in declared for f in files]
        if chosen or not required:
            return chosen
        raise DataFormatError(root / "README.md", None,
                              f"config {config!r} is declared but none of its files exist",
                              "download the complete dataset snapshot")
    for suffix in TABLE_SUFFIXES:
        candidate = root / f"{config}{suffix}"
        if candidate.is_file():
            return [candidate]
    folder = root / config
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in TABLE_SUFFIXES and p.is_file())
        if prefer_split:
            preferred = [p for p in files if p.name.startswith(prefer_split)]
            files = preferred or files
        if files:
            return files
    if required:
        raise DataFormatError(root, None, f"no files for config {config!r}",
                              f"add {config}.jsonl (or .parquet/.tsv) or a folder {config}/ with data files")
    return []
