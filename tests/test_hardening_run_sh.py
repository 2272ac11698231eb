"""Before ``dvc repro`` starts (issue 39): a wrong type in a params key that ``dvc.yaml``
templates is named (DVC expands the templates before any stage runs, and failed there with
"'Value' object is not iterable", naming no key), and DVC sends no usage analytics.

``scripts/run.sh`` runs in a copy of the checkout whose ``.venv/bin`` holds the real ``sastnet``
and ``dvc`` and a stand-in ``python`` that only records that the stage clock (``dvc repro``)
was started.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.params import ParamsError, load_params

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEMPLATED = sorted(set(re.findall(r"\$\{((?!item\.)[\w.]+)\}", (ROOT / "dvc.yaml").read_text())))


def _params(**changes) -> dict:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in changes.items():
        section, name = key.split(".")
        data[section][name] = value
    return data


def _wrong_type(value):
    return "abc" if isinstance(value, list) else [value]


def test_dvc_yaml_templates_the_keys_this_test_covers():
    assert {"train.seeds", "train.tasks", "train.variants", "train.baseline_variant"} <= set(TEMPLATED)


@pytest.mark.parametrize("key", TEMPLATED)
def test_a_wrong_type_in_a_templated_key_is_named(tmp_path, key):
    section, name = key.split(".")
    value = _wrong_type(_params()[section][name])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(_params(**{key: value})))
    result = CliRunner().invoke(app, ["check-params", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}: {key}" in result.output, result.output
    assert "Traceback" not in result.output


def test_an_unknown_section_names_the_file_once(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({**_params(), "trian": {}}))
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert str(err.value).startswith(f"{path}: unknown section(s) trian")
    assert str(err.value).count(f"{path}:") == 1


def _checkout(tmp_path: Path, with_dvc: bool) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "run.sh", repo / "scripts" / "run.sh")
    (repo / "scripts" / "setup.sh").write_text("exit 0\n")  # set-up done
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    venv = repo / ".venv" / "bin"
    venv.mkdir(parents=True)
    for tool in ("sastnet", "dvc"):
        (venv / tool).symlink_to(BIN / tool)
    (venv / "python").write_text('#!/usr/bin/env bash\necho "$@" > started.txt\n')
    (venv / "python").chmod(0o755)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    if with_dvc:
        shutil.copytree(ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns(
            "cache", "tmp", "config.local"))
    return repo


def _run(repo: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_NO_ANALYTICS", "DVC_TEST")}
    return subprocess.run(["bash", "scripts/run.sh", "--dry"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_run_sh_names_a_bad_templated_key_before_dvc_starts(tmp_path):
    repo = _checkout(tmp_path, with_dvc=True)
    (repo / "params.yaml").write_text(yaml.safe_dump(_params(**{"train.seeds": "abc"})))
    proc = _run(repo)
    assert proc.returncode != 0
    assert "train.seeds: expected a list, got str 'abc'" in proc.stderr, proc.stderr
    assert not (repo / "started.txt").exists(), "dvc repro started on invalid params"

    (repo / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    proc = _run(repo)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "started.txt").read_text().split() == ["-m", "pipelines.repro",
                                                          "--dry"]


def _analytics_enabled(repo: Path) -> bool:
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_NO_ANALYTICS", "DVC_TEST")}
    code = "from dvc.analytics import is_enabled; print(is_enabled())"
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    return out.stdout.strip() == "True"


def test_dvc_analytics_are_off_in_a_clone_and_after_run_sh_inits_dvc(tmp_path):
    assert not _analytics_enabled(ROOT)  # the committed .dvc/config
    repo = _checkout(tmp_path, with_dvc=False)
    proc = _run(repo)
    assert proc.returncode == 0, proc.stderr
    assert (repo / ".dvc").is_dir() and not _analytics_enabled(repo)
