"""DVC never loses finished work to a params error, and cached reports come back with
``dvc checkout`` (issue 20). Real DVC, real stages, in a copy of the repository."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from repo_copy import _copy_repo  # one copy of the repo-copy helper

ROOT = Path(__file__).resolve().parents[1]


def test_check_params_is_first_and_covers_every_section():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    check = stages.pop("check_params")
    assert check["params"] == [{"params.yaml": None}]  # the whole file, every section
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in check["outs"]]
    assert "reports/params.ok" in outs
    for name, stage in stages.items():
        assert "reports/params.ok" in stage["deps"], f"stage {name} does not wait for check_params"
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind, []):
                if isinstance(out, dict):
                    (path, flags), = out.items()
                    assert flags.get("cache", True), f"{name}: {path} is not cached"


def test_check_params_marker_is_the_same_bytes_for_any_valid_params(tmp_path, monkeypatch):
    from stages import check_params

    markers = []
    for seed in (1, 2):
        params = tmp_path / f"p{seed}.yaml"
        params.write_text(yaml.safe_dump({"common": {"seed": seed, "reports_dir": str(tmp_path / f"r{seed}")}}))
        check_params.main(params)
        markers.append((tmp_path / f"r{seed}" / "params.ok").read_bytes())
    assert markers[0] == markers[1]
    bad = tmp_path / "bad.yaml"
    bad.write_text("vad: {threshold: 2.0}\n")
    with pytest.raises(SystemExit, match="vad.threshold"):
        check_params.main(bad)


def _tree(*folders: Path) -> dict[str, str]:
    """Every file's hash, but the timing records (``reports/timings/``: each stage process
    rewrites its own, a failed one included, like ``reports/stage_times.json``)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders for p in sorted(folder.rglob("*"))
            if p.is_file() and "timings" not in p.relative_to(folder).parts}


@pytest.mark.slow
def test_a_params_error_on_rerun_leaves_outputs_and_reports_as_they_were(tmp_path):
    repo = tmp_path / "repo"
    _copy_repo(repo)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(repo), "RAY_AUTH_MODE": "disabled"}

    def dvc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["dvc", *args], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=900, check=False)

    first = dvc("repro", "whisper_convert")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    outputs = (repo / "reports", repo / "data" / "whisper")
    before = _tree(*outputs)
    assert str(repo / "reports" / "whisper_convert.json") in before

    good = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(good.replace("  data_dir: data\n", "  data_dir: 5\n"))
    broken = dvc("repro", "whisper_convert")  # whisper_convert's own params changed
    assert broken.returncode != 0
    assert "common.data_dir: expected a string" in broken.stderr, broken.stderr[-3000:]
    assert "Running stage 'whisper_convert'" not in broken.stdout
    assert _tree(*outputs) == before

    (repo / "params.yaml").write_text(good)
    fixed = dvc("repro", "whisper_convert")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert "Running stage 'whisper_convert'" not in fixed.stdout  # same marker: nothing reran

    # a report removed by a failed run (DVC deletes a stage's outputs before running it)
    (repo / "reports" / "whisper_convert.json").unlink()
    restored = dvc("checkout", "whisper_convert")
    assert restored.returncode == 0, restored.stderr
    assert _tree(*outputs) == before
