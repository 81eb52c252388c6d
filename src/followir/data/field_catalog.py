"""The field's other instruction-following benchmarks in the one task catalog: mFollowIR (Persian, Russian and
Chinese; multilingual and cross-lingual), InfoSearch's six dimensions, NevIR and IFIR's expert domains.

Hub ids and revisions come from the code that defines each benchmark:

- mFollowIR: embeddings-benchmark/mteb ``mteb/tasks/instruction_reranking/multilingual/m_follow_ir.py`` (the
  ``mteb`` layout, ``mFollowIR`` and ``mFollowIRCrossLingual``) and its earlier
  ``mteb/tasks/InstructionRetrieval/multilingual/mFollowIR.py`` (the original layout with ``instruction_og`` and
  ``instruction_changed``); one repository holds all three languages as configs ``<config>-<lang>``.
- InfoSearch: EIT-NLP/InfoSearch ``mteb_infosearch/mteb/tasks/InstructionRetrieval/eng/*InstructionRetrieval.py``
  at commit 25179c19 (Language-v1 and Length-v1 record the same revision there; kept as published).
- NevIR: embeddings-benchmark/mteb ``mteb/tasks/reranking/eng/nev_ir.py`` (``orionweller/NevIR-mteb``).
- IFIR: SighingSnow/IFIR's README (``songtingyu/IFIR``, one folder per domain with ``test_data.json``, which
  carries the instruction levels). followir loads ``songtingyu/IFIR`` unpinned: the README gives no revision,
  and the hub was unreachable when this was written, so no commit SHA could be read and pinned. Results record
  the snapshot commit the hub cache resolved (``revision``). MTEB's IFIR tasks
  (``mteb/tasks/instruction_retrieval/eng/ifir_*.py``, mteb 2.26.24) do pin revisions, of other copies:
  ``if-ir/<domain>`` (for example ``if-ir/aila`` at ``1cb8772``); followir does not load those, and whether
  their layout matches ``songtingyu/IFIR`` was not verified.
"""

from __future__ import annotations

MFOLLOWIR_LANGUAGES = ("fas", "rus", "zho")
INFOSEARCH_DIMENSIONS = {
    "language": ("jianqunZ/Language-v1", "d4915806662132e118e8df242aee059ef5669578"),
    "clarity": ("jianqunZ/Clarity-v1", "4c1892c874d09877c00243fac16452f3353039aa"),
    "audience": ("jianqunZ/Audience-v1", "9bc73db6f3ca419c3fdb4d98e1f0864411756fc8"),
    "length": ("jianqunZ/Length-v1", "d4915806662132e118e8df242aee059ef5669578"),
    "source": ("jianqunZ/Source-v1", "67dad8949d168785706d82f93e6794e88c8fcd2e"),
    "format": ("jianqunZ/Format-v1", "63b53c9e117fa16a469026650861db77f25ab823"),
}
IFIR_DOMAINS = ("fiqa", "scifact_open", "nfcorpus", "aila", "fire", "pm", "cds")
IFIR_REPO = "songtingyu/IFIR"

WISE = "WISE"
PAIRED_ACCURACY = "paired_accuracy"
NDCG20 = "ndcg_cut_20"

FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "mfollowir": tuple(f"mfollowir-{lang}" for lang in MFOLLOWIR_LANGUAGES),
    "mfollowir-cross": tuple(f"mfollowir-cross-{lang}" for lang in MFOLLOWIR_LANGUAGES),
    "infosearch": tuple(f"infosearch-{d}" for d in INFOSEARCH_DIMENSIONS),
    "ifir": tuple(f"ifir-{d.replace('_', '-')}" for d in IFIR_DOMAINS),
}


def field_specs():
    from followir.data.catalog import HubDataset, TaskSpec

    for lang in MFOLLOWIR_LANGUAGES:
        yield TaskSpec(
            f"mfollowir-{lang}", f"mFollowIR {lang}", NDCG20, subset=lang, language=lang,
            original=HubDataset("jhu-clsp/mFollowIR-parquet", "2c5cdcb438eff9de6412803768ac7304d4771cdc",
                                "original"),
            mteb=HubDataset("jhu-clsp/mFollowIR-parquet-mteb", "09eecbe45c54b4a6dfb8e68e345cae77337768e2", "mteb"))
        yield TaskSpec(
            f"mfollowir-cross-{lang}", f"mFollowIR eng-{lang}", NDCG20, subset=lang, language=lang,
            original=HubDataset("jhu-clsp/mFollowIR-cross-lingual-parquet",
                                "7a82814a53229d3c8f18b2e18762a1a959dc5ff6", "original"),
            mteb=HubDataset("jhu-clsp/mFollowIR-cross-lingual-parquet-mteb",
                            "6b01566619233a0c35d135123510b6b02c258ff5", "mteb"))
    for dim, (repo, rev) in INFOSEARCH_DIMENSIONS.items():
        yield TaskSpec(f"infosearch-{dim}", f"InfoSearch {dim}", WISE, kind="infosearch", subset=dim,
                       original=HubDataset(repo, rev, "infosearch"))
    yield TaskSpec("nevir", "NevIR", PAIRED_ACCURACY, kind="nevir",
                   mteb=HubDataset("orionweller/NevIR-mteb", "eab99575c01c6a8e39f8d2adc6e3c3adcfe84413", "nevir"))
    for domain in IFIR_DOMAINS:
        yield TaskSpec(f"ifir-{domain.replace('_', '-')}", f"IFIR {domain}", NDCG20, kind="ifir", subset=domain,
                       original=HubDataset(IFIR_REPO, None, "ifir"))
