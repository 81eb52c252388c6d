"""How well p(true) separates relevant from non-relevant pairs: AUC and accuracy, also during training.

>>> roc_auc([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.4])
0.875
>>> roc_auc([1, 1], [0.2, 0.3])
nan
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from followir.training.examples import IGNORE_INDEX


def roc_auc(labels: Sequence[int | bool], scores: Sequence[float]) -> float:
    """Area under the ROC curve: P(score of a relevant > score of a non-relevant), ties counting one half.

    The Mann-Whitney U statistic over average ranks; ``nan`` when only one class is present.
    """
    from scipy.stats import rankdata

    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def separation(labels: Sequence[int | bool], p_true: Sequence[float]) -> dict[str, float]:
    """AUC, accuracy at p(true) > 0.5, and the mean p(true) of each class."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(p_true, dtype=float)
    return {
        "auc": roc_auc(y, p),
        "accuracy": float(((p > 0.5) == y).mean()) if len(y) else float("nan"),
        "p_true_relevant": float(p[y].mean()) if y.any() else float("nan"),
        "p_true_nonrelevant": float(p[~y].mean()) if (~y).any() else float("nan"),
    }


class AnswerProbability:
    """``preprocess_logits_for_metrics`` for the Trainer: keeps p(true) at each row's answer position only.

    The answer token is the one label not equal to -100; the logits one position before it predict it.
    p(true) is the log-softmax over the (true, false) logits in float32, as the scorer computes it.
    """

    def __init__(self, true_id: int, false_id: int):
        self.true_id, self.false_id = true_id, false_id

    def __call__(self, logits, labels):
        import torch

        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        answer_pos = (labels != IGNORE_INDEX).int().argmax(dim=1)
        rows = torch.arange(logits.shape[0], device=logits.device)
        pair = logits[rows, answer_pos - 1][:, [self.true_id, self.false_id]].float()
        return torch.log_softmax(pair, dim=-1)[:, 0].exp()


class SeparationMetrics:
    """``compute_metrics`` for the Trainer: separation of p(true) on the held-out pairs."""

    def __init__(self, true_id: int):
        self.true_id = true_id

    def __call__(self, eval_pred) -> dict[str, float]:
        p_true = np.asarray(eval_pred.predictions, dtype=float).reshape(-1)
        label_ids = np.asarray(eval_pred.label_ids)
        answers = label_ids.max(axis=1)  # the one label per row that is not -100
        return separation(answers == self.true_id, p_true)
