"""Pre-judging by a registered yes/no reranker: p(relevant) of each document under the changed narrative,
stored beside the people's judgements (shown to an assessor only when asked) and reported as the model's
agreement with them."""

from __future__ import annotations

from followir.errors import OptionError

YES_NO_FAMILIES = ("seq2seq", "causal-lm", "enc-t5")
THRESHOLD = 0.5


def prejudge(store, items, narratives, topics, model, progress=None) -> int:
    """Score every item with ``model`` (a loaded followir yes/no reranker); returns how many were stored."""
    from followir.models.base import RankRequest
    from followir.records import Document

    family = model.describe().get("family") if hasattr(model, "describe") else None
    if family not in YES_NO_FAMILIES:
        raise OptionError(f"--prejudge {getattr(model, 'name', model)!r} is a {family} model, which gives no "
                          f"probability of relevance. Fix: use a yes/no reranker ({', '.join(YES_NO_FAMILIES)} "
                          "families, e.g. monot5-base or followir-7b)")
    corpus = {i.doc: Document(i.doc, i.text, i.title) for i in items}
    requests = []
    for topic in topics:
        docs = tuple(i.doc for i in items if i.topic == topic.number)
        if docs:
            requests.append(RankRequest(topic.number, "changed", topic.title,
                                        narratives[topic.number].narrative_changed, docs))
    scores = model.rerank(requests, corpus, progress)
    rows = [(r.query_id, d, s, s >= THRESHOLD) for r, per in zip(requests, scores) for d, s in per.items()]
    store.save_prejudgements(model.name, rows)
    return len(rows)
