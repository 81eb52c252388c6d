"""Sweep of malformed input files through the CLI, as a new user would run them (issue 11).

Each case writes its files into a fresh folder, runs one ``followir`` command there and classifies the outcome:

- clear: exit 2, an ``error:`` line naming the file (and the line, when the case names one), and a ``Fix:``;
- unclear: exit 2 without the file, the line or the fix;
- traceback: a Python traceback, or an exit status other than 0 and 2;
- silently wrong: exit 0 where an error was due, or a wrong value where the input is valid;
- correct: exit 0 with the right values, where the input is valid (BOM, CRLF, tabs, documented rules).

Usage: ``python scripts/sweep_bad_inputs.py [--jobs 2] [--keep DIR]``. Prints one line per case and the table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

FOLLOWIR = str(Path(sys.executable).with_name("followir"))

OG_QRELS = "1 0 a 1\n1 0 b 1\n1 0 c 0\n2 0 x 1\n2 0 y 1\n"
CH_QRELS = "1 0 a 1\n1 0 b 0\n1 0 c 0\n2 0 x 1\n2 0 y 0\n"
OG_RUN = "1 Q0 a 1 3.0 s\n1 Q0 b 2 2.0 s\n1 Q0 c 3 1.0 s\n2 Q0 x 1 2.0 s\n2 Q0 y 2 1.0 s\n"
CH_RUN = "1 Q0 b 1 3.0 s\n1 Q0 a 2 2.0 s\n1 Q0 c 3 1.0 s\n2 Q0 y 1 2.0 s\n2 Q0 x 2 1.0 s\n"
# Base p-MRR: query 1, b rises 2 -> 1: 1/2 - 1 = -0.5; query 2, y rises 2 -> 1: -0.5. Mean -0.5.
BASE_PMRR = -0.5


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    files: dict[str, str | bytes]
    command: list[str]
    error_file: str | None = None  # the file an error must name; None: the input is valid
    error_line: int | None = None
    check: Callable[[str, Path], bool] | None = None  # for valid inputs: stdout, folder -> right?
    extra: dict = field(default_factory=dict)


def strict(text: str):
    def refuse(c):
        raise ValueError(c)

    return json.loads(text, parse_constant=refuse)


def metrics_cmd(og="og.qrels", ch="ch.qrels", run_og="og.run", run_ch="ch.run") -> list[str]:
    return ["metrics", "--qrels-og", og, "--qrels-changed", ch, "--run-og", run_og, "--run-changed", run_ch,
            "--json", "--per-query"]


def metrics_case(kind, name, target, content, line=None, check=None, error=True) -> Case:
    files = {"og.qrels": OG_QRELS, "ch.qrels": CH_QRELS, "og.run": OG_RUN, "ch.run": CH_RUN, target: content}
    return Case(kind, name, files, metrics_cmd(), target if error else None, line, check)


def same_as_base(stdout: str, _folder: Path) -> bool:
    data = strict(stdout)
    return data["p-MRR"] == BASE_PMRR and data["og"]["map"] == 1.0


def junk(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(128, 256) for _ in range(n))


def metrics_cases() -> list[Case]:
    k, r, q = "run/qrels", "og.run", "og.qrels"
    cases = [
        metrics_case(k, "empty run", r, ""),
        metrics_case(k, "blank run", r, "\n  \n\n"),
        metrics_case(k, "run of whitespace-class junk", r, "\x0b\x0c\x1c\x1d\x1e\x1f\n\t\n"),
        metrics_case(k, "run of random high bytes", r, junk(200, 1), 1),
        metrics_case(k, "run latin-1 doc id", r, OG_RUN.encode() + b"2 Q0 caf\xe9 3 0.5 s\n", 6),
        metrics_case(k, "run saved as UTF-16", r, OG_RUN.encode("utf-16"), 1),
        metrics_case(k, "run nan score", r, OG_RUN.replace("2.0", "nan", 1), 2),
        metrics_case(k, "run NaN score", r, OG_RUN.replace("1.0", "NaN", 1), 3),
        metrics_case(k, "run inf score", r, OG_RUN.replace("3.0", "inf", 1), 1),
        metrics_case(k, "run -inf score", r, OG_RUN.replace("1.0", "-inf", 1), 3),
        metrics_case(k, "run overflowing score 1e999", r, OG_RUN.replace("3.0", "1e999", 1), 1),
        metrics_case(k, "run score not a number", r, OG_RUN.replace("2.0", "oops", 1), 2),
        metrics_case(k, "run score with underscore", r, OG_RUN.replace("3.0", "3_0", 1), 1),
        metrics_case(k, "run 5 columns", r, OG_RUN + "2 Q0 z 3 0.5\n", 6),
        metrics_case(k, "run doc id with a space", r, OG_RUN + "2 Q0 z z 3 0.5 s\n", 6),
        metrics_case(k, "run doc id with NBSP", r, OG_RUN + "2 Q0 z\xa0z 3 0.5 s\n", 6),
        metrics_case(k, "run duplicate document", r, OG_RUN + "1 Q0 a 4 0.1 s\n", 6),
        metrics_case(k, "run with no query in common", r, OG_RUN.replace("1 Q0", "7 Q0").replace("2 Q0", "8 Q0")),
        metrics_case(k, "qrels file given as run", r, OG_QRELS, 1),
        metrics_case(k, "run file given as qrels", q, OG_RUN, 1),
        metrics_case(k, "tab-separated run (valid)", r, OG_RUN.replace(" ", "\t"), check=same_as_base, error=False),
        metrics_case(k, "CRLF run (valid)", r, OG_RUN.replace("\n", "\r\n"), check=same_as_base, error=False),
        metrics_case(k, "run with UTF-8 BOM (valid)", r, "\ufeff" + OG_RUN, check=same_as_base, error=False),
        metrics_case(k, "qrels with UTF-8 BOM (valid)", q, "\ufeff" + OG_QRELS, check=same_as_base, error=False),
        metrics_case(k, "empty og qrels", q, ""),
        metrics_case(k, "empty changed qrels", "ch.qrels", ""),
        metrics_case(k, "blank qrels", q, " \n\n"),
        metrics_case(k, "qrels latin-1 bytes", q, OG_QRELS.encode() + b"2 0 \xe9t\xe9 1\n", 6),
        metrics_case(k, "qrels relevance x", q, OG_QRELS.replace("1 0 b 1", "1 0 b x"), 2),
        metrics_case(k, "qrels relevance 0.5", q, OG_QRELS.replace("1 0 b 1", "1 0 b 0.5"), 2),
        metrics_case(k, "qrels 3 columns", q, OG_QRELS + "2 z 1\n", 6),
        metrics_case(k, "qrels duplicate judgement", q, OG_QRELS + "1 0 a 0\n", 6),
        metrics_case(k, "og qrels with no relevant document", q, OG_QRELS.replace(" 1\n", " 0\n")),
        metrics_case(k, "qrels of other topics", q, OG_QRELS.replace("1 0", "7 0").replace("2 0", "8 0"),
                     None),
    ]
    cases.append(metrics_case(k, "changed qrels of other topics", "ch.qrels",
                              CH_QRELS.replace("1 0", "7 0").replace("2 0", "8 0")))

    def changed_all_zero(stdout, _f):
        data = strict(stdout)
        return all(v is None for v in data["changed"].values()) and "changed" in data["undefined"]

    cases.append(metrics_case(k, "changed qrels with no relevant document (null+reason)", "ch.qrels",
                              CH_QRELS.replace(" 1\n", " 0\n"), check=changed_all_zero, error=False))

    def one_skipped(stdout, _f):
        data = strict(stdout)
        return (data["p-MRR_skipped"]["count"] == 1 and data["p-MRR"] == -0.5
                and set(data["per_query"]["p-MRR"]) == {"1"})

    cases.append(metrics_case(k, "og run lacks query 2 (left out of p-MRR)", r,
                              "".join(line + "\n" for line in OG_RUN.splitlines() if line.startswith("1 ")),
                              check=one_skipped, error=False))
    # The two shared cases.
    pm = {"run_og.txt": "q1 Q0 a 1 9 sys\nq1 Q0 c 2 8 sys\nq1 Q0 b 3 7 sys\n",
          "run_changed.txt": "q1 Q0 a 1 9 sys\nq1 Q0 c 2 8 sys\nq1 Q0 b 3 7 sys\nq2 Q0 x 1 9 sys\n"
                             "q2 Q0 z 2 8 sys\nq2 Q0 w 3 7 sys\nq2 Q0 y 4 6 sys\n",
          "qrels_og.txt": "q1 0 a 1\nq1 0 b 1\nq2 0 x 1\nq2 0 y 1\n",
          "qrels_changed.txt": "q1 0 a 1\nq1 0 b 0\nq2 0 x 1\nq2 0 y 0\n"}

    def pmrr_case(stdout, _f):
        data = strict(stdout)
        return data["p-MRR"] == 0.0 and data["p-MRR_skipped"]["queries"] == ["q2"]

    cases.append(Case(k, "shared case pmrr-missing-query", pm,
                      metrics_cmd("qrels_og.txt", "qrels_changed.txt", "run_og.txt", "run_changed.txt"),
                      check=pmrr_case))
    nan = {"run_og_order1.txt": "q1 Q0 c 1 0.9 sys\nq1 Q0 a 2 nan sys\nq1 Q0 d 3 0.5 sys\nq1 Q0 b 4 NaN sys\n",
           "run_changed.txt": "q1 Q0 a 1 0.9 sys\nq1 Q0 b 2 0.8 sys\nq1 Q0 c 3 0.5 sys\nq1 Q0 d 4 0.1 sys\n",
           "qrels_og.txt": "q1 0 a 1\nq1 0 b 1\nq1 0 c 0\nq1 0 d 0\n",
           "qrels_changed.txt": "q1 0 a 1\nq1 0 b 0\nq1 0 c 0\nq1 0 d 0\n"}
    cases.append(Case(k, "shared case run-nan-score", nan,
                      metrics_cmd("qrels_og.txt", "qrels_changed.txt", "run_og_order1.txt", "run_changed.txt"),
                      "run_og_order1.txt", 2))
    return cases


TOPIC = "<top>\n<num> Number: 301\n<title> Crime\n<desc> Description:\nFind it.\n<narr> Narrative:\nAll.\n</top>\n"
XML = ('<?xml version="1.0"?>\n<topics>\n  <topic number="1">\n    <query>virus origin</query>\n'
       '    <question>what is the origin</question>\n    <narrative>seeking the origin</narrative>\n  </topic>\n'
       '  <topic number="2">\n    <query>masks</query>\n    <question>do masks work</question>\n'
       '    <narrative>seeking mask studies</narrative>\n  </topic>\n</topics>\n')


def topic_case(name, content, line=None, file="topics.txt", check=None) -> Case:
    return Case("topics", name, {file: content}, ["narratives", file, "-o", "out.jsonl"],
                None if check else file, line, check)


def topic_cases() -> list[Case]:
    def two_pairs(_stdout, folder):
        rows = [json.loads(x) for x in (folder / "out.jsonl").read_text().splitlines()]
        return [r["query"] for r in rows] == ["virus origin", "masks"]

    return [
        topic_case("unclosed <top>", "<top>\n<num> Number: 301\n<title> Crime\n", 1),
        topic_case("<top> inside <top>", "<top>\n<num> Number: 301\n<title> a\n" + TOPIC, 4),
        topic_case("stray text before topics", "hello\n" + TOPIC, 1),
        topic_case("stray text after topics", TOPIC + "bye\n", 9),
        topic_case("unknown tag <nar>", TOPIC.replace("<narr>", "<nar>"), 6),
        topic_case("a second <title>", TOPIC.replace("<desc>", "<title> again\n<desc>"), 4),
        topic_case("mismatched closing tag", TOPIC.replace("<desc>", "</desc>\n<desc>"), 4),
        topic_case("text after a closing tag", TOPIC.replace("<title> Crime", "<title> Crime </title> x"), 3),
        topic_case("text before the first field", "<top>\nhello\n<num> Number: 1\n</top>\n", 2),
        topic_case("no <top> at all", "just text\n"),
        topic_case("empty topic file", ""),
        topic_case("latin-1 topic file", TOPIC.replace("Crime", "Crim\u00e9").encode("latin-1"), 3),
        topic_case("topic number with a space", TOPIC.replace("301", "3 01"), 1),
        topic_case("duplicate topic number", TOPIC + TOPIC, 9),
        topic_case("topic without <num>", TOPIC.replace("<num> Number: 301\n", ""), 1),
        topic_case("XML topics (valid)", XML, file="topics.xml", check=two_pairs),
        topic_case("XML unclosed element", XML.replace("</query>", "", 1), 5, file="topics.xml"),
        topic_case("XML unknown element", XML.replace("question>", "questoin>", 2), 5, file="topics.xml"),
        topic_case("XML without number", XML.replace(' number="2"', ""), 8, file="topics.xml"),
        topic_case("XML duplicate number", XML.replace('number="2"', 'number="1"'), 8, file="topics.xml"),
        topic_case("XML stray text", XML.replace("</query>", "</query> stray", 1), 4, file="topics.xml"),
        topic_case("XML bare ampersand", XML.replace("masks</query>", "masks & gloves</query>"), 9,
                   file="topics.xml"),
    ]


def task_files(**override) -> dict[str, str | bytes]:
    def jl(rows):
        return "".join(json.dumps(r) + "\n" for r in rows)

    files = {
        "corpus.jsonl": jl([{"_id": f"d{i}", "text": t} for i, t in enumerate(
            ["cartel cocaine exports", "polio cases in nigeria", "stock markets rose", "cocaine seized at port",
             "polio vaccine drive"])]),
        "queries.jsonl": jl([{"_id": "1", "text": "cocaine cartel", "instruction_og": "Any cartel activity.",
                              "instruction_changed": "Only seizures at ports."},
                             {"_id": "2", "text": "polio", "instruction_og": "Any polio news.",
                              "instruction_changed": "Only vaccine drives."}]),
        "qrels_og/test.jsonl": jl([{"query-id": q, "corpus-id": d, "score": 1}
                                   for q, d in (("1", "d0"), ("1", "d3"), ("2", "d1"), ("2", "d4"))]),
        "qrels_changed/test.jsonl": jl([{"query-id": q, "corpus-id": d, "score": s} for q, d, s in
                                        (("1", "d0", 0), ("1", "d3", 1), ("2", "d1", 0), ("2", "d4", 1))]),
    }
    files.update(override)
    return {f"task/{k}": v for k, v in files.items() if v is not None}


EVALUATE = ["evaluate", "-m", "bm25", "-t", "task", "-o", "out", "--resamples", "20"]


def task_case(name, error_file, line=None, check=None, **override) -> Case:
    return Case("dataset folder", name, task_files(**override), EVALUATE,
                f"task/{error_file}" if error_file else None, line, check)


def task_cases() -> list[Case]:
    base = task_files()
    corpus = base["task/corpus.jsonl"]
    queries = base["task/queries.jsonl"]

    def changed_null(_stdout, folder):
        data = strict((folder / "out" / "results.json").read_text())
        scores = data["tasks"]["task"]["scores"]
        return all(v is None for v in scores["changed"].values()) and "changed" in scores["undefined"]

    mteb = {"corpus.jsonl": corpus, "queries.jsonl": None, "qrels_og/test.jsonl": None,
            "qrels_changed/test.jsonl": None,
            "default.jsonl": '{"query-id": "1-og", "corpus-id": "d0", "score": 1}\n'
                             '{"query-id": "1-changed", "corpus-id": "d0", "score": 0}\n',
            "instruction.jsonl": '{"query-id": "1-og", "instruction": "a"}\n'
                                 '{"query-id": "1-changed", "instruction": "b"}\n'}
    return [
        task_case("corpus line not JSON", "corpus.jsonl", 6, **{"corpus.jsonl": corpus + "{oops\n"}),
        task_case("corpus object with a key twice", "corpus.jsonl", 6,
                  **{"corpus.jsonl": corpus + '{"_id": "d9", "text": "a", "text": "b"}\n'}),
        task_case("corpus doc id with a space", "corpus.jsonl", 6,
                  **{"corpus.jsonl": corpus + '{"_id": "d 9", "text": "a"}\n'}),
        task_case("corpus doc id empty", "corpus.jsonl", 6, **{"corpus.jsonl": corpus + '{"_id": "", "text": "a"}\n'}),
        task_case("corpus latin-1 bytes", "corpus.jsonl", 6,
                  **{"corpus.jsonl": corpus.encode() + b'{"_id": "d9", "text": "caf\xe9"}\n'}),
        task_case("corpus duplicate doc id", "corpus.jsonl", 6,
                  **{"corpus.jsonl": corpus + '{"_id": "d0", "text": "a"}\n'}),
        task_case("corpus empty", "corpus.jsonl", **{"corpus.jsonl": ""}),
        task_case("queries blank", "queries.jsonl", **{"queries.jsonl": "\n\n"}),
        task_case("corpus.parquet that is not parquet", "corpus.parquet", None,
                  **{"corpus.jsonl": None, "corpus.parquet": b"PAR1 not really"}),
        task_case("query missing instruction_changed", "queries.jsonl", 2,
                  **{"queries.jsonl": queries.splitlines()[0] + "\n" + json.dumps(
                      {"_id": "2", "text": "polio", "instruction_og": "x"}) + "\n"}),
        task_case("query id with NBSP", "queries.jsonl", 1,
                  **{"queries.jsonl": queries.replace('"_id": "1"', '"_id": "q\\u00a01"')}),
        task_case("queries.tsv with a column twice", "queries.tsv", 1,
                  **{"queries.jsonl": None, "queries.tsv": "_id\ttext\ttext\tinstruction_og\tinstruction_changed\n"
                                                           "1\ta\tb\tc\td\n"}),
        task_case("qrels relevance x", "qrels_og/test.jsonl", 1,
                  **{"qrels_og/test.jsonl": '{"query-id": "1", "corpus-id": "d0", "score": "x"}\n'}),
        task_case("qrels naming an unknown query", "qrels_og/test.jsonl", 5,
                  **{"qrels_og/test.jsonl": base["task/qrels_og/test.jsonl"]
                     + '{"query-id": "9", "corpus-id": "d0", "score": 1}\n'}),
        task_case("README configs is a string", "README.md", None, **{"README.md": "---\nconfigs: corpus\n---\n"}),
        task_case("README data_files entry without path", "README.md", None,
                  **{"README.md": "---\nconfigs:\n- config_name: corpus\n  data_files:\n  - split: test\n---\n"}),
        task_case("mteb layout duplicate query row", "queries.jsonl", 3,
                  **{**mteb, "queries.jsonl": '{"_id": "1-og", "text": "q"}\n{"_id": "1-changed", "text": "q"}\n'
                                              '{"_id": "1-og", "text": "other"}\n'}),
        task_case("mteb layout id without -og/-changed", "queries.jsonl", 1,
                  **{**mteb, "queries.jsonl": '{"_id": "1", "text": "q"}\n'}),
        task_case("changed qrels with no relevant document (null+reason)", None, check=changed_null,
                  **{"qrels_changed/test.jsonl": base["task/qrels_changed/test.jsonl"].replace('"score": 1',
                                                                                               '"score": 0')}),
    ]


def compare_cases() -> list[Case]:
    def two(content) -> dict:
        return {"a/results.json": content, "b/results.json": json.dumps(
            {"model": {"name": "b"}, "tasks": {"t": {"scores": {"main_metric": "map"}}}})}

    no_pq = json.dumps({"model": {"name": "a"}, "tasks": {"t": {"scores": {"main_metric": "map", "p-MRR": 0.1}}}})
    return [
        Case("results files", "results without per-query scores", two(no_pq), ["compare", "a", "b"], "a"),
        Case("results files", "results.json not JSON", two("{oops"), ["compare", "a", "b"], "a/results.json", 1),
        Case("results files", "results.json a list", two("[1, 2]"), ["compare", "a", "b"], "a/results.json"),
        Case("results files", "results.json latin-1", two(b'{"model": "caf\xe9"}'), ["compare", "a", "b"],
             "a/results.json"),
    ]


def run_case(case: Case, root: Path) -> tuple[Case, str, str]:
    folder = root / f"{case.kind}-{case.name}".replace(" ", "_").replace("/", "_")
    folder.mkdir(parents=True)
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    env = {**os.environ, "COLUMNS": "400", "FOLLOWIR_CACHE": str(folder / "cache.sqlite")}
    done = subprocess.run([FOLLOWIR, *case.command], cwd=folder, capture_output=True, text=True, env=env,
                          timeout=300)
    output = (done.stdout + done.stderr).replace("\n", " ")
    if "Traceback" in output or done.returncode not in (0, 2):
        return case, "traceback", output[-300:]
    if case.error_file is None:
        if done.returncode != 0:
            return case, "unclear", output[-300:]  # a valid input refused
        try:
            ok = case.check(done.stdout, folder) if case.check else True
        except Exception as e:  # noqa: BLE001 - any failure of the check means a wrong value
            return case, "silently wrong", f"check failed: {e!r}"
        return case, ("correct" if ok else "silently wrong"), done.stdout[:400]
    if done.returncode == 0:
        return case, "silently wrong", done.stdout[:200]
    stderr = done.stderr.replace("\n", " ")
    named = str(Path(case.error_file)) in stderr or Path(case.error_file).name in stderr
    lined = case.error_line is None or f"{Path(case.error_file).name}:{case.error_line}" in stderr
    clear = "error:" in stderr and named and lined and "Fix:" in stderr
    return case, ("clear error" if clear else "unclear"), stderr[-300:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep the case folders here")
    args = parser.parse_args()
    cases = metrics_cases() + topic_cases() + task_cases() + compare_cases()
    root = Path(tempfile.mkdtemp(prefix="followir-sweep-")) if args.keep is None else args.keep
    with ThreadPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(lambda c: run_case(c, root), cases))
    table: dict[str, Counter] = {}
    for case, outcome, detail in outcomes:
        table.setdefault(case.kind, Counter())[outcome] += 1
        print(f"{outcome:15} | {case.kind:15} | {case.name:55} | {' '.join(detail.split())[:200]}")
    columns = ["clear error", "correct", "unclear", "traceback", "silently wrong"]
    print("\n| kind | inputs | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    total = Counter()
    for kind, counts in table.items():
        total.update(counts)
        print(f"| {kind} | {sum(counts.values())} | " + " | ".join(str(counts[c]) for c in columns) + " |")
    print(f"| all | {sum(total.values())} | " + " | ".join(str(total[c]) for c in columns) + " |")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if total["traceback"] or total["silently wrong"] else 0)


if __name__ == "__main__":
    main()
