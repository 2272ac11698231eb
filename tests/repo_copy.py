"""Helpers of the slow tests that run DVC in a copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _copy_repo(dest: Path) -> None:
    """The working tree as git sees it (tracked + untracked, not ignored), as a fresh git repo."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)


def _env(repo: Path) -> dict:
    """The environment of a stage run in ``repo``: this venv, its own MLflow store and Ray."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(repo)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    return env


def _run(cmd: list[str], cwd: Path, env: dict, timeout: float = 2400) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                         check=False)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}"
    return out.stdout
