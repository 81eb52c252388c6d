"""Spread the pair engine's batches, or the texts to embed, over a Ray cluster: one model replica per actor.

The family code does not change. The pair engine (``followir.models.pair_engine``) and the bi-encoder's
encoding loop hand this module the batches that are not in the cache; each Ray actor holds a copy of the
model object (pickled before its weights load; the actor loads them once) and runs the same ``score`` or
``encode`` method the single-process path runs. Results stream back in completion order and the caller
writes each batch to the cache as it arrives, so a run killed at any point keeps every finished batch.

Faults are Ray's to handle, as Ray intends: the actors are created with ``max_restarts=-1`` and
``max_task_retries=-1``, so when an actor's process dies (a node lost, an out-of-memory kill) Ray restarts it
and re-runs only the batch it held; finished batches are never redone. Batches go to actors through
``ray.util.ActorPool`` (Ray's own work queue), one replica per GPU when the cluster has GPUs, else one per
``cpus_per_replica`` CPUs.

Addresses: ``auto`` (a running cluster found by Ray), ``ray://HOST:10001`` or ``HOST:6379`` (a given
cluster), ``local`` (start a local cluster on this machine). A process that already called ``ray.init``
keeps its cluster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from followir.errors import MissingDependencyError, OptionError

log = logging.getLogger(__name__)

RAY_INSTALL = "pip install 'followir[ray]'"


def import_ray():
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(f"--ray needs Ray, not installed here. Fix: {RAY_INSTALL}") from None
    return ray


@dataclass(frozen=True)
class RaySettings:
    """Where and how wide: the cluster address and the resources of one model replica.

    ``replicas`` None: as many as the cluster holds (its GPUs, else its CPUs // ``cpus_per_replica``).
    """

    address: str = "auto"
    replicas: int | None = None
    cpus_per_replica: int = 1
    gpus_per_replica: float | None = None  # None: 1 when the cluster has GPUs, else 0

    def __post_init__(self):
        if not self.address:
            raise OptionError("--ray needs an address: auto, local, ray://HOST:10001 or HOST:6379")
        if self.replicas is not None and self.replicas < 1:
            raise OptionError(f"--ray-replicas {self.replicas}: use at least 1")
        if self.cpus_per_replica < 1:
            raise OptionError(f"--ray-cpus {self.cpus_per_replica}: use at least 1 CPU per replica")


class RayReplicable:
    """Mixin of the families that run on Ray: a pickled copy carries settings only (``ray`` cleared, loaded
    weights, tokenizers and engines dropped), so each actor loads its own replica on first use."""

    _loaded_attributes = ("_model", "_tokenizer", "_torch", "_device", "_encoder", "_classifier", "_scorer",
                          "_embedder")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in self._loaded_attributes:
            if key in state:
                state[key] = None
        state["ray"] = None
        return state


def as_settings(value: "RaySettings | str | None") -> RaySettings | None:
    """``value`` as settings (an address string becomes ``RaySettings(address)``); Ray must be installed."""
    if value is None:
        return None
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise MissingDependencyError(f"--ray needs Ray, not installed here. Fix: {RAY_INSTALL}")
    return value if isinstance(value, RaySettings) else RaySettings(address=str(value))


def connect(settings: RaySettings):
    """``ray``, initialised for ``settings.address`` unless this process already joined a cluster."""
    ray = import_ray()
    if not ray.is_initialized():
        address = None if settings.address == "local" else settings.address
        log.info("joining Ray cluster at %s", settings.address)
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    return ray


class _Replica:
    """One model copy in a Ray actor; ``run`` calls the same method the single-process path calls."""

    def __init__(self, model: Any, threads: int):
        try:
            import torch

            torch.set_num_threads(max(1, threads))
        except ImportError:
            pass
        self.model = model

    def run(self, index: int, method: str, argument: Any) -> tuple[int, Any]:
        return index, getattr(self.model, method)(argument)

    def pid(self) -> int:
        import os

        return os.getpid()


def replica_count(ray, settings: RaySettings, work_items: int) -> tuple[int, float]:
    """(replicas, GPUs per replica) for the cluster's resources, capped by the number of work items."""
    resources = ray.cluster_resources()
    gpus = settings.gpus_per_replica
    if gpus is None:
        gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
    if settings.replicas is not None:
        count = settings.replicas
    elif gpus > 0:
        count = int(resources.get("GPU", 0) // gpus)
    else:
        count = int(resources.get("CPU", 1) // settings.cpus_per_replica)
    return max(1, min(count, work_items)), gpus


def map_on_ray(model: Any, method: str, items: Sequence[Any], settings: RaySettings) -> Iterator[tuple[int, Any]]:
    """``(index, model.method(items[index]))`` for every item, in completion order, over Ray actors.

    ``model`` must pickle without its loaded weights (the families drop them in ``__getstate__``).
    Raises what the method raises (the first failure), after Ray's retries of lost actors.
    """
    if not items:
        return
    ray = connect(settings)
    from ray.util import ActorPool

    count, gpus = replica_count(ray, settings, len(items))
    actor_class = ray.remote(_Replica).options(num_cpus=settings.cpus_per_replica, num_gpus=gpus,
                                               max_restarts=-1, max_task_retries=-1)
    shared = ray.put(model)
    actors = [actor_class.remote(shared, settings.cpus_per_replica) for _ in range(count)]
    log.info("Ray: %d replicas (%s CPU, %s GPU each) for %d batches", count, settings.cpus_per_replica, gpus,
             len(items))
    pool = ActorPool(actors)
    try:
        yield from pool.map_unordered(lambda actor, job: actor.run.remote(job[0], method, job[1]),
                                      list(enumerate(items)))
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
