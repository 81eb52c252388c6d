"""The datasheet of a built training set: the counts of every step, found by following step manifests.

``balance`` writes it: from ``train.manifest.json`` it follows each manifest's recorded inputs back to
``filtered``, ``generated`` and ``narratives``, so the datasheet shows how many narratives were read, excluded
and dropped, how many documents were generated and failed to parse, how many the judge kept or dropped per
label, and how many instances the balance kept. Steps run on files without manifests are listed as unknown.
"""

from __future__ import annotations

from pathlib import Path

from followir.atomic import atomic_open, write_json
from followir.training.files import read_manifest

STEPS = ("narratives", "generate", "filter", "balance")
SCHEMA = {
    "query": "the query (the TREC topic title, or the query field of the narrative source)",
    "instruction": "the instruction (the TREC narrative)",
    "document": "a synthetic document written by the generator LLM",
    "label": "true: written as relevant; false: written as non-relevant (the judge agreed)",
    "id": "the document: '<pair id>/rel<k>' or '<pair id>/nonrel<k>', where the pair id is "
          "'<topic file label>:<topic number>' for TREC files and the source id otherwise",
    "score": "the judge's p(true) for the document",
}


def collect_manifests(manifest: dict) -> dict[str, dict]:
    """The manifest of each step upstream of ``manifest`` (itself included), by step name."""
    found = {manifest["step"]: manifest}
    for info in manifest.get("inputs", {}).values():
        upstream = read_manifest(info["path"])
        if upstream is not None and upstream.get("step") not in found:
            found.update(collect_manifests(upstream))
    return found


def summary(steps: dict[str, dict]) -> dict:
    def counts(step: str) -> dict:
        return steps.get(step, {}).get("counts", {})

    n, g, f, b = counts("narratives"), counts("generate"), counts("filter"), counts("balance")
    return {
        "narratives_read": n.get("read"), "narratives_excluded": n.get("excluded"),
        "narratives_empty": (n.get("empty_narrative", 0) + n.get("empty_query", 0)) if n else None,
        "narratives_duplicates": n.get("duplicates"),
        "narratives_beyond_limit": n.get("beyond_limit", 0) if n else None, "narratives_kept": n.get("kept"),
        "pairs_generated": g.get("pairs_generated"), "pairs_failed_to_parse": g.get("pairs_failed"),
        "documents_generated": g.get("documents"), "relevant_generated": g.get("relevant"),
        "nonrelevant_generated": g.get("nonrelevant"),
        "judged": f.get("judged"), "relevant_kept": f.get("relevant_kept"),
        "relevant_dropped": f.get("relevant_dropped"), "nonrelevant_kept": f.get("nonrelevant_kept"),
        "nonrelevant_dropped": f.get("nonrelevant_dropped"),
        "instances": b.get("instances"), "instances_relevant": b.get("relevant"),
        "instances_nonrelevant": b.get("nonrelevant"), "instances_pairs": b.get("pairs"),
    }


def _settings(steps: dict[str, dict]) -> dict:
    n = steps.get("narratives", {}).get("options", {})
    g = steps.get("generate", {}).get("options", {})
    f = steps.get("filter", {}).get("options", {})
    b = steps.get("balance", {}).get("options", {})
    return {"sources": n.get("sources"), "excluded_tasks": n.get("exclusion"), "excluded_ids": n.get("exclude_ids"),
            "query_field": n.get("query_field"), "generator": g.get("generator"), "prompt": g.get("prompt"),
            "generation_options": g.get("options"), "attempts": g.get("attempts"), "parse": g.get("parse"),
            "judge": f.get("judge"), "threshold": f.get("threshold"), "balance": b or None}


def write_datasheet(output_dir: str | Path, manifest: dict) -> dict:
    output_dir = Path(output_dir)
    steps = collect_manifests(manifest)
    sheet = {
        "name": output_dir.resolve().name,
        "created_at": manifest.get("finished_at"),
        "recipe": "FollowIR-train (Weller et al., 2024, section 5): TREC narratives -> synthetic relevant and "
                  "non-relevant documents from a generator LLM -> judge filter -> one document per label per query",
        "schema": SCHEMA,
        "counts": summary(steps),
        "settings": _settings(steps),
        "steps": {s: {"counts": steps[s].get("counts"), "finished_at": steps[s].get("finished_at")}
                  for s in STEPS if s in steps},
        "missing_steps": [s for s in STEPS if s not in steps],
    }
    write_json(output_dir / "datasheet.json", sheet)
    with atomic_open(output_dir / "datasheet.md") as f:
        f.write(render_markdown(sheet))
    return sheet


def _fmt(value: object) -> str:
    return "unknown" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def render_markdown(sheet: dict) -> str:
    c, s = sheet["counts"], sheet["settings"]
    rows = [
        ("narratives", "read", c["narratives_read"]), ("", "excluded (evaluation topics)", c["narratives_excluded"]),
        ("", "dropped: empty narrative or query", c["narratives_empty"]),
        ("", "dropped: duplicates", c["narratives_duplicates"]),
        *([("", "left out: beyond --limit", c["narratives_beyond_limit"])] if c.get("narratives_beyond_limit") else []),
        ("", "kept", c["narratives_kept"]),
        ("generate", "pairs with documents", c["pairs_generated"]),
        ("", "pairs failed to parse (failures.jsonl)", c["pairs_failed_to_parse"]),
        ("", "documents (relevant / non-relevant)",
         f"{_fmt(c['documents_generated'])} ({_fmt(c['relevant_generated'])} / {_fmt(c['nonrelevant_generated'])})"),
        ("filter", "judged", c["judged"]),
        ("", "relevant kept / dropped", f"{_fmt(c['relevant_kept'])} / {_fmt(c['relevant_dropped'])}"),
        ("", "non-relevant kept / dropped", f"{_fmt(c['nonrelevant_kept'])} / {_fmt(c['nonrelevant_dropped'])}"),
        ("balance", "instances (relevant / non-relevant)",
         f"{_fmt(c['instances'])} ({_fmt(c['instances_relevant'])} / {_fmt(c['instances_nonrelevant'])})"),
        ("", "query/instruction pairs", c["instances_pairs"]),
    ]
    lines = [f"# Datasheet: {sheet['name']}", "", sheet["recipe"] + ".", "", "## Counts", "",
             "| step | count | value |", "|---|---|---|"]
    lines += [f"| {step} | {what} | {_fmt(value)} |" for step, what, value in rows]
    lines += ["", "## Settings", ""]
    generator = s.get("generator") or {}
    lines += [f"- sources: {', '.join(s.get('sources') or []) or 'unknown'}",
              f"- excluded evaluation tasks: {_fmt(s.get('excluded_tasks') or 'none')}",
              f"- generator: {generator.get('model') or generator.get('model_id') or 'unknown'} "
              f"({generator.get('kind', '?')}), prompt {s.get('prompt')}, options {s.get('generation_options')}, "
              f"attempts {s.get('attempts')}",
              f"- judge: {s.get('judge')} (keep when p(true) > {s.get('threshold')} agrees with the label)",
              f"- balance: {s.get('balance')}"]
    if sheet["missing_steps"]:
        lines += ["", f"Steps without a manifest (counts unknown): {', '.join(sheet['missing_steps'])}."]
    lines += ["", "## Schema", "", "| field | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in sheet["schema"].items()]
    return "\n".join(lines) + "\n"
