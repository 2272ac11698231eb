"""Every DVC stage lists, in its ``deps``, every project module its command imports.

The imports are found statically (``ast``), transitively, including imports inside functions,
so a stage whose code changes is never served from a stale cache.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("sastnet", "pipelines", "stages")


def module_file(name: str) -> Path | None:
    """The file that defines dotted module ``name`` (a module or a package's __init__)."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Project modules imported anywhere in ``path`` (absolute imports only)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from pkg import mod`` may import a submodule: keep both candidates.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PROJECT_PACKAGES and module_file(name):
                found.add(name)
    return found


def closure(module: str) -> set[Path]:
    """Files of ``module`` and of every project module it imports, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        # importing a.b.c runs a/__init__ and a/b/__init__ too
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += sorted(imported_modules(module_file(name)))
    files = {module_file(name).relative_to(ROOT) for name in seen}
    return {f for f in files if not (f.name == "__init__.py" and _docstring_only(ROOT / f))}


def _docstring_only(path: Path) -> bool:
    """A package ``__init__`` with nothing but a docstring carries no behaviour."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def stage_commands() -> dict[str, tuple[str, list[str]]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        match = re.search(r"python -m ([\w.]+)", stage["cmd"])
        assert match, f"stage {name}: cmd is not `python -m <module>`"
        out[name] = (match.group(1), [str(d) for d in stage.get("deps", [])])
    return out


@pytest.mark.parametrize("stage", sorted(stage_commands()))
def test_stage_deps_cover_its_imports(stage):
    module, deps = stage_commands()[stage]
    deps = [d.rstrip("/") for d in deps if "${" not in d or d.startswith(("stages", "pipelines", "sastnet"))]

    def covered(path: Path) -> bool:
        return any(str(path) == d or str(path).startswith(d + "/") for d in deps)

    missing = sorted(str(f) for f in closure(module) if not covered(f))
    assert not missing, f"dvc.yaml stage {stage!r} imports files its deps miss: {missing}"


def test_closure_follows_function_level_imports(tmp_path):
    # the stage -> pipeline -> sastnet chain of the train stage reaches the loader's helpers
    files = {str(f) for f in closure("stages.train")}
    assert "pipelines/train/loop.py" in files
    assert "sastnet/crop.py" in files


@pytest.mark.parametrize("stage", sorted(stage_commands()))
def test_stage_code_deps_exist(stage):
    """A code dependency that no longer exists makes `dvc repro` fail at that stage."""
    _, deps = stage_commands()[stage]
    code = [d for d in deps if d.startswith(("stages/", "pipelines/", "sastnet/")) and "${" not in d]
    missing = [d for d in code if not (ROOT / d).exists()]
    assert not missing, f"dvc.yaml stage {stage!r} depends on files that do not exist: {missing}"


# Stages whose outputs the default and full profiles share: switching profiles (README,
# "Profiles") must not redo them. Their params must read the same values in both files.
SHARED_DATA_STAGES = ("whisper_convert", "corpus", "codecs", "resynthesize", "fingerprint", "vad")


def stage_param_values(stage: dict, params: dict) -> dict[str, object]:
    """The values of ``params`` a dvc.yaml stage depends on: dotted keys, whole sections, or
    ``{params.yaml: null}`` (the whole file)."""
    values: dict[str, object] = {}
    for entry in stage.get("params", []):
        keys = [entry] if isinstance(entry, str) else [
            key for file, listed in entry.items() for key in (listed or [f"<{file}>"])]
        for key in keys:
            node: object = params
            if not key.startswith("<"):
                for part in key.split("."):
                    node = node.get(part) if isinstance(node, dict) else None
            values[key] = node
    return values


@pytest.mark.parametrize("stage", SHARED_DATA_STAGES)
def test_switching_default_to_full_keeps_the_data_stages(stage):
    definition = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    default, full = (yaml.safe_load((ROOT / "profiles" / f"{name}.yaml").read_text())
                     for name in ("default", "full"))
    mine, theirs = stage_param_values(definition, default), stage_param_values(definition, full)
    changed = sorted(k for k in mine if mine[k] != theirs[k])
    assert not changed, f"stage {stage!r} reruns after `sastnet profile full`: params {changed}"


def test_a_whole_section_param_sees_the_profile_name():
    # what the test above guards against: resynthesize listed all of `common` (profile included)
    stage = {"params": ["common", "corpus.source"]}
    a = stage_param_values(stage, {"common": {"profile": "default"}, "corpus": {"source": "x"}})
    b = stage_param_values(stage, {"common": {"profile": "full"}, "corpus": {"source": "x"}})
    assert a["corpus.source"] == b["corpus.source"] == "x" and a["common"] != b["common"]
    assert stage_param_values({"params": [{"params.yaml": None}]}, {"a": 1}) == {"<params.yaml>": {"a": 1}}
