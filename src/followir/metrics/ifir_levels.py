"""IFIR's nDCG@20 per instruction level.

IFIR (Song et al., NAACL 2025) gives each query several instructions, each with a level (1 to 3 for the
domains with graded instructions, 0 elsewhere) and its own relevant documents. Every (query, instruction) is
scored with nDCG@20 on its own judgements, then averaged per level and over all instructions. Reference:
SighingSnow/IFIR ``src/eval.py`` lines 32-46 (one score per instruction, filed under ``str(level)``) and
``src/offline_ndcg.py`` lines 60-75 (the mean over all instructions is ``inst``, each level's mean is
``level.<n>``); MTEB's IFIR tasks (``mteb/tasks/instruction_retrieval/eng/ifir_*.py``) use ``ndcg_at_20``. The
nDCG arithmetic is trec_eval's (``ndcg_cut.20``) through pytrec_eval.
"""

from __future__ import annotations

import math
from typing import Mapping

from followir.metrics.trec_measures import _pytrec_eval

NDCG20 = "ndcg_cut_20"


def ndcg20_per_instruction(qrels: Mapping[str, Mapping[str, int]],
                           run: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """nDCG@20 of every instruction id in ``qrels`` with a relevant document (0 when the run lacks it)."""
    pytrec_eval = _pytrec_eval()
    judged = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()
              if any(r > 0 for r in docs.values())}
    ranked = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judged and docs}
    computed = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.20"}).evaluate(ranked) if ranked else {}
    return {q: float(computed.get(q, {}).get(NDCG20, 0.0)) for q in sorted(judged)}


def mean_by_level(per_instruction: Mapping[str, float], levels: Mapping[str, int]) -> dict[str, float]:
    """``{"all": mean, "level.<n>": mean of level n}`` over the instructions in ``per_instruction``."""
    out: dict[str, float] = {}
    if per_instruction:
        out["all"] = math.fsum(per_instruction[q] for q in sorted(per_instruction)) / len(per_instruction)
    for level in sorted({levels[q] for q in per_instruction}):
        values = [per_instruction[q] for q in sorted(per_instruction) if levels[q] == level]
        out[f"level.{level}"] = math.fsum(values) / len(values)
    return out
