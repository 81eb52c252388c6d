"""Full-collection retrieval: BM25 (bm25s) and dense (exact, or HNSW through faiss) search over a corpus.

The analyses that need it (the BEIR keyword ablation, full-collection FollowIR) build a ``Searcher`` from a
followir model and get ``followir.records.Run`` objects back, written as TREC run files like any other run.
"""

from followir.retrieval.approximate import HNSWSettings
from followir.retrieval.searcher import Searcher, SearchRequest
from followir.retrieval.topk import id_ranks, top_k

__all__ = ["HNSWSettings", "SearchRequest", "Searcher", "id_ranks", "top_k"]
