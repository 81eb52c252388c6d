"""FollowIR-7B-scale scoring on one GPU: the vLLM engine against the transformers engine, in one run.

A Mistral-7B-shaped model (Mistral-7B-Instruct-v0.2's config: 32 layers, hidden 4096, 32 heads with 8 KV
heads, MLP 14336, vocabulary 32,000) with random weights (vLLM's ``load_format="dummy"``; for transformers,
``from_config``) scores a FollowIR-shaped sample with Robust04's lengths: ``--topics`` topics (default 2) x
``--candidates`` (default 1,000) x og and changed. Prompts are token ids (no tokenizer is needed offline):
the FollowIR-7B template's fixed tokens, the query and instruction (Robust04's average of 386 characters,
about 90 tokens), the passage (Robust04's passages average 2,298 characters; lengths drawn around 520
tokens) and the answer cue; each query's candidates share the prompt head, as in the benchmark.

Both engines run through followir's own scorers: ``VLLMYesNoScorer`` (the vllm engine: one answer token
restricted to two, processed logprobs, prefix caching, query-grouped order) and the transformers engine's
computation (left-padded batches, bf16, the last position's two answer logits). The transformers engine is
timed on ``--hf-pairs`` pairs (default 512) and projected; vLLM on the whole sample. Reported:
  - pairs per second and prompt tokens per second of each engine, and the ratio;
  - model FLOP utilisation (MFU) against the GPU's bf16 dense peak (``--peak-tflops``; H100/H200 989):
    FLOPs = 2 x parameters x prompt tokens + attention (4 x layers x hidden x context per token), counted
    on every prompt token, so prefix-cache hits raise the effective MFU;
  - the projected wall time of the full FollowIR evaluation, 208,000 pairs (104 topics x 1,000 x 2).
The goal: the full run in under 75 minutes on one H100-class GPU at 55% or more of the FLOP limit.

    python bench/bench_gpu_followir.py [--topics 2] [--candidates 1000] [--hf-pairs 512] [--json OUT]
    python bench/bench_gpu_followir.py --tiny   # a 2-layer model on CPU: checks the script end to end
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

MISTRAL_7B = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
              "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
              "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 32000, "max_position_embeddings": 32768,
              "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "sliding_window": None, "hidden_act": "silu",
              "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
TINY = {**MISTRAL_7B, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 64, "torch_dtype": "float32"}  # CPU attention needs head_dim 64+
FULL_FOLLOWIR_PAIRS = 208_000
PEAKS = {"H100": 989.0, "H200": 989.0, "H800": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
TRUE_ID, FALSE_ID = 5852, 2071  # two ordinary token ids stand in for "true"/"false"


def parameters(c: dict) -> int:
    d, layers, inter, vocab = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["vocab_size"]
    kv = c["num_key_value_heads"] * c["head_dim"]
    per_layer = d * d * 2 + d * kv * 2 + 3 * d * inter  # q, o; k, v; gate, up, down
    return layers * per_layer + 2 * vocab * d


def prompt_flops(c: dict, length: int) -> float:
    """Forward FLOPs of one prompt: 2 x (non-embedding) parameters per token + attention over the causal prefix."""
    dense = 2 * (parameters(c) - c["vocab_size"] * c["hidden_size"]) * length
    attention = 4 * c["num_hidden_layers"] * c["hidden_size"] * (length * (length + 1) / 2)
    return dense + attention


def followir_sample(topics: int, candidates: int, seed: int = 0) -> list[list[int]]:
    """Token-id prompts shaped like FollowIR-7B's on Robust04, in query order (og, then changed, per topic)."""
    rng = random.Random(seed)
    head = [1, 733, 16289, 28793] + [rng.randrange(100, 31000) for _ in range(40)]  # "<s>[INST] ..." template
    cue = [rng.randrange(100, 31000) for _ in range(12)] + [733, 28748, 16289, 28793]  # "... [/INST]"
    prompts = []
    for _ in range(topics):
        passages = [[rng.randrange(100, 31000) for _ in range(max(40, int(rng.gauss(520, 160))))]
                    for _ in range(candidates)]
        for variant_extra in (0, 25):  # the changed instruction adds ~25 tokens
            query = [rng.randrange(100, 31000) for _ in range(90 + variant_extra)]
            prompts.extend(head + query + p + cue for p in passages)
    return prompts


def write_model_folder(config: dict) -> str:
    folder = Path(tempfile.mkdtemp(prefix="followir-bench-model-"))
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    return str(folder)


def run_vllm(folder: str, prompts: list[list[int]], dtype: str, max_len: int) -> tuple[float, list[float]]:
    from followir.models.pair_engine import plan_prefix_batches
    from followir.models.vllm_engine import VLLMYesNoScorer

    scorer = VLLMYesNoScorer(folder, (TRUE_ID, FALSE_ID), max_len, dtype=dtype, load_format="dummy",
                             skip_tokenizer_init=True, tokenizer=None)
    _ = scorer.llm  # load before timing
    scorer.score_ids(prompts[:8])  # warm-up (kernels, graphs)
    heads = [str(p[:140]) for p in prompts]  # the pair engine's grouping key: the shared prompt head
    order = [i for batch in plan_prefix_batches(heads, [len(p) for p in prompts], 4096) for i in batch]
    start = time.perf_counter()
    scores = scorer.score_ids([prompts[i] for i in order])
    return time.perf_counter() - start, scores


def run_transformers(config: dict, prompts: list[list[int]], dtype: str, batch: int) -> float:
    import torch
    import transformers

    torch_dtype = getattr(torch, dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = transformers.AutoConfig.for_model(**{k: v for k, v in config.items() if k != "architectures"})
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch_dtype).eval()
    ordered = sorted(prompts, key=len, reverse=True)  # the pair engine's length-sorted batches

    def forward(rows):
        width = max(len(r) for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for n, r in enumerate(rows):
            ids[n, width - len(r):] = torch.tensor(r)
            mask[n, width - len(r):] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                           position_ids=(mask.cumsum(-1) - 1).clamp(min=0).to(device), logits_to_keep=1).logits
            torch.log_softmax(logits[:, -1, [TRUE_ID, FALSE_ID]].float(), dim=-1)[:, 0].exp().tolist()

    forward(ordered[:2])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for s in range(0, len(ordered), batch):
        forward(ordered[s:s + batch])
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return seconds


def gpu_name_and_peak(peak: float | None) -> tuple[str, float | None]:
    try:
        import torch

        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        name = "cpu"
    if peak is None:
        peak = next((v for k, v in PEAKS.items() if k in name), None)
    return name, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--hf-pairs", type=int, default=512)
    parser.add_argument("--hf-batch", type=int, default=16)
    parser.add_argument("--peak-tflops", type=float, default=None, help="bf16 dense peak of the GPU")
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model on CPU, to check the script")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()

    config = TINY if args.tiny else MISTRAL_7B
    dtype = "float32" if args.tiny else "bfloat16"
    if args.tiny:
        args.topics, args.candidates, args.hf_pairs = min(args.topics, 1), min(args.candidates, 16), 8
    prompts = followir_sample(args.topics, args.candidates)
    max_len = max(len(p) for p in prompts) + 8
    tokens = sum(len(p) for p in prompts)
    flops = sum(prompt_flops(config, len(p)) for p in prompts)
    name, peak = gpu_name_and_peak(args.peak_tflops)
    folder = write_model_folder(config)

    vllm_s, scores = run_vllm(folder, prompts, dtype, max_len)
    assert len(scores) == len(prompts) and all(0.0 <= s <= 1.0 for s in scores), "vLLM scores out of range"
    report = {"gpu": name, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "model": "Mistral-7B shape"
              if not args.tiny else "tiny (2 layers)", "parameters": parameters(config), "pairs": len(prompts),
              "prompt_tokens": tokens, "mean_prompt_tokens": round(tokens / len(prompts), 1)}

    def engine_report(seconds: float, pairs: int, share: float) -> dict:
        out = {"seconds": round(seconds, 2), "pairs_per_s": round(pairs / seconds, 2),
               "tokens_per_s": round(tokens * share / seconds, 1),
               "projected_full_followir_min": round(FULL_FOLLOWIR_PAIRS / (pairs / seconds) / 60, 1)}
        if peak:
            out["mfu"] = round(flops * share / seconds / (peak * 1e12), 3)
        return out

    report["vllm"] = engine_report(vllm_s, len(prompts), 1.0)
    if not args.skip_transformers:
        subset = random.Random(1).sample(prompts, min(args.hf_pairs, len(prompts)))
        hf_s = run_transformers(config, subset, dtype, args.hf_batch)
        share = sum(len(p) for p in subset) / tokens
        hf_flops_share = sum(prompt_flops(config, len(p)) for p in subset) / flops
        report["transformers"] = engine_report(hf_s, len(subset), share)
        if peak:
            report["transformers"]["mfu"] = round(flops * hf_flops_share / hf_s / (peak * 1e12), 3)
        report["ratio_vllm_over_transformers_pairs_per_s"] = round(
            report["vllm"]["pairs_per_s"] / report["transformers"]["pairs_per_s"], 2)
    report["peak_bf16_tflops"] = peak
    report["goal"] = "full FollowIR (208,000 pairs) < 75 min at MFU >= 0.55 on one H100-class GPU"
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
