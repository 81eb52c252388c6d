"""Chunk and BM25-pool a synthetic collection with Robust04's document lengths, against chunking and indexing
the same collection with bm25s alone; time ratio and peak memory, each side in its own process.

Collection: N documents (500,000 by default, Robust04's size is 528,155), lengths drawn from a log-normal with
Robust04's shape (mean about 480 words, long right tail, capped at 20,000 words; an assumption fitted to the
collection's published mean, not measured from its files, which are licensed), Zipfian pseudo-words from a
50,000-word vocabulary, written as jsonl first (not timed).

  ours      followir's build-candidates step with BM25 only: stream the jsonl, chunk into 400/200-word passages
            to disk, index them with followir's bm25s index and its text analysis, search 50 topics, MaxP,
            select 1,000 candidates per topic
  bm25s     read the jsonl, chunk the same way in memory, bm25s.tokenize (its own tokenizer and stopwords)
            and bm25s.BM25().index, search the same 50 queries (top 3,000)

    python bench/bench_build_benchmark.py --docs 500000
    python bench/bench_build_benchmark.py --docs 20000      # minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def make_collection(path: Path, docs: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i:x}" for i in range(50_000)]
    ranks = np.arange(1, len(vocab) + 1)
    p = 1.0 / ranks
    p /= p.sum()
    lengths = np.minimum(rng.lognormal(mean=5.8, sigma=0.75, size=docs).astype(int) + 20, 20_000)
    with open(path, "w") as f:
        for i, n in enumerate(lengths):
            words = rng.choice(len(vocab), size=int(n), p=p)
            f.write(json.dumps({"_id": f"D{i}", "text": " ".join(vocab[w] for w in words)}) + "\n")
    queries = {str(q): " ".join(vocab[w] for w in rng.choice(2000, size=12)) for q in range(50)}
    return {"mean_words": float(lengths.mean()), "median_words": float(np.median(lengths)), "queries": queries}


OURS = r"""
import json, resource, sys, time
from pathlib import Path
from followir.construction.candidates import PoolSettings, run_candidates
from followir.data.trec import write_qrels
from followir.records import Qrels
work, collection, queries = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
with open(work / "topics.jsonl", "w") as f:
    for q, text in queries.items():
        f.write(json.dumps({"number": q, "title": text, "description": "", "narrative": "x"}) + "\n")
write_qrels(Qrels({q: {"D0": 1} for q in queries}), work / "qrels.og.trec")
start = time.perf_counter()
from followir.models.bm25 import BM25
run_candidates(work, collection, ["bm25"], settings=PoolSettings(depth=1000, passage_depth=3000, instruction="none"),
               load=lambda name: BM25())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"s": time.perf_counter() - start, "peak_mib": peak}))
"""

BM25S = r"""
import json, resource, sys, time
import bm25s
from followir.construction.chunking import chunk_words
collection, queries = sys.argv[2], json.loads(sys.argv[3])
start = time.perf_counter()
ids, texts = [], []
with open(collection) as f:
    for line in f:
        row = json.loads(line)
        for i, t in enumerate(chunk_words(row["text"])):
            ids.append(f"{row['_id']}#{i}"); texts.append(t)
retriever = bm25s.BM25()
retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
del texts
q = bm25s.tokenize(list(queries.values()), stopwords="en", show_progress=False)
retriever.retrieve(q, k=3000, show_progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"s": time.perf_counter() - start, "peak_mib": peak}))
"""


def run(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        collection = tmp / "collection.jsonl"
        shape = make_collection(collection, args.docs)
        queries = json.dumps(shape.pop("queries"))
        (tmp / "work").mkdir()
        ours = run(OURS, str(tmp / "work"), str(collection), queries)
        passages = json.loads((tmp / "work" / "pool" / "passages.json").read_text())["passages"]
        ref = run(BM25S, str(tmp / "work"), str(collection), queries)
    print(json.dumps({"bench": "build_benchmark_pool", "docs": args.docs, "passages": passages, **shape,
                      "ours_s": round(ours["s"], 1), "ours_peak_mib": round(ours["peak_mib"]),
                      "bm25s_s": round(ref["s"], 1), "bm25s_peak_mib": round(ref["peak_mib"]),
                      "time_ratio": round(ours["s"] / ref["s"], 2), "python": platform.python_version()}))


if __name__ == "__main__":
    main()
