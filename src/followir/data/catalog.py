"""The registered FollowIR tasks: hub ids with pinned revisions for both layouts, and the main metric.

Revisions are those recorded in MTEB's task definitions, so numbers are computed on exactly the data
the leaderboard uses. The original layout is the default because it carries the ``keywords`` and
``short_query`` fields the instruction-length ablation needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from followir.records import MAIN_METRIC_MAP, MAIN_METRIC_NDCG5


@dataclass(frozen=True)
class HubDataset:
    repo_id: str
    revision: str
    layout: str


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    main_metric: str
    original: HubDataset | None = None
    mteb: HubDataset | None = None
    packaged: str | None = None  # folder name under followir/benchmarks
    kind: str = "followir"  # followir (og/changed Task) or a field benchmark: infosearch, nevir, ifir
    subset: str | None = None  # config suffix (mFollowIR's language) or folder (IFIR's domain) in the repo
    language: str | None = None  # the documents' language (mFollowIR), for --language

    @property
    def default_layout(self) -> str:
        return "original" if self.original is not None else "mteb"

    def dataset(self, layout: str) -> HubDataset:
        found = self.original if layout == "original" else self.mteb if layout == "mteb" else None
        if found is None:
            raise ValueError(f"task {self.name!r} has no {layout!r} layout; use 'original' or 'mteb'")
        return found


from followir.data.field_catalog import FIELD_GROUPS, field_specs  # noqa: E402  (needs TaskSpec)

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "robust04", "Robust04", MAIN_METRIC_MAP,
            original=HubDataset("jhu-clsp/robust04-instructions",
                                "a5a1c4fe2bc528ac12e83f8cdf82178da85d2f1d", "original"),
            mteb=HubDataset("mteb/Robust04InstructionRetrieval",
                            "0495a5cb69aa8fa5bca81bd56ac248911c19eeb6", "mteb"),
        ),
        TaskSpec(
            "news21", "News21", MAIN_METRIC_NDCG5,
            original=HubDataset("jhu-clsp/news21-instructions",
                                "e0144086b45fe31ac125e9ac1a83b6a409bb6ca6", "original"),
            mteb=HubDataset("mteb/News21InstructionRetrieval",
                            "c6fffeb9cdd95c1ffa81c62c687b48b56352872b", "mteb"),
        ),
        TaskSpec(
            "core17", "Core17", MAIN_METRIC_MAP,
            original=HubDataset("jhu-clsp/core17-instructions",
                                "e39ff896cf3efbbdeeb950e6bd7c79f266995b07", "original"),
            mteb=HubDataset("mteb/Core17InstructionRetrieval",
                            "67d8733dd0691f08f34ed9dda5941578cba8d91c", "mteb"),
        ),
        TaskSpec("followir-mini", "followir-mini", MAIN_METRIC_MAP, packaged="followir_mini"),
        *field_specs(),
    )
}

# Names that stand for several tasks.
GROUPS: dict[str, tuple[str, ...]] = {"followir": ("robust04", "news21", "core17"), **FIELD_GROUPS}
