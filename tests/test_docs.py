"""Docs that cannot drift: every command in README's shell blocks runs with ``--help`` (or is
checked in a dry form), and every repository path and dotted module name that README.md and
docs/*.md mention exists.

Generated outputs (``data/``, ``models/``, ``reports/``, ...) are not in the repository; they are
skipped, as are placeholders (``<split>``, ``*``, ``{a,b}``, ``...``).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# What a run writes (never committed): paths under these are not checked.
GENERATED = ("data/", "models/", "reports/", "metrics/", "predictions/", "ray_results/",
             "mlruns/", "mlflow.db", "benchmarks/results/", "params.ok")
TOP_LEVEL = ("sastnet", "pipelines", "stages", "tests", "benchmarks", "scripts", "profiles",
             "docs", "constraints")
PLACEHOLDER = re.compile(r"[<>*{}]|\.\.\.|%0")


def shell_commands(path: Path) -> list[str]:
    """Command lines of the ```bash / ```sh blocks (comments and continuation joined)."""
    out, lang, buf = [], None, ""
    for line in path.read_text().splitlines():
        fence = re.match(r"^```(\w*)", line)
        if fence:
            lang = None if lang is not None else fence.group(1)
            continue
        if lang not in ("bash", "sh"):
            continue
        line = re.sub(r"(^|\s)#.*$", "", line).rstrip()
        buf += line
        if buf.endswith("\\"):
            buf = buf[:-1]
            continue
        if buf.strip():
            out.append(buf.strip())
        buf = ""
    return out


def dvc_stages() -> set[str]:
    return set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def _strip(words: list[str]) -> list[str]:
    """Drop env assignments and a ``ray job submit ... --`` prefix; normalise .venv/bin/."""
    if words[:1] == ["export"]:
        words = words[1:]
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words = words[1:]
    if words[:3] == ["ray", "job", "submit"] and "--" in words:
        words = words[words.index("--") + 1:]
    if words and words[0].startswith(".venv/bin/"):
        words = [words[0][len(".venv/bin/"):]] + words[1:]
    if words and words[0].endswith("/python"):
        words = ["python"] + words[1:]
    return words


def _run_help(argv0: str, run) -> None:
    old = sys.argv
    sys.argv = [argv0, "--help"]
    try:
        with pytest.raises(SystemExit) as exit_:
            run()
    finally:
        sys.argv = old
    assert exit_.value.code in (0, None), f"{argv0} --help exited {exit_.value.code}"


def check_command(line: str, capsys) -> None:
    words = _strip(shlex.split(line.removesuffix("&").strip()))
    if not words:  # only environment assignments
        return
    tool, args = words[0], words[1:]
    if tool == "python" and args[:1] == ["-m"]:
        module = args[1]
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"{line}: no module {module}"
        name = f"{module}.__main__" if spec.submodule_search_locations else module
        _run_help(module, lambda: runpy.run_module(name, run_name="__main__", alter_sys=True))
        assert "Usage" in capsys.readouterr().out.replace("usage", "Usage")
    elif tool == "python":
        script = ROOT / args[0]
        assert script.is_file(), f"{line}: no {args[0]}"
        _run_help(str(script), lambda: runpy.run_path(str(script), run_name="__main__"))
        assert "usage" in capsys.readouterr().out.lower()
    elif tool == "sastnet":
        from typer.testing import CliRunner

        from pipelines.cli import app

        result = CliRunner().invoke(app, [args[0], "--help"])
        assert result.exit_code == 0, f"{line}: {result.output}"
    elif tool == "dvc":  # dry form: the stage it names exists
        if args[:1] == ["repro"] and len(args) > 1:
            assert args[1] in dvc_stages(), f"{line}: no stage {args[1]} in dvc.yaml"
    elif tool == "bash":
        assert (ROOT / args[0]).is_file(), f"{line}: no {args[0]}"
    elif tool == "cat":
        assert args[0].startswith(GENERATED) or (ROOT / args[0]).exists(), line
    elif tool == "ray" and args[:1] in (["up"], ["dashboard"], ["down"], ["attach"]):
        assert (ROOT / args[1]).is_file(), f"{line}: no {args[1]}"
    else:
        assert tool in ("mlflow", "pip"), f"{line}: a command this test does not know"


README_COMMANDS = shell_commands(ROOT / "README.md")


def test_readme_has_commands():
    assert len(README_COMMANDS) >= 10


@pytest.mark.parametrize("line", README_COMMANDS)
def test_readme_command_runs_with_help(line, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    check_command(line, capsys)


def _mentions(path: Path) -> list[str]:
    """Inline code spans and code-block words of a Markdown file."""
    text = path.read_text()
    spans = re.findall(r"`([^`\n]+)`", text)
    words = [w for span in spans for w in re.split(r"[\s,;()=\[\]\"']+", span)]
    for command in shell_commands(path):
        words += command.split()
    return [w.rstrip(".:") for w in words if w and not w.startswith(("../", "/", "http"))]


def _path_ok(token: str) -> bool:
    token = token.split("::")[0].rstrip("/")
    if token.startswith(GENERATED) or PLACEHOLDER.search(token):
        return True
    return (ROOT / token).exists()


def _dotted_ok(token: str) -> bool:
    """``a.b.c``: the longest importable module prefix, then attributes for the rest."""
    parts = token.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        if not _importable(name):
            continue
        obj = importlib.import_module(name)
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def references(path: Path) -> tuple[list[str], list[str]]:
    paths, dotted = [], []
    for word in _mentions(path):
        head = word.split("/")[0]
        if "/" in word and head in TOP_LEVEL and not word.startswith("http"):
            paths.append(word)
        elif re.fullmatch(r"(sastnet|pipelines|stages)(\.\w+)+", word):
            dotted.append(word)
        elif re.fullmatch(r"[\w/.-]+\.(py|yaml|md|sh|txt|toml)", word) and "/" in word:
            paths.append(word)
    return paths, dotted


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_paths_and_modules_in_docs_exist(doc):
    paths, dotted = references(doc)
    missing = sorted({p for p in paths if not _path_ok(p)})
    unknown = sorted({d for d in dotted if not _dotted_ok(d)})
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"
    assert not unknown, f"{doc.name} names modules/attributes that do not exist: {unknown}"


def test_every_dvc_stage_is_a_stage_module():
    """README: 'Each stage is also a plain module (python -m stages.<name>)'."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        words = stage["cmd"].split()
        assert words[:2] == ["python", "-m"], (name, stage["cmd"])
        assert words[2].startswith("stages."), (name, stage["cmd"])
        assert (ROOT / (words[2].replace(".", "/") + ".py")).is_file(), (name, words[2])


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "stages").glob("*.py")
                                          if not p.stem.startswith("_")))
def test_every_stage_module_has_help(module, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    _run_help(module, lambda: runpy.run_module(f"stages.{module}", run_name="__main__",
                                               alter_sys=True))
    assert "Usage" in capsys.readouterr().out


RESULTS_BEGIN, RESULTS_END = "<!-- results:begin -->", "<!-- results:end -->"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?: ± \d+\.\d+)?")


def results_block(readme: str) -> str:
    """The README's quoted results: between the results markers, links and code spans left out
    (paths and commands hold digits that are not results)."""
    assert readme.count(RESULTS_BEGIN) == 1 and readme.count(RESULTS_END) == 1, \
        f"README.md needs one {RESULTS_BEGIN} ... {RESULTS_END} block"
    block = readme.split(RESULTS_BEGIN)[1].split(RESULTS_END)[0]
    return re.sub(r"`[^`]*`|\]\([^)]*\)", "", block)


def test_readme_quotes_only_numbers_of_the_published_run():
    """Every number the README's results block quotes is in docs/results/default.md (the run's
    own reports, copied by scripts/publish_results.sh), and the commit it names is that run's."""
    block = results_block((ROOT / "README.md").read_text())
    published = (ROOT / "docs" / "results" / "default.md").read_text()
    numbers = [n for n in NUMBER.findall(block) if "." in n]  # counts (3 seeds) are prose
    assert numbers, "the results block quotes no number"
    missing = [n for n in numbers if n not in published]
    assert not missing, \
        f"README quotes numbers that docs/results/default.md does not hold: {missing}"
    commits = set(re.findall(r"commit `([0-9a-f]{7,40})`", published))
    quoted = set(re.findall(r"\b[0-9a-f]{7}\b", readme_block_raw()))
    assert quoted and quoted <= commits, (quoted, commits)


def readme_block_raw() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split(RESULTS_BEGIN)[1].split(RESULTS_END)[0]


def test_the_results_check_catches_a_hand_copied_number():
    block = results_block(f"x {RESULTS_BEGIN} SASTNet 80.44 ± 2.10 (`reports/x2.5`) {RESULTS_END}")
    assert NUMBER.findall(block) == ["80.44 ± 2.10"]


# --- the front door and the lab notebook ------------------------------------------------------
# Run history ("run M of `a290a8f`", "runs B and Y") lives in the lab notebook (docs/lab/) and the
# published reports (docs/results/); the README may name the published run only inside its
# generated results block. The guide says what to do, the notebook says what happened.
RUN_LETTER = re.compile(r"\b[Rr]uns? (?:\*\*)?[A-Z]\d?\b")
COMMIT = re.compile(r"`(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}`")
README_MAX_LINES = 200


def run_history(text: str) -> list[str]:
    """Run letters and commit hashes (hex in backticks) in ``text``."""
    return RUN_LETTER.findall(text) + COMMIT.findall(text)


def readme_outside_results_block() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split(RESULTS_BEGIN)[0] + readme.split(RESULTS_END)[1]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_run_letters_or_commits_outside_the_lab(doc):
    text = readme_outside_results_block() if doc.name == "README.md" else doc.read_text()
    found = run_history(text)
    assert not found, (f"{doc.relative_to(ROOT)} cites run history {found}: keep it in docs/lab/ "
                       "(or the README's results block) and link there")


def test_the_history_check_catches_a_run_letter_and_a_commit():
    assert run_history("as run M of `a290a8f` showed; runs B and Y; Run **G2**") == \
        ["run M", "runs B", "Run **G2", "`a290a8f`"]
    assert run_history("a run reruns it; `dvc repro`; `1234567`; run the default") == []


def test_docs_index_links_every_page():
    index = ROOT / "docs" / "index.md"
    targets = {(index.parent / link).resolve()
               for link in re.findall(r"\]\(([^)#\s]+)", index.read_text())
               if not link.startswith("http")}
    missing_targets = sorted(str(t.relative_to(ROOT)) for t in targets if not t.exists())
    assert not missing_targets, f"docs/index.md links pages that do not exist: {missing_targets}"
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md") if p != index}
    unlinked = sorted(str(p.relative_to(ROOT)) for p in pages - targets)
    assert not unlinked, f"docs/index.md does not link {unlinked}"


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, \
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    first_screen = "\n".join(lines[:60])
    for needle in ("bash scripts/run.sh", "bash scripts/test.sh", "reports/summary.md",
                   "sastnet trace"):
        assert needle in first_screen, f"README's first screen lacks {needle!r}"
