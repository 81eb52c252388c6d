"""Which labels are og and which are changed: followir's loaders against MTEB's, query by query.

MTEB's code is restated here from its source (embeddings-benchmark/mteb; ``pip install mteb`` is not used:
its loader reads through ``datasets.load_dataset`` and this check must run offline without it):

- current MTEB (v2, from 2.0.0, Oct 2025; checked at a905523, 2026-08-22): ``mteb/abstasks/
  retrieval_dataset_loaders.py`` ``_load_qrels`` (L187-223) keeps every qrels row under its own
  ``query-id``; ``mteb/_evaluators/retrieval_metrics.py`` ``evaluate_p_mrr_change`` (L217-220) takes the
  ``-og`` ids as the og labels and all other ids as the changed labels.
- MTEB v1 (``AbsTaskInstructionRetrieval.py`` L102-111 at tag 1.7.64; the same lines from 1.6.34, the PR #408
  that added FollowIR, through 1.39.7, and in the paper's own fork orionw/mteb from b7cb7b0, 2024-03-08)
  maps the ``qrels_changed`` rows into ``og_qrels`` and the ``qrels_og`` rows into ``changed_qrels``.

followir scores og runs against og labels and changed runs against changed labels in both layouts, as MTEB
v2 does; see docs/reproduction.md for what that means for numbers published in between.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from followir.data import load_task

layouts = pytest.importorskip("test_layouts", reason="tests/test_layouts.py writes the tiny task folders")


def mteb_v2_labels(rows: list[dict]) -> dict[str, dict[str, dict[str, int]]]:
    """retrieval_dataset_loaders.py L202-221 then retrieval_metrics.py L217-220, restated."""
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        qrels[str(row["query-id"])][str(row["corpus-id"])] = int(row["score"])
    return {"og": {k: v for k, v in qrels.items() if k.endswith("-og")},
            "changed": {k: v for k, v in qrels.items() if not k.endswith("-og")}}


def mteb_v1_labels(og_rows: list[dict], changed_rows: list[dict]) -> dict[str, dict[str, dict[str, int]]]:
    """AbsTaskInstructionRetrieval.py L99-111 (mteb 1.7.64), restated with its swap."""
    og_qrels_dict: dict[str, dict[str, int]] = defaultdict(dict)
    changed_qrels_dict: dict[str, dict[str, int]] = defaultdict(dict)

    def qrels_dict_init(row):
        og_qrels_dict[row["query-id"]][row["corpus-id"]] = int(row["score"])

    def qrels_changed_dict_init(row):
        changed_qrels_dict[row["query-id"]][row["corpus-id"]] = int(row["score"])

    for row in changed_rows:  # self.changed_qrels.map(qrels_dict_init)
        qrels_dict_init(row)
    for row in og_rows:  # self.og_qrels.map(qrels_changed_dict_init)
        qrels_changed_dict_init(row)
    return {"og": dict(og_qrels_dict), "changed": dict(changed_qrels_dict)}


def mteb_v1_qrel_diff(og: dict, changed: dict) -> dict[str, list[str]]:
    """create_qrel_diff (L606-614, mteb 1.7.64): documents whose grade differs, for p-MRR."""
    return {qid: [d for d in og[qid] if changed[qid].get(d) != og[qid][d]] for qid in og}


def test_mteb_layout_loader_gives_each_query_mteb_v2s_og_and_changed_labels(tmp_path):
    root = layouts.write_mteb(tmp_path / "mteb")
    rows = layouts._qrel_rows(layouts.QRELS_OG, "-og") + layouts._qrel_rows(layouts.QRELS_CHANGED, "-changed")
    mteb = mteb_v2_labels(rows)
    task = load_task(str(root), layout="mteb")
    assert {q.id for q in task.queries} == {"301", "302", "303"}
    for q in task.queries:
        assert task.qrels_og.to_dict()[q.id] == mteb["og"][f"{q.id}-og"]
        assert task.qrels_changed.to_dict()[q.id] == mteb["changed"][f"{q.id}-changed"]
    # the labels really differ, so a swap would show
    assert task.qrels_og.to_dict()["301"] == {"d1": 1, "d2": 2, "d3": 0, "d4": 1}
    assert task.qrels_changed.to_dict()["301"] == {"d1": 1, "d2": 0, "d3": 0}


def test_original_layout_loader_undoes_the_mteb_v1_swap(tmp_path):
    root = layouts.write_original(tmp_path / "original")
    task = load_task(str(root), layout="original")
    v1 = mteb_v1_labels(layouts._qrel_rows(layouts.QRELS_OG), layouts._qrel_rows(layouts.QRELS_CHANGED))
    for q in task.queries:
        # MTEB v1 scored og runs against the qrels_changed file; followir against qrels_og
        assert v1["og"][q.id] == task.qrels_changed.to_dict()[q.id]
        assert v1["changed"][q.id] == task.qrels_og.to_dict()[q.id]
    assert v1["og"]["301"] != task.qrels_og.to_dict()["301"]


def test_mteb_v1_p_mrr_documents_do_not_depend_on_the_swap_when_both_files_judge_the_same_pairs():
    # the hub's qrels_og and qrels_changed judge the same (query, document) pairs, only grades differ
    og = {"q": {"a": 1, "b": 1, "c": 0}}
    changed = {"q": {"a": 1, "b": 0, "c": 0}}
    swapped = mteb_v1_qrel_diff(changed, og)
    assert swapped == mteb_v1_qrel_diff(og, changed) == {"q": ["b"]}
