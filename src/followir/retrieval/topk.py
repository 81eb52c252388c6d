"""Top-k selection that breaks ties the way the rest of followir does: score descending, then document id
descending (``followir.records.rank_documents``, trec_eval). A run cut at k therefore holds exactly the first
k documents of the full ranking, whatever the order the scores came in.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def id_ranks(doc_ids: Sequence[str]) -> np.ndarray:
    """Each document's position in ascending id order (Python string order).

    >>> id_ranks(["b", "a", "c"]).tolist()
    [1, 0, 2]
    """
    order = sorted(range(len(doc_ids)), key=doc_ids.__getitem__)
    ranks = np.empty(len(doc_ids), dtype=np.int64)
    ranks[order] = np.arange(len(doc_ids))
    return ranks


def top_k(scores: np.ndarray, k: int, ranks: np.ndarray) -> np.ndarray:
    """Indices of the k best scores, best first; equal scores ordered by document id, descending.

    ``ranks`` comes from ``id_ranks`` over the same documents.

    >>> top_k(np.array([1.0, 3.0, 3.0, 2.0]), 2, id_ranks(["a", "b", "c", "d"])).tolist()
    [2, 1]
    >>> top_k(np.array([1.0, 1.0, 1.0]), 2, id_ranks(["a", "c", "b"])).tolist()
    [1, 2]
    """
    n = scores.shape[0]
    if k < 0:
        raise ValueError(f"k={k}: need k >= 0")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; the model produced invalid vectors or scores")
    k = min(k, n)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if k == n:
        chosen = np.arange(n)
    else:
        kth = np.partition(scores, n - k)[n - k]  # the k-th largest score
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)
        need = k - above.size
        if tied.size > need:  # keep the tied documents with the largest ids
            tied = tied[np.argsort(-ranks[tied], kind="stable")[:need]]
        chosen = np.concatenate([above, tied])
    order = np.lexsort((-ranks[chosen], -scores[chosen]))  # last key is the primary one
    return chosen[order]
