"""Pairwise significance for a report: a paired randomization test for every pair of models on every task
they share, on the main score and on p-MRR (through :func:`followir.evaluation.compare.compare_results`).

The p-values are per comparison, not corrected for the number of pairs; with many models, read them with
a correction (Holm, Bonferroni) in mind.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

from followir.evaluation.compare import compare_results
from followir.metrics.trec_measures import MEASURES
from followir.metrics.uncertainty import DEFAULT_RESAMPLES
from followir.reports.collect import ModelRow, task_names


@dataclass(frozen=True)
class PairTest:
    task: str
    measure: str  # "MAP@1000", "p-MRR", ...
    model_a: str
    model_b: str
    mean_a: float
    mean_b: float
    difference: float  # mean of A - B over shared queries
    p_value: float
    queries: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def pairwise_tests(rows: Sequence[ModelRow], resamples: int = DEFAULT_RESAMPLES) -> list[PairTest]:
    """Tests ordered by task, then pair (in row order), main score before p-MRR."""
    by_task: dict[str, list[PairTest]] = {t: [] for t in task_names(rows)}
    for a, b in combinations(rows, 2):
        if not set(a.tasks) & set(b.tasks):
            continue
        for task, tests in compare_results(a.results, b.results, resamples).items():
            metric = tests["main_metric"]
            for key, label in (("main_score", MEASURES[metric].label if metric in MEASURES else metric),
                               ("p-MRR", "p-MRR")):
                t = tests[key]
                by_task[task].append(PairTest(task, label, a.label, b.label, t["mean_a"], t["mean_b"],
                                              t["difference"], t["p_value"], t["queries"]))
    return [test for tests in by_task.values() for test in tests]
