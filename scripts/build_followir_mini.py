"""Build the packaged followir-mini benchmark from its topic sources.

    python scripts/build_followir_mini.py            # write src/followir/benchmarks/followir_mini/
    python scripts/build_followir_mini.py --check    # exit 1 if the packaged files are out of date

Sources: benchmarks-src/followir-mini/topic_*.json (one file per topic: query, instructions, keywords,
short instruction, rationale, passages with og/changed labels). Output: the original FollowIR layout
(corpus.jsonl, queries.jsonl, qrels_og/test.jsonl, qrels_changed/test.jsonl, top_ranked.jsonl and a
README whose YAML front matter declares the configs, as the hub serves jhu-clsp/*-instructions).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "benchmarks-src" / "followir-mini"
TARGET = ROOT / "src" / "followir" / "benchmarks" / "followir_mini"

FRONT_MATTER = """---
language:
- en
license: mit
task_categories:
- text-retrieval
tags:
- text-retrieval
- instruction-retrieval
configs:
- config_name: corpus
  data_files:
  - split: corpus
    path: corpus.jsonl
- config_name: queries
  data_files:
  - split: queries
    path: queries.jsonl
- config_name: qrels_og
  data_files:
  - split: test
    path: qrels_og/test.jsonl
- config_name: qrels_changed
  data_files:
  - split: test
    path: qrels_changed/test.jsonl
- config_name: top_ranked
  data_files:
  - split: top_ranked
    path: top_ranked.jsonl
---
"""


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def build() -> dict[str, str]:
    topics = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SOURCES.glob("topic_*.json"))]
    corpus, queries, qrels_og, qrels_changed, top = [], [], [], [], []
    readme = [FRONT_MATTER, "# followir-mini\n",
              "A small benchmark in the FollowIR layout, written for the followir project (original text, "
              "MIT licence). Fictional news passages; each topic has an assessor-style narrative (og), a "
              "narrower changed instruction, and complete judgements under both. Non-relevant passages "
              "include lexical traps that share the query's and instructions' words but fail the "
              "narrative. Built by scripts/build_followir_mini.py from benchmarks-src/followir-mini/.\n",
              f"\n{len(topics)} topics, "
              f"{sum(len(t['passages']) for t in topics)} passages.\n",
              "\n| topic | query | og relevant | changed relevant | rationale |\n|---|---|---:|---:|---|\n"]
    for t in topics:
        qid = t["id"]
        queries.append({"_id": qid, "text": t["query"], "instruction_og": t["instruction_og"],
                        "instruction_changed": t["instruction_changed"], "keywords": t["keywords"],
                        "short_query": t["short_query"]})
        for p in t["passages"]:
            corpus.append({"_id": p["id"], "title": p["title"], "text": p["text"]})
            qrels_og.append({"query-id": qid, "corpus-id": p["id"], "score": p["og"]})
            qrels_changed.append({"query-id": qid, "corpus-id": p["id"], "score": p["changed"]})
            top.append({"qid": qid, "pid": p["id"]})
        og = sum(p["og"] for p in t["passages"])
        ch = sum(p["changed"] for p in t["passages"])
        readme.append(f"| {qid} | {t['query']} | {og} | {ch} | {t['rationale']} |\n")
    return {
        "corpus.jsonl": _jsonl(corpus),
        "queries.jsonl": _jsonl(queries),
        "qrels_og/test.jsonl": _jsonl(qrels_og),
        "qrels_changed/test.jsonl": _jsonl(qrels_changed),
        "top_ranked.jsonl": _jsonl(top),
        "README.md": "".join(readme),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the packaged files are current")
    args = parser.parse_args()
    files = build()
    stale = [name for name, text in files.items()
             if not (TARGET / name).is_file() or (TARGET / name).read_text(encoding="utf-8") != text]
    if args.check:
        for name in stale:
            print(f"out of date: {TARGET / name}", file=sys.stderr)
        return 1 if stale else 0
    for name, text in files.items():
        path = TARGET / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
