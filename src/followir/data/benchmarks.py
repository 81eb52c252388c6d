"""Load any registered benchmark (FollowIR's og/changed tasks and the field's others) or a local folder.

``load_benchmarks`` returns FollowIR ``Task`` objects (robust04, ..., mfollowir-fas) and ``FieldTask`` objects
(infosearch-*, nevir, ifir-*) side by side; ``followir evaluate`` scores each with its own metrics. A local
folder is read with ``layout``: ``original``/``mteb``/``auto`` for FollowIR-style data (``language`` picks an
mFollowIR subset such as ``fas``), or ``infosearch``, ``nevir``, ``ifir`` for the field's layouts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from followir.data.catalog import GROUPS, TASKS
from followir.data.field import FieldTask
from followir.data.field_catalog import MFOLLOWIR_LANGUAGES, NDCG20, PAIRED_ACCURACY, WISE
from followir.errors import UnknownNameError
from followir.records import Task

FIELD_LAYOUTS = ("infosearch", "nevir", "ifir")
_MAIN = {"infosearch": WISE, "nevir": PAIRED_ACCURACY, "ifir": NDCG20}


def expand_names(name: str, language: Sequence[str] | None = None) -> list[str]:
    """A group's members (``mfollowir`` -> ``mfollowir-fas`` ...), keeping only ``language`` when given."""
    names = list(GROUPS.get(name, (name,)))
    if not language:
        return names
    wanted = set(language)
    unknown = wanted - set(MFOLLOWIR_LANGUAGES)
    if unknown:
        raise UnknownNameError(f"unknown language(s) {sorted(unknown)}; mFollowIR has {', '.join(MFOLLOWIR_LANGUAGES)}."
                               " Fix: pass --language fas, rus or zho")
    if all(n in TASKS for n in names):
        kept = [n for n in names if TASKS[n].language in wanted]
        if not kept:
            raise UnknownNameError(f"task {name!r} has no language {sorted(wanted)}; --language applies to "
                                   "mfollowir and mfollowir-cross. Fix: drop --language or pick an mFollowIR task")
        return kept
    return names  # a folder: language names the subset to read


def load_benchmark(name: str, *, layout: str | None = None, revision: str | None = None,
                   cache_dir: str | Path | None = None, language: str | None = None,
                   main_metric: str | None = None) -> Task | FieldTask:
    """One benchmark by registered name or local folder (see the module docstring)."""
    from followir.data.hub import fetch_dataset
    from followir.data.loading import load_task

    spec = TASKS.get(name)
    if spec is not None and spec.kind != "followir":
        dataset = spec.dataset(layout or spec.default_layout)
        rev = revision or dataset.revision
        folder = fetch_dataset(dataset.repo_id, rev, cache_dir)
        return read_field(folder, spec.kind, spec.name, main_metric or spec.main_metric, subset=spec.subset,
                          source=f"hf:{dataset.repo_id}", revision=rev or _snapshot_commit(folder))
    if spec is None and layout in FIELD_LAYOUTS:
        path = Path(name)
        if not path.is_dir():
            raise UnknownNameError(f"no directory {name!r} to read in the {layout} layout. Fix: pass the folder "
                                   "of a local copy of the dataset")
        return read_field(path, layout, path.resolve().name, main_metric or _MAIN[layout], subset=language,
                          source=str(path), revision=revision)
    return load_task(name, layout=layout, revision=revision, cache_dir=cache_dir, main_metric=main_metric,
                     subset=language if spec is None else None)


def load_benchmarks(name: str, *, language: str | Sequence[str] | None = None, **kwargs) -> list[Task | FieldTask]:
    """A name, a group (``mfollowir``, ``infosearch``, ``ifir``) or a folder; ``language`` filters mFollowIR."""
    languages = [x.strip() for x in language.split(",") if x.strip()] if isinstance(language, str) else language
    names = expand_names(name, languages)
    if name in TASKS or name in GROUPS:
        return [load_benchmark(n, **kwargs) for n in names]
    if languages and len(languages) > 1:
        return [load_benchmark(name, language=lang, **kwargs) for lang in languages]
    return [load_benchmark(name, language=languages[0] if languages else None, **kwargs)]


def read_field(folder: Path, kind: str, name: str, main_metric: str, *, subset: str | None = None,
               source: str = "", revision: str | None = None) -> FieldTask:
    from followir.data import field_layouts

    if kind == "infosearch":
        return field_layouts.read_infosearch(folder, name, main_metric, source, revision)
    if kind == "nevir":
        return field_layouts.read_nevir(folder, name, main_metric, source, revision)
    if kind == "ifir":
        return field_layouts.read_ifir(folder, name, main_metric, subset, source, revision)
    raise ValueError(f"unknown benchmark layout {kind!r}; use one of {', '.join(FIELD_LAYOUTS)}")


def _snapshot_commit(folder: Path) -> str | None:
    """The commit of a hub-cache snapshot folder (``.../snapshots/<40 hex>``), when the revision was not pinned."""
    return folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else None
