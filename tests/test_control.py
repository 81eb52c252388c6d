"""p-MRR against a control: the control edit (same length as the change, og words kept), and control p-MRR worked
out by hand with a model that reacts to one word whatever its order."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from followir.analyses.control import (
    NEUTRAL_TEXT,
    added_words,
    control_edit,
    control_instruction,
    run_control,
    shuffled_words,
    write_control,
)
from followir.records import Document, Qrels, Query, Task

OG = "Relevant documents report floods in Europe."
CHANGED = "Relevant documents report floods in Europe. Reports about river floods are excluded."


def test_control_has_the_change_length_and_keeps_the_og_words():
    added = [w for _, ws in added_words(OG, CHANGED) for w in ws]
    assert added == "Reports about river floods are excluded.".split()
    for generator in ("neutral", "shuffled"):
        control = control_instruction(OG, CHANGED, generator, seed=3, query_id="7")
        assert len(control.split()) == len(CHANGED.split())
        assert control.startswith(OG + " ")
    neutral = control_instruction(OG, CHANGED, "neutral")
    assert neutral == OG + " " + " ".join(NEUTRAL_TEXT.split()[:6])
    shuffled = control_instruction(OG, CHANGED, "shuffled", seed=3, query_id="7")
    assert Counter(shuffled.split()[6:]) == Counter(added)              # the same words ...
    assert shuffled.split()[6:] != added                                 # ... in another order
    assert shuffled == control_instruction(OG, CHANGED, "shuffled", seed=3, query_id="7")   # seeded
    assert shuffled != control_instruction(OG, CHANGED, "shuffled", seed=4, query_id="7")


def test_control_goes_where_the_change_put_its_words():
    # an insertion in the middle and a replacement: the og words stay, the control words go to the same places
    assert added_words("a b c d", "a x b c y") == [(1, ["x"]), (4, ["y"])]
    assert control_instruction("a b c d", "a x b c y", "neutral") == "a Please b c d read"
    long_change = "a " + " ".join(["w"] * 45)
    assert control_instruction("a", long_change, "neutral").split()[1:] == (NEUTRAL_TEXT.split() * 3)[:45]
    assert control_instruction("a b", "a b", "neutral") == "a b"          # no added word: the og instruction


SEEDS = range(20)


def test_one_added_word_falls_back_to_neutral_for_every_seed():
    # one word has no other order: the shuffled control would repeat the changed instruction word for word
    og, changed = "Find reports on floods.", "Find reports on floods. Exclude"
    for seed in SEEDS:
        text, used = control_edit(og, changed, "shuffled", seed=seed, query_id="q")
        assert used == "neutral" and text == og + " Please" and text != changed
    # the same for one word repeated: fewer than two distinct words
    text, used = control_edit(og, og + " very very", "shuffled", seed=1, query_id="q")
    assert used == "neutral" and text == og + " Please read"
    assert shuffled_words(["very", "very"], 0, "q") is None


def test_two_added_words_are_always_swapped():
    og, changed = "Find reports on floods.", "Find reports on floods. Ignore Asia."
    for seed in SEEDS:
        for query_id in ("q", "7", "q2"):
            text, used = control_edit(og, changed, "shuffled", seed=seed, query_id=query_id)
            assert used == "shuffled" and text == og + " Asia. Ignore"   # the only other order, never the change's
            assert text == control_instruction(og, changed, "shuffled", seed=seed, query_id=query_id)   # seeded
    # with three or more words: never the change's order, always the change's words, the same for the same seed
    words = ["a", "b", "c"]
    orders = {tuple(shuffled_words(words, seed, "q")) for seed in SEEDS}
    assert tuple(words) not in orders and all(sorted(o) == words for o in orders) and len(orders) > 1
    assert shuffled_words(words, 5, "q") == shuffled_words(words, 5, "q")


def test_fallback_is_recorded_per_query(tmp_path):
    queries = (Query("1", "floods", OG, CHANGED),                                     # six distinct added words
               Query("2", "storms", "Storm damage reports.", "Storm damage reports. Coastal"))   # one
    docs = {d: Document(d, f"text {d}") for d in ("d1", "d2", "d3")}
    qrels = Qrels({"1": {"d1": 1, "d2": 1}, "2": {"d1": 1, "d2": 1}})
    changed = Qrels({"1": {"d2": 1}, "2": {"d2": 1}})
    task = Task("tiny", queries, docs, qrels, changed, {"1": ("d1", "d2", "d3"), "2": ("d1", "d2", "d3")},
                {"1": frozenset({"d1"}), "2": frozenset({"d1"})})
    result = run_control(WordReactor(), task, "shuffled", seed=0, resamples=100)
    assert result.generators_used == {"1": "shuffled", "2": "neutral"} and result.fell_back == ["2"]
    assert result.instructions["2"] == "Storm damage reports. Please"
    saved = json.loads(write_control(result, tmp_path).read_text())["control"]["tiny.shuffled"]
    assert saved["control_generators"] == {"1": "shuffled", "2": "neutral"} and saved["fell_back"] == ["2"]
    assert saved["neutral_text"] == NEUTRAL_TEXT            # the sentence the fallback used is recorded
    neutral = run_control(WordReactor(), task, "neutral", resamples=100).to_dict()
    assert neutral["fell_back"] == [] and neutral["control_generators"] == {"1": "neutral", "2": "neutral"}


class WordReactor:
    """Ranks d1 > d2 > d3, but drops d1 to the bottom when the instruction holds the word 'excluded.' in any
    position: it reacts to a word, not to what the sentence means."""

    name = "word-reactor"

    def rerank(self, requests, corpus, progress=None):
        out = []
        for r in requests:
            scores = {"d1": 3.0, "d2": 2.0, "d3": 1.0}
            if "excluded." in r.instruction.split():
                scores["d1"] = 0.0
            out.append({d: scores[d] for d in r.candidates})
        return out

    def describe(self):
        return {"family": "test"}


def _task() -> Task:
    queries = (Query("1", "floods", OG, CHANGED),
               Query("2", "storms", "Storm damage reports.", "Storm damage reports. Only coastal towns count."))
    docs = {d: Document(d, f"text {d}") for d in ("d1", "d2", "d3")}
    og = Qrels({"1": {"d1": 1, "d2": 1}, "2": {"d1": 1, "d2": 1}})
    changed = Qrels({"1": {"d2": 1}, "2": {"d2": 1}})
    return Task("tiny", queries, docs, og, changed, {"1": ("d1", "d2", "d3"), "2": ("d1", "d2", "d3")},
                {"1": frozenset({"d1"}), "2": frozenset({"d1"})})


@pytest.mark.parametrize("generator, control, difference", [
    ("neutral", 0.0, 1 / 3),      # the neutral edit lacks the word: d1 stays first, control p-MRR 0
    ("shuffled", 1 / 3, 0.0),     # the shuffled words still hold it: the same drop, all of p-MRR is reaction
])
def test_control_p_mrr_by_hand(tmp_path, generator, control, difference):
    result = run_control(WordReactor(), _task(), generator, seed=0, resamples=300)
    # query 1: d1 falls from rank 1 to 3 under the changed instruction: 1 - (1/3)/(1/1) = 2/3; query 2: stays, 0
    assert result.per_query["p-MRR"] == {"1": pytest.approx(2 / 3), "2": 0.0}
    assert result.p_mrr == pytest.approx(1 / 3)
    assert result.control_p_mrr == pytest.approx(control)
    assert result.difference == pytest.approx(difference)
    assert result.intervals["difference"].mean == pytest.approx(difference)
    assert result.added == {"1": 6, "2": 4}
    path = write_control(result, tmp_path)
    saved = json.loads(path.read_text())["control"][f"tiny.{generator}"]
    assert saved["generator"] == generator and saved["control p-MRR"] == pytest.approx(control)
    assert saved["control_instructions"]["2"].startswith("Storm damage reports. ")
    assert (tmp_path / f"tiny.control-{generator}.trec").is_file()


def test_unknown_generator_is_refused():
    with pytest.raises(ValueError, match="neutral, shuffled"):
        run_control(WordReactor(), _task(), "random")
