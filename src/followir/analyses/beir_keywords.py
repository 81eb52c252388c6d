"""The BEIR keyword ablation (the FollowIR paper's Table 3): does a model use its instruction, or its words?

A BEIR dataset is searched twice over the whole corpus: with the model's original short BEIR instruction, then
with only the keywords GPT-4 extracted from that instruction (the paper's Table 6). Both runs are scored with
nDCG@10 (trec_eval through pytrec_eval); the change keywords - original, with a paired randomization test,
says whether the instruction carried anything the keywords do not. Models that take no instruction (BM25,
all-MiniLM, E5-base, ...) compare the plain query with query + keywords.

The keyword lists, instructions and formats ship as validated data (``beir_keywords.yaml``).
"""

from __future__ import annotations

import logging
import string
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Mapping

import yaml

from followir.data.beir import BeirDataset, dataset_key
from followir.errors import DataFormatError, UnknownNameError
from followir.metrics.trec_measures import DEFAULT_MEASURES, mean_measures, per_query_measures
from followir.metrics.uncertainty import Interval, PairedTest, bootstrap_interval, paired_randomization_test
from followir.models.base import Progress
from followir.models.templates import Template
from followir.records import Run
from followir.retrieval import HNSWSettings, Searcher, SearchRequest

log = logging.getLogger(__name__)

DATA_FILE = "beir_keywords.yaml"
PRIMARY_METRIC = "ndcg_cut_10"
VARIANTS = ("original", "keywords")
_TOP_KEYS = {"datasets", "profiles", "models"}
_PROFILE_KEYS = {"table6_row", "description", "query_format", "document_format", "source", "datasets"}
_ENTRY_KEYS = {"instruction", "corpus_instruction", "keywords"}

ProgressFactory = Callable[[str], Progress]


@dataclass(frozen=True)
class DatasetInstructions:
    """One profile's input on one dataset: original instruction, Table 6 keywords, document instruction."""

    instruction: str
    keywords: str
    corpus_instruction: str = ""

    def text(self, variant: str) -> str:
        if variant == "original":
            return self.instruction
        if variant == "keywords":
            return self.keywords
        raise ValueError(f"unknown variant {variant!r}; use original or keywords")


@dataclass(frozen=True)
class KeywordProfile:
    """How a model (or group of models) was run on BEIR, and its instructions and keywords per dataset."""

    name: str
    table6_row: str
    description: str
    query_format: str | None
    document_format: str | None
    source: str
    datasets: Mapping[str, DatasetInstructions]

    @property
    def uses_instruction(self) -> bool:
        return self.query_format is not None

    def template(self, dataset: str, base: Template) -> Template:
        """The input template for ``dataset``: the profile's BEIR format, or ``base`` (the model's own)."""
        if self.query_format is None and self.document_format is None:
            return base
        entry = self.datasets[dataset]
        document_format = base.document_format
        if self.document_format is not None:
            document_format = self.document_format.replace("{corpus_instruction}", entry.corpus_instruction)
        return Template(name=f"beir-{self.name}-{dataset}", family=base.family,
                        description=f"{self.name} on {dataset} (BEIR keyword ablation)",
                        query_format=self.query_format or base.query_format, document_format=document_format)


@dataclass(frozen=True)
class KeywordData:
    datasets: tuple[str, ...]
    profiles: Mapping[str, KeywordProfile]
    models: Mapping[str, str]

    def profile_for(self, model_name: str, profile: str | None = None) -> KeywordProfile:
        """The profile named ``profile``, else the one the data maps ``model_name`` to."""
        name = profile or self.models.get(model_name)
        if name is None:
            raise UnknownNameError(
                f"model {model_name!r} has no BEIR keyword profile. Fix: pass --profile with one of "
                f"{', '.join(sorted(self.profiles))} (no-instruction for models trained without instructions)"
            )
        if name not in self.profiles:
            raise UnknownNameError(f"unknown keyword profile {name!r}; "
                                   f"profiles: {', '.join(sorted(self.profiles))}")
        return self.profiles[name]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _check_keys(raw: object, allowed: set[str], where: str, source: str) -> dict:
    if not isinstance(raw, dict):
        raise DataFormatError(source, None, f"{where} must be a mapping, not {type(raw).__name__}",
                              "write it as 'key: value' lines")
    unknown = set(raw) - allowed
    if unknown:
        raise DataFormatError(source, None, f"{where} has unknown keys {sorted(unknown)}",
                              f"use only {sorted(allowed)}")
    return raw


def _text(raw: dict, key: str, where: str, source: str, *, required: bool = True, empty_ok: bool = False,
          plain: bool = True) -> str:
    value = raw.get(key)
    if value is None:
        if required:
            raise DataFormatError(source, None, f"{where}.{key} is missing", f"give {where} a {key!r}")
        return ""
    if not isinstance(value, str):
        raise DataFormatError(source, None, f"{where}.{key} must be a string, not {value!r}",
                              "quote the text")
    if plain and ("{" in value or "}" in value):
        raise DataFormatError(source, None, f"{where}.{key} contains a brace: {value!r}",
                              "instructions and keywords are plain text; remove { and }")
    value = value.strip()
    if not value and not empty_ok:
        raise DataFormatError(source, None, f"{where}.{key} is empty", f"give {where}.{key} some text")
    return value


def _format(raw: dict, key: str, allowed: set[str], needed: set[str], where: str, source: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataFormatError(source, None, f"{where}.{key} must be a string or null", "quote the format")
    found = _placeholders(value)
    if found - allowed:
        raise DataFormatError(source, None, f"{where}.{key} uses unknown placeholders "
                              f"{sorted(found - allowed)}", f"use only {sorted(allowed)}")
    if needed - found:
        raise DataFormatError(source, None, f"{where}.{key} lacks {sorted(needed - found)}",
                              f"put {', '.join('{' + n + '}' for n in sorted(needed))} in it")
    return value


def parse_keyword_data(raw: object, source: str = DATA_FILE) -> KeywordData:
    """Validate the keyword data (the parsed YAML) and build its records."""
    raw = _check_keys(raw, _TOP_KEYS, "the file", source)
    datasets = raw.get("datasets")
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, str) for d in datasets):
        raise DataFormatError(source, None, "'datasets' must be a non-empty list of names",
                              "list the datasets")
    profiles_raw = raw.get("profiles")
    if not isinstance(profiles_raw, dict) or not profiles_raw:
        raise DataFormatError(source, None, "'profiles' must map profile names to entries",
                              "give at least one")
    profiles: dict[str, KeywordProfile] = {}
    for name, entry in profiles_raw.items():
        where = f"profiles.{name}"
        entry = _check_keys(entry, _PROFILE_KEYS, where, source)
        query_format = _format(entry, "query_format", {"query", "instruction"}, {"query", "instruction"},
                               where, source)
        document_format = _format(entry, "document_format", {"document", "corpus_instruction"}, {"document"},
                                  where, source)
        per_dataset = _check_keys(entry.get("datasets") or {}, set(datasets), f"{where}.datasets", source)
        missing = [d for d in datasets if d not in per_dataset]
        if missing:
            raise DataFormatError(source, None, f"{where} has no entry for {missing}",
                                  "give every profile every dataset listed under 'datasets'")
        entries = {}
        for dataset in datasets:
            at = f"{where}.datasets.{dataset}"
            item = _check_keys(per_dataset[dataset], _ENTRY_KEYS, at, source)
            instruction = _text(item, "instruction", at, source, empty_ok=query_format is None)
            if query_format is None and instruction:
                raise DataFormatError(source, None, f"{at}.instruction is set but the profile has no "
                                      "query_format", "give the profile a query_format, or leave the "
                                      "instruction empty")
            corpus_instruction = _text(item, "corpus_instruction", at, source, required=False)
            if document_format and "{corpus_instruction}" in document_format and not corpus_instruction:
                raise DataFormatError(source, None, f"{at}.corpus_instruction is missing",
                                      "the document_format uses {corpus_instruction}: give it")
            entries[dataset] = DatasetInstructions(instruction, _text(item, "keywords", at, source),
                                                   corpus_instruction)
        profiles[name] = KeywordProfile(name, _text(entry, "table6_row", where, source, plain=False),
                                        _text(entry, "description", where, source, required=False,
                                              plain=False),
                                        query_format, document_format,
                                        _text(entry, "source", where, source, plain=False), entries)
    models = raw.get("models") or {}
    if not isinstance(models, dict):
        raise DataFormatError(source, None, "'models' must map model names to profiles",
                              "write 'name: profile'")
    for model, profile in models.items():
        if profile not in profiles:
            raise DataFormatError(source, None, f"models.{model} names unknown profile {profile!r}",
                                  f"use one of {sorted(profiles)}")
    return KeywordData(tuple(datasets), profiles, dict(models))


@lru_cache(maxsize=None)
def load_keyword_data() -> KeywordData:
    """The packaged keyword data (the paper's Table 6 with the models' original instructions), validated."""
    text = (resources.files("followir.analyses") / DATA_FILE).read_text(encoding="utf-8")
    return parse_keyword_data(yaml.safe_load(text), DATA_FILE)


@dataclass(frozen=True)
class VariantResult:
    """One variant's run and scores: ``original`` (the instruction) or ``keywords``."""

    variant: str
    instruction: str
    example_query: str  # the first query as the model saw it
    scores: Mapping[str, float]
    per_query: Mapping[str, Mapping[str, float]]
    interval: Interval
    run: Run
    search_seconds: float

    def to_dict(self, per_query: bool = True) -> dict:
        out = {"instruction": self.instruction, "example_query": self.example_query,
               "scores": dict(self.scores), "interval": self.interval.to_dict(),
               "search_s": self.search_seconds}
        if per_query:
            out["per_query"] = {q: v[PRIMARY_METRIC] for q, v in self.per_query.items()}
        return out


@dataclass(frozen=True)
class KeywordAblation:
    """Original instruction vs keywords for one model on one BEIR dataset, over the full corpus."""

    model: Mapping[str, object]
    profile: str
    dataset: str
    source: str
    split: str
    queries: int
    documents: int
    top_k: int
    original: VariantResult
    keywords: VariantResult
    test: PairedTest
    timings: Mapping[str, float] = field(default_factory=dict)
    primary_metric: str = PRIMARY_METRIC

    @property
    def delta(self) -> float:
        """keywords - original on the primary metric (raw units; the paper shows it times 100)."""
        return self.keywords.scores[self.primary_metric] - self.original.scores[self.primary_metric]

    def variant(self, name: str) -> VariantResult:
        return {"original": self.original, "keywords": self.keywords}[name]

    def to_dict(self, per_query: bool = True) -> dict:
        return {"analysis": "beir-keywords", "model": dict(self.model), "profile": self.profile,
                "dataset": self.dataset, "source": self.source, "split": self.split, "queries": self.queries,
                "documents": self.documents, "top_k": self.top_k, "primary_metric": self.primary_metric,
                "original": self.original.to_dict(per_query), "keywords": self.keywords.to_dict(per_query),
                "delta": self.delta, "test": self.test.to_dict(), "timings": dict(self.timings)}


def run_keyword_ablation(model, data: BeirDataset, *, profile: str | None = None, dataset: str | None = None,
                         top_k: int = 1000, approximate: HNSWSettings | None = None,
                         bm25_method: str = "robertson", progress: ProgressFactory | None = None,
                         resamples: int = 10_000) -> KeywordAblation:
    """Search ``data`` with ``model`` under its original instruction and under the keywords; score both.

    ``dataset`` names the BEIR dataset the keywords are for (``scifact``, ``nfcorpus``, ``fiqa``); by default
    it is read from the dataset's name or folder. ``profile`` overrides the model's profile in the data.
    """
    keyword_data = load_keyword_data()
    key = dataset or dataset_key(data.name) or dataset_key(data.source)
    if key not in keyword_data.datasets:
        raise UnknownNameError(
            f"no keywords for dataset {data.name!r} (source {data.source}). Fix: say which dataset it is with "
            f"--dataset-name ({', '.join(keyword_data.datasets)})"
        )
    chosen = keyword_data.profile_for(model.name, profile)
    entry = chosen.datasets[key]
    base = getattr(model, "template", None)
    if base is None:
        from followir.models.templates import get_template

        base = get_template("plain")
    template = chosen.template(key, base)
    start = time.perf_counter()
    searcher = Searcher(model, data.corpus, template=template, approximate=approximate,
                        bm25_method=bm25_method, progress=progress("index documents") if progress else None)
    index_seconds = time.perf_counter() - start
    results = {}
    for variant in VARIANTS:
        instruction = entry.text(variant)
        requests = [SearchRequest(qid, text, instruction) for qid, text in data.queries.items()]
        run = searcher.search(requests, top_k, progress(f"search ({variant})") if progress else None)
        per_query = per_query_measures(data.qrels.judgements, run.scores, DEFAULT_MEASURES)
        first = requests[0]
        results[variant] = VariantResult(
            variant, instruction, searcher.render(first.query, first.instruction), mean_measures(per_query),
            per_query, bootstrap_interval({q: v[PRIMARY_METRIC] for q, v in per_query.items()},
                                          resamples=resamples),
            run, searcher.last_search_seconds)
        log.info("%s on %s (%s): nDCG@10 %.4f", model.name, key, variant,
                 results[variant].scores[PRIMARY_METRIC])
    test = paired_randomization_test({q: v[PRIMARY_METRIC] for q, v in results["keywords"].per_query.items()},
                                     {q: v[PRIMARY_METRIC] for q, v in results["original"].per_query.items()},
                                     resamples=resamples)
    model_info = {"name": model.name, **(model.describe() if hasattr(model, "describe") else {}),
                  "search": searcher.describe()}
    return KeywordAblation(model_info, chosen.name, key, data.source, data.split, len(data.queries),
                           len(data.corpus), top_k, results["original"], results["keywords"], test,
                           {"index_s": index_seconds, "total_s": time.perf_counter() - start})


def results_file(dataset: str) -> str:
    return f"beir-keywords-{dataset}.json"


def write_ablation(result: KeywordAblation, folder: str | Path) -> Path:
    """Write the TREC runs (``<dataset>.<variant>.trec``), then ``beir-keywords-<dataset>.json``."""
    from followir.atomic import write_json
    from followir.data.trec import write_run

    folder = Path(folder)
    files = {}
    for variant in VARIANTS:
        name = f"{result.dataset}.{variant}.trec"
        write_run(result.variant(variant).run, folder / name)
        files[variant] = name
    path = folder / results_file(result.dataset)
    write_json(path, {**result.to_dict(), "run_files": files})
    return path
