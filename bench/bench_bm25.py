"""Time followir's BM25 against rank_bm25.BM25Okapi at FollowIR scale, in one run, and report the ratio.

Shape: the Robust04 FollowIR set as MTEB describes it (``../shared/data/followir-stats``): 52 topics, each
ranked under its og and changed instruction (104 requests) over 1,000 candidates; 47,492 distinct passages,
about 2,298 characters each; query + instruction about 386 characters. Text: real English sentences from
the SciFact corpus (``../shared/data/beir-scifact``), shuffled with a fixed seed, or Zipfian pseudo-words
without it.

Timed, each from a cold start:
  ours            BM25().rerank(requests, corpus): analysis, indexing and scoring, end to end
  ours scoring    the same with the Analyzer replaced by a lookup of precomputed tokens
  ref tokenize    the same Analyzer over every pooled passage (once) and every request text
  ref scoring     per request: rank_bm25.BM25Okapi(pool_tokens).get_scores(query_tokens)

    python bench/bench_bm25.py            # full scale, 3 rounds (about 90 seconds on 2 cores)
    python bench/bench_bm25.py --quick    # 8 topics x 300 candidates
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import time
from pathlib import Path

import numpy as np

from followir.models.base import RankRequest
from followir.models.bm25 import BM25
from followir.models.text_analysis import Analyzer
from followir.records import Document, rank_documents

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
STATS_FILE = DATA / "followir-stats" / "Robust04InstructionRetrieval.stats.json"
SCIFACT = DATA / "beir-scifact"

# Used when the stats file is absent (the same numbers it holds).
DEFAULT_SHAPE = {"topics": 52, "candidates": 1000, "documents": 47492,
                 "doc_chars": (47, 2298.0, 6597), "query_chars": (119, 386.0, 986)}


def load_shape() -> tuple[dict, str]:
    if not STATS_FILE.exists():
        return dict(DEFAULT_SHAPE), "built-in numbers (stats file absent)"
    test = json.loads(STATS_FILE.read_text())["test"]
    docs, queries = test["documents_text_statistics"], test["queries_text_statistics"]
    shape = {
        "topics": test["num_queries"] // 2,
        "candidates": round(test["top_ranked_statistics"]["average_top_ranked_per_query"]),
        "documents": test["num_documents"],
        "doc_chars": (docs["min_text_length"], docs["average_text_length"], docs["max_text_length"]),
        "query_chars": (queries["min_text_length"], queries["average_text_length"],
                        queries["max_text_length"]),
    }
    return shape, str(STATS_FILE.relative_to(REPO.parent))


def lengths(rng: np.random.Generator, n: int, lo: int, mean: float, hi: int,
            shape: float = 4.0) -> np.ndarray:
    """Gamma-distributed lengths rescaled to the given sample mean (a few topics vary a lot), clipped."""
    x = rng.gamma(shape, mean / shape, size=n)
    return np.clip(x * mean / x.mean(), lo, hi).round().astype(int)


class SentenceText:
    """Real English text: SciFact sentences, shuffled with a fixed seed, drawn at random."""

    name = "SciFact sentences"

    def __init__(self, seed: int):
        sentences = []
        with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as f:
            for line in f:
                sentences += [s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if len(s) > 20]
        random.Random(seed).shuffle(sentences)
        self.sentences = sentences
        self.rng = random.Random(seed + 1)
        with (SCIFACT / "queries.test.jsonl").open(encoding="utf-8") as f:
            self.queries = [json.loads(line)["text"] for line in f]

    def text(self, chars: int, start: str = "") -> str:
        parts, n = [start] if start else [], len(start)
        while n < chars:
            s = self.sentences[self.rng.randrange(len(self.sentences))]
            parts.append(s)
            n += len(s) + 1
        return truncate(" ".join(parts), chars)

    def query(self, i: int) -> str:
        return self.queries[i % len(self.queries)]


class ZipfText:
    """Pseudo-words with Zipfian frequencies (exponent 1.07), when SciFact is absent."""

    name = "Zipfian pseudo-words"

    def __init__(self, seed: int, vocabulary: int = 50_000):
        self.rng = np.random.default_rng(seed)
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        word_len = self.rng.integers(3, 11, size=vocabulary)
        self.words = np.array(["".join(self.rng.choice(letters, k)) for k in word_len])
        p = 1.0 / np.arange(1, vocabulary + 1) ** 1.07
        self.p = p / p.sum()
        self.mean_len = float((word_len * self.p).sum()) + 1

    def text(self, chars: int, start: str = "") -> str:
        words = self.rng.choice(self.words, size=int(chars / self.mean_len) + 20, p=self.p)
        return truncate(" ".join([start, *words] if start else words), chars)

    def query(self, i: int) -> str:
        return self.text(60)


def truncate(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    cut = text.rfind(" ", 0, chars)
    return text[: cut if cut > 0 else chars]


def build(shape: dict, topics: int, candidates: int, seed: int):
    """Corpus and requests. Pools overlap as Robust04's do: 52 x 1,000 candidates over 47,492 passages."""
    source = SentenceText(seed) if (SCIFACT / "corpus.jsonl").exists() else ZipfText(seed)
    rng = np.random.default_rng(seed)
    distinct = shape["documents"] / (shape["topics"] * shape["candidates"])
    n_docs = max(candidates, round(topics * candidates * distinct))
    doc_lengths = lengths(rng, n_docs, *shape["doc_chars"])
    ids = [f"doc{i:06d}" for i in range(n_docs)]
    corpus = {d: Document(d, source.text(int(n))) for d, n in zip(ids, doc_lengths)}

    # Each topic owns an equal share of the passages and draws the rest of its pool from everyone else's.
    order = rng.permutation(n_docs)
    shares = np.array_split(order, topics)
    requests = []
    lo, mean, hi = shape["query_chars"]
    extra = 100  # the changed instruction adds about a sentence: og averages mean - 50, changed mean + 50
    og_lengths = lengths(rng, topics, lo, mean - extra / 2, hi - extra)
    for t, own in enumerate(shares):
        others = np.setdiff1d(np.arange(n_docs), own, assume_unique=True)
        fill = rng.choice(others, size=max(0, candidates - own.size), replace=False)
        pool = np.concatenate([own[:candidates], fill])
        rng.shuffle(pool)
        pool_ids = tuple(ids[i] for i in pool)
        query = source.query(t)
        og = source.text(int(og_lengths[t]) - len(query) - 1)
        changed = source.text(len(og) + extra, start=og)
        requests += [RankRequest(str(t), "og", query, og, pool_ids),
                     RankRequest(str(t), "changed", query, changed, pool_ids)]
    return corpus, requests, source.name


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def reference_tokenize(requests, corpus):
    analyze = Analyzer()
    pooled = dict.fromkeys(d for r in requests for d in r.candidates)
    docs = {d: analyze(corpus[d].full_text) for d in pooled}
    queries = [analyze(r.text) for r in requests]
    return docs, queries


def reference_score(requests, doc_tokens, query_tokens):
    from rank_bm25 import BM25Okapi

    build_s = score_s = 0.0
    scores = []
    for request, q in zip(requests, query_tokens):
        t0 = time.perf_counter()
        model = BM25Okapi([doc_tokens[d] for d in request.candidates], k1=1.5, b=0.75, epsilon=0.25)
        t1 = time.perf_counter()
        scores.append(dict(zip(request.candidates, model.get_scores(q).tolist())))
        build_s += t1 - t0
        score_s += time.perf_counter() - t1
    return scores, build_s, score_s


class Pretokenized:
    """Stands in for the Analyzer with tokens computed beforehand (for 'ours, scoring only')."""

    def __init__(self, tokens: dict[str, list[str]]):
        self.tokens = tokens

    def __call__(self, text: str) -> list[str]:
        return self.tokens[text]

    def words(self, text: str) -> list[str]:
        return self.tokens[text]

    def terms_of_words(self, words: list[str]) -> list[str]:
        return words


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, help="topics (2 requests each); default 52")
    parser.add_argument("--candidates", type=int, help="candidates per query; default 1000")
    parser.add_argument("--quick", action="store_true", help="8 topics x 300 candidates")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each path reports its fastest")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    shape, shape_source = load_shape()
    topics = args.topics or (8 if args.quick else shape["topics"])
    candidates = args.candidates or (300 if args.quick else shape["candidates"])
    if topics < 1 or candidates < 1 or args.repeat < 1:
        parser.error(f"--topics={topics} --candidates={candidates} --repeat={args.repeat}: "
                     "each must be at least 1")

    (corpus, requests, text_source), build_s = timed(lambda: build(shape, topics, candidates, args.seed))
    pooled = {d for r in requests for d in r.candidates}
    doc_chars = np.mean([len(corpus[d].full_text) for d in pooled])
    query_chars = np.mean([len(r.text) for r in requests])
    print(f"shape from {shape_source}; text: {text_source}; built in {build_s:.1f}s")
    print(f"{len(requests)} requests over {topics} pools of {candidates}; {len(pooled):,} distinct pooled "
          f"passages of {doc_chars:,.0f} chars on average; query+instruction {query_chars:.0f} chars",
          )

    # Rounds interleave the paths; each path keeps its fastest round. Every run is a cold start: a fresh
    # BM25 or Analyzer (empty stem cache), nothing carried over between rounds.
    times: dict[str, float] = {}

    def keep(name: str, seconds: float) -> bool:
        best = seconds < times.get(name, float("inf"))
        if best:
            times[name] = seconds
        return best

    for _ in range(args.repeat):
        (doc_tokens, query_tokens), seconds = timed(lambda: reference_tokenize(requests, corpus))
        keep("ref_tokenize", seconds)
        (ref_scores, build_s, query_s), seconds = timed(
            lambda d=doc_tokens, q=query_tokens: reference_score(requests, d, q))
        if keep("ref_scoring", seconds):
            times["ref_build"], times["ref_get_scores"] = build_s, query_s
        ours, seconds = timed(lambda: BM25().rerank(requests, corpus))
        keep("ours", seconds)
        lookup = {corpus[d].full_text: toks for d, toks in doc_tokens.items()}
        lookup.update({r.text: q for r, q in zip(requests, query_tokens)})
        plain = BM25()
        plain.analyzer = Pretokenized(lookup)
        ours_plain, seconds = timed(lambda m=plain: m.rerank(requests, corpus))
        keep("ours_scoring", seconds)
    ours_s, ours_scoring_s = times["ours"], times["ours_scoring"]
    ref_tok_s, ref_score_s = times["ref_tokenize"], times["ref_scoring"]
    ref_build_s, ref_query_s = times["ref_build"], times["ref_get_scores"]

    agree = sum(rank_documents(a) == rank_documents(b) == rank_documents(c)
                for a, b, c in zip(ours, ours_plain, ref_scores))
    max_rel = max(float(np.max(np.abs(np.subtract([a[d] for d in r.candidates], [b[d] for d in r.candidates]))
                                / np.maximum(np.abs([b[d] for d in r.candidates]), 1e-12)))
                  for r, a, b in zip(requests, ours, ref_scores))

    ref_total = ref_tok_s + ref_score_s
    ratio_e2e = ref_total / ours_s
    ratio_scoring = ref_score_s / ours_scoring_s
    rows = [("ours: BM25().rerank, end to end", ours_s),
            ("ours: scoring only (tokens given)", ours_scoring_s),
            ("rank_bm25: tokenize (same Analyzer)", ref_tok_s),
            ("rank_bm25: BM25Okapi build + get_scores", ref_score_s),
            ("    of which BM25Okapi(...) build", ref_build_s),
            ("    of which get_scores", ref_query_s),
            ("rank_bm25: end to end", ref_total)]
    print(f"\n{'path (fastest of ' + str(args.repeat) + ' rounds)':<42} {'seconds':>9}")
    for name, seconds in rows:
        print(f"{name:<42} {seconds:>9.2f}")
    print(f"\nspeed-up, end to end:   {ratio_e2e:.1f}x")
    print(f"speed-up, scoring only: {ratio_scoring:.1f}x")
    print(f"rankings agree on {agree}/{len(requests)} requests; "
          f"max relative score difference {max_rel:.1e}\n")

    result = {"bench": "bm25", "topics": topics, "requests": len(requests), "candidates": candidates,
              "pooled_docs": len(pooled), "mean_doc_chars": round(float(doc_chars), 1),
              "mean_query_chars": round(float(query_chars), 1), "text": text_source,
              "ours_end_to_end_s": round(ours_s, 3), "ours_scoring_s": round(ours_scoring_s, 3),
              "ref_tokenize_s": round(ref_tok_s, 3), "ref_scoring_s": round(ref_score_s, 3),
              "ref_build_s": round(ref_build_s, 3), "ref_get_scores_s": round(ref_query_s, 3),
              "ratio_end_to_end": round(ratio_e2e, 2), "ratio_scoring": round(ratio_scoring, 2),
              "repeat": args.repeat, "rankings_agree": agree, "max_rel_diff": max_rel,
              "python": platform.python_version()}
    print(json.dumps(result))
    if agree != len(requests):
        raise SystemExit(f"rankings differ from rank_bm25 on {len(requests) - agree} requests")
    return result


if __name__ == "__main__":
    main()
