"""Metrics: p-MRR (ours), trec_eval measures (pytrec_eval), Robustness@k, and uncertainty."""

from followir.metrics.followir_scores import FollowIRScores, score_followir
from followir.metrics.pmrr import p_mrr, p_mrr_per_query, rank_change_score
from followir.metrics.robustness import robustness_at_k
from followir.metrics.trec_measures import MEASURES, mean_measures, per_query_measures
from followir.metrics.uncertainty import bootstrap_interval, paired_randomization_test

__all__ = [
    "FollowIRScores",
    "MEASURES",
    "bootstrap_interval",
    "mean_measures",
    "p_mrr",
    "p_mrr_per_query",
    "paired_randomization_test",
    "per_query_measures",
    "rank_change_score",
    "robustness_at_k",
    "score_followir",
]
