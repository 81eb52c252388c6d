"""Row readers for the table formats datasets come in: jsonl, parquet and tsv (with a header line).

Each reader yields ``(line, row)`` so errors can name where a bad row came from. For jsonl and tsv
``line`` is the 1-based line number in the file; for parquet it is the 1-based row number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from followir.errors import DataFormatError

TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".tsv")


def read_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        yield from _read_jsonl(path)
    elif suffix == ".parquet":
        yield from _read_parquet(path)
    elif suffix == ".tsv":
        yield from _read_tsv(path)
    else:
        raise DataFormatError(path, None, f"unsupported file type {suffix!r}",
                              f"use one of {', '.join(TABLE_SUFFIXES)}")


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 file, line ends removed; a byte-order mark on line 1 is dropped.

    Bytes that are not UTF-8 raise a ``DataFormatError`` naming the line, never a bare codec error.
    """
    path = Path(path)
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(path, number, f"bytes that are not UTF-8 ({raw[e.start:e.end]!r} at "
                                      f"column {e.start + 1})",
                                      "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield number, line.rstrip("\n").rstrip("\r")


def _refuse_duplicate_keys(path: Path, number: int):
    def hook(pairs: list[tuple[str, object]]) -> dict:
        row: dict = {}
        for key, value in pairs:
            if key in row:
                raise DataFormatError(path, number, f"the object holds the key {key!r} twice",
                                      "give each field once per line")
            row[key] = value
        return row

    return hook


def read_json_lines(path: str | Path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` of a JSON-lines file whatever its name; blank lines skipped. Errors (invalid JSON,
    a non-object line, a repeated key, bytes that are not UTF-8) name the file and the line."""
    return _read_jsonl(Path(path))


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=_refuse_duplicate_keys(path, number))
        except json.JSONDecodeError as e:
            raise DataFormatError(path, number, f"invalid JSON ({e.msg})",
                                  "write one JSON object per line") from None
        if not isinstance(row, dict):
            raise DataFormatError(path, number, "a line is not a JSON object",
                                  "write one JSON object per line")
        yield number, row


def _read_parquet(path: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pyarrow.ArrowException, OSError) as e:
        raise DataFormatError(path, None, f"not a readable parquet file ({e})",
                              "write the table with pyarrow or pandas .to_parquet(), or use jsonl") from None
    for number, row in enumerate(table.to_pylist(), start=1):
        yield number, row


def _read_tsv(path: Path) -> Iterator[tuple[int, dict]]:
    lines = text_lines(path)
    _, header_line = next(lines, (1, ""))
    if not header_line.strip():
        raise DataFormatError(path, 1, "the file has no header line",
                              "start the file with tab-separated column names")
    header = header_line.split("\t")
    for name in header:
        if header.count(name) > 1:
            raise DataFormatError(path, 1, f"the header names the column {name!r} twice",
                                  "give each column a distinct name")
    for number, line in lines:
        if not line.strip():
            continue
        values = line.split("\t")
        if len(values) != len(header):
            raise DataFormatError(path, number, f"{len(values)} columns, the header has {len(header)}",
                                  f"give each line the columns {header}")
        yield number, dict(zip(header, values))


def require(row: dict, key: str, path: Path | str, line: int, *, allow_empty: bool = False) -> str:
    """Return ``row[key]`` as a string, or raise naming the file, the line and the missing field."""
    if key not in row or row[key] is None:
        raise DataFormatError(path, line, f"missing field {key!r} (fields present: {sorted(row)})",
                              f"add {key!r} to every row")
    value = row[key]
    if not isinstance(value, str):
        value = str(value)
    if not allow_empty and not value.strip():
        raise DataFormatError(path, line, f"field {key!r} is empty", f"give {key!r} a non-empty value")
    return value


def check_id(value: str, path: Path | str, line: int | None, what: str = "id") -> str:
    """``value`` if it can be written to a TREC file and read back identically (non-empty, no whitespace)."""
    if not value:
        raise DataFormatError(path, line, f"{what} is empty", f"give every {what} a value")
    if value.split() != [value]:
        raise DataFormatError(path, line, f"{what} {value!r} holds whitespace, so TREC run and qrels files "
                              "cannot hold it", "remove the whitespace from the id (e.g. replace it with '_')")
    return value


def parse_relevance(value: object, path: Path | str, line: int) -> int:
    """Relevance as an int. Integral floats (1.0, as the hub stores them) are accepted; 0.5 is not."""
    if isinstance(value, bool):
        raise DataFormatError(path, line, f"relevance {value!r} is not an integer", "use integer grades")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = None
            if number is not None and number.is_integer():
                return int(number)
    raise DataFormatError(path, line, f"relevance {value!r} is not an integer",
                          "use integer grades such as 0, 1 or 2")
