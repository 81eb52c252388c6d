"""Turn a task name into a ``Task``: registered names come from the hub (or the package), the rest are paths.

- ``robust04``, ``news21``, ``core17``: the hub datasets, original layout by default, pinned revisions;
- ``followir``: all three;
- ``followir-mini``: the small benchmark shipped inside the package;
- ``hf:owner/name[@revision]``: any hub dataset in either layout;
- anything else: a local directory in either layout (``layout='auto'`` tells them apart).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from followir.data.builder import TaskBuilder
from followir.data.catalog import GROUPS, TASKS
from followir.data.hub import fetch_dataset
from followir.data.layouts import read_layout
from followir.errors import UnknownNameError, did_you_mean
from followir.records import MAIN_METRIC_MAP, Task


def resolve_task_names(name: str) -> list[str]:
    """Expand a group name (``followir``) into its tasks; other names stand for themselves."""
    return list(GROUPS.get(name, (name,)))


def packaged_path(folder: str) -> Path:
    return Path(str(resources.files("followir") / "benchmarks" / folder))


def load_task(name: str, *, layout: str | None = None, revision: str | None = None,
              cache_dir: str | Path | None = None, main_metric: str | None = None,
              subset: str | None = None) -> Task:
    """Load one task by registered name, ``hf:`` hub id or local path.

    ``layout`` is ``original`` or ``mteb``; by default registered names use ``original`` and paths and
    ``hf:`` ids are detected (``auto``). ``subset`` reads configs ``<config>-<subset>`` (an mFollowIR language)
    of a path or ``hf:`` id; registered mFollowIR names carry their own.
    """
    spec = TASKS.get(name)
    if spec is not None and spec.kind != "followir":
        raise UnknownNameError(f"task {name!r} is a {spec.kind} benchmark, not a FollowIR og/changed task. Fix: "
                               f"evaluate it with 'followir evaluate --task {name}' "
                               "(followir.data.benchmarks.load_benchmark in Python)")
    if spec is not None and spec.packaged:
        builder = TaskBuilder(spec.name, source=f"package:{spec.packaged}", revision=_package_version(),
                              main_metric=main_metric or spec.main_metric)
        return read_layout(packaged_path(spec.packaged), "original", builder)
    if spec is not None:
        dataset = spec.dataset(layout or "original")
        rev = revision or dataset.revision
        folder = fetch_dataset(dataset.repo_id, rev, cache_dir)
        builder = TaskBuilder(spec.name, source=f"hf:{dataset.repo_id}", revision=rev,
                              main_metric=main_metric or spec.main_metric,
                              metadata={"language": spec.language} if spec.language else None)
        return read_layout(folder, dataset.layout, builder, subset=spec.subset)
    if name.startswith("hf:"):
        repo_id, _, rev = name[3:].partition("@")
        rev = revision or rev or None
        folder = fetch_dataset(repo_id, rev, cache_dir)
        builder = TaskBuilder(repo_id.split("/")[-1] + (f"-{subset}" if subset else ""), source=f"hf:{repo_id}",
                              revision=rev, main_metric=main_metric or MAIN_METRIC_MAP,
                              metadata={"language": subset} if subset else None)
        return read_layout(folder, layout or "auto", builder, subset=subset)
    path = Path(name)
    if path.is_dir():
        builder = TaskBuilder(path.resolve().name + (f"-{subset}" if subset else ""), source=str(path),
                              revision=revision, main_metric=main_metric or MAIN_METRIC_MAP,
                              metadata={"language": subset} if subset else None)
        return read_layout(path, layout or "auto", builder, subset=subset)
    known = sorted([*TASKS, *GROUPS])
    raise UnknownNameError(
        f"unknown task {name!r}: it is not a registered name ({', '.join(known)}), not 'hf:owner/name', "
        f"and no directory {str(path)!r} exists.{did_you_mean(name, known)} Fix: pick a registered name or pass "
        f"a dataset folder"
    )


def load_tasks(name: str, **kwargs) -> list[Task]:
    return [load_task(n, **kwargs) for n in resolve_task_names(name)]


def _package_version() -> str:
    from followir import __version__

    return f"followir-{__version__}"
