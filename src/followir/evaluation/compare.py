"""Is A better than B, or is it noise? Paired tests between two results files on their shared tasks."""

from __future__ import annotations

from followir.errors import DataFormatError
from followir.metrics.uncertainty import paired_randomization_test


def _per_query(results: dict, task: str, which: str, where: str) -> tuple[str, dict]:
    """The task's main metric and per-query values (og main metric, or p-MRR), or a DataFormatError."""
    scores = results["tasks"][task].get("scores") if isinstance(results["tasks"][task], dict) else None
    per_query = scores.get("per_query") if isinstance(scores, dict) else None
    if not isinstance(per_query, dict) or not isinstance(per_query.get("og"), dict) \
            or not isinstance(per_query.get("p-MRR"), dict) or "main_metric" not in scores:
        raise DataFormatError(where, None, f"task {task!r} has no per-query scores (scores.per_query.og and "
                              "scores.per_query.p-MRR), which a paired test needs",
                              "compare results.json files written by 'followir evaluate'")
    metric = scores["main_metric"]
    if which == "p-MRR":
        return metric, per_query["p-MRR"]
    try:
        return metric, {q: v[metric] for q, v in per_query["og"].items()}
    except (KeyError, TypeError):
        raise DataFormatError(where, None, f"task {task!r}: per-query og scores lack {metric!r}",
                              "compare results.json files written by 'followir evaluate'") from None


def compare_results(a: dict, b: dict, resamples: int = 10_000,
                    sources: tuple[str, str] = ("results A", "results B")) -> dict[str, dict]:
    """Per shared task, a paired randomization test on the per-query main score and on per-query p-MRR."""
    shared = [t for t in a["tasks"] if t in b["tasks"]]
    if not shared:
        raise ValueError(f"the results share no task (A: {sorted(a['tasks'])}, B: {sorted(b['tasks'])})")
    out: dict[str, dict] = {}
    for name in shared:
        metric, main_a = _per_query(a, name, "main", sources[0])
        metric_b, main_b = _per_query(b, name, "main", sources[1])
        if metric_b != metric:
            raise ValueError(f"{name}: main metrics differ ({metric} vs {metric_b})")
        out[name] = {
            "main_metric": metric,
            "main_score": paired_randomization_test(main_a, main_b, resamples).to_dict(),
            "p-MRR": paired_randomization_test(_per_query(a, name, "p-MRR", sources[0])[1],
                                               _per_query(b, name, "p-MRR", sources[1])[1],
                                               resamples).to_dict(),
        }
    return out


def compare_field_results(a: dict, b: dict, resamples: int = 10_000) -> dict[str, dict]:
    """Paired randomization tests on every per-query metric of the field benchmarks both files share (results.json
    ``field``: WISE, SICR, paired accuracy, IFIR's nDCG@20, ...) and of their shared control analyses
    (``control``: p-MRR, control p-MRR and their difference); ``{task: {metric: test}}``."""
    out: dict[str, dict] = {}
    for part, prefix in (("field", ""), ("control", "control:")):
        mine, theirs = a.get(part) or {}, b.get(part) or {}
        for name in [n for n in mine if n in theirs]:
            pa, pb = mine[name].get("per_query") or {}, theirs[name].get("per_query") or {}
            tests = {}
            for metric in [m for m in pa if m in pb]:
                if set(pa[metric]) & set(pb[metric]):
                    tests[metric] = paired_randomization_test(pa[metric], pb[metric], resamples).to_dict()
            if tests:
                out[prefix + name] = tests
    return out
