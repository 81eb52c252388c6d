"""Is A better than B, or is it noise? Paired tests between two results files on their shared tasks."""

from __future__ import annotations

from followir.metrics.uncertainty import paired_randomization_test


def compare_results(a: dict, b: dict, resamples: int = 10_000) -> dict[str, dict]:
    """Per shared task, a paired randomization test on the per-query main score and on per-query p-MRR."""
    shared = [t for t in a["tasks"] if t in b["tasks"]]
    if not shared:
        raise ValueError(f"the results share no task (A: {sorted(a['tasks'])}, B: {sorted(b['tasks'])})")
    out: dict[str, dict] = {}
    for name in shared:
        ta, tb = a["tasks"][name]["scores"], b["tasks"][name]["scores"]
        metric = ta["main_metric"]
        if tb["main_metric"] != metric:
            raise ValueError(f"{name}: main metrics differ ({metric} vs {tb['main_metric']})")
        main_a = {q: v[metric] for q, v in ta["per_query"]["og"].items()}
        main_b = {q: v[metric] for q, v in tb["per_query"]["og"].items()}
        out[name] = {
            "main_metric": metric,
            "main_score": paired_randomization_test(main_a, main_b, resamples).to_dict(),
            "p-MRR": paired_randomization_test(ta["per_query"]["p-MRR"], tb["per_query"]["p-MRR"],
                                               resamples).to_dict(),
        }
    return out
