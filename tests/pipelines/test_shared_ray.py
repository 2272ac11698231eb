"""One Ray for a whole run (issue 33): ``scripts/run.sh`` runs ``dvc repro`` under one local
Ray on 127.0.0.1 that every stage joins; it stops when the run ends, fails or is interrupted;
a stage run by hand still starts its own; a run refuses a Ray on another machine unless asked.

Real DVC, real Ray. Only processes this test started are looked at (found by ancestry).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipelines.common.ray_local import (
    RayAddressError,
    check_shared_address,
    is_loopback,
    shared_ray,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(**extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{BIN}:{os.environ['PATH']}",
           "RAY_AUTH_MODE": "disabled", **extra}
    for key in ("RAY_ADDRESS", "SASTNET_SHARED_RAY", "SASTNET_RAY_REMOTE"):
        env.pop(key, None)
    return env


def test_loopback_addresses_are_told_from_other_machines():
    assert is_loopback("127.0.0.1:6379") and is_loopback("localhost:6379")
    assert is_loopback("ray://127.0.0.1:10001") and is_loopback("[::1]:6379")
    assert is_loopback("local") and is_loopback("auto")
    assert not is_loopback("10.1.2.3:6379") and not is_loopback("ray://192.168.0.7:10001")
    assert not is_loopback("no-such-host.invalid:6379")


def test_under_the_shared_ray_another_machines_address_is_refused_unless_meant(monkeypatch):
    for key in ("SASTNET_SHARED_RAY", "SASTNET_RAY_REMOTE"):
        monkeypatch.delenv(key, raising=False)
    check_shared_address("10.1.2.3:6379")  # a stage run by hand or by `ray job submit`: as asked
    monkeypatch.setenv("SASTNET_SHARED_RAY", "127.0.0.1:40000")
    check_shared_address("127.0.0.1:40000")
    with pytest.raises(RayAddressError, match="RAY_ADDRESS=10.1.2.3:6379 is not on this machine"
                       r".*SASTNET_RAY_REMOTE=1"):
        check_shared_address("10.1.2.3:6379")
    monkeypatch.setenv("SASTNET_RAY_REMOTE", "1")
    check_shared_address("10.1.2.3:6379")


def test_a_stage_under_the_shared_ray_refuses_another_machines_ray_before_joining(monkeypatch):
    import ray

    from pipelines.common.ray_local import connect_or_start_ray

    monkeypatch.setenv("SASTNET_SHARED_RAY", "127.0.0.1:40000")
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")  # e.g. changed by hand mid-run
    monkeypatch.delenv("SASTNET_RAY_REMOTE", raising=False)
    with pytest.raises(RayAddressError, match="not on this machine"):
        connect_or_start_ray()
    assert not ray.is_initialized()


def test_a_run_pointed_at_another_machines_ray_starts_nothing(monkeypatch):
    monkeypatch.delenv("SASTNET_SHARED_RAY", raising=False)
    monkeypatch.delenv("SASTNET_RAY_REMOTE", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    with pytest.raises(RayAddressError, match="set SASTNET_RAY_REMOTE=1"), shared_ray():
        pass
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # the user's own local cluster: used
    with shared_ray() as address:
        assert address == "127.0.0.1:6379"


def _project(tmp_path: Path, stages: list[tuple[str, float, int]]) -> Path:
    """A DVC project whose stages run ``tests.pipelines.stage_on_ray`` one after the other."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True, env=_env())
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")  # the clock reads its reports_dir
    lines, previous = ["stages:"], None
    for name, seconds, code in stages:
        lines += [f"  {name}:",
                  f"    cmd: python -m tests.pipelines.stage_on_ray {name}.json {seconds} {code}"
                  f" && touch {name}.done",
                  "    outs:", f"      - {name}.done"]
        if previous:
            lines += ["    deps:", f"      - {previous}.done"]
        previous = name
    (repo / "dvc.yaml").write_text("\n".join(lines) + "\n")
    return repo


def _default_sigint() -> None:
    """A terminal's Ctrl-C reaches a run whose SIGINT is not ignored; a test session started in
    the background of a non-interactive shell (``cmd &``) inherits SIGINT ignored, and so would
    the run (exec keeps ignored signals), which then never sees the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_run(repo: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipelines.repro"], cwd=repo,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, preexec_fn=_default_sigint)


def _follow(run: subprocess.Popen, seen: dict[int, psutil.Process], until: Path | None = None,
            timeout_s: float = 240.0) -> None:
    """Collect every descendant of ``run`` until ``until`` exists (or ``run`` exits)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and run.poll() is None:
        try:
            for child in psutil.Process(run.pid).children(recursive=True):
                if child.pid not in seen:
                    try:
                        child.info = {"name": child.name()}  # kept: it may exit before we look
                    except psutil.Error:
                        continue
                    seen[child.pid] = child
        except psutil.NoSuchProcess:
            return
        if until is not None and until.exists() and until.read_text():
            return
        time.sleep(0.2)


def _assert_all_gone(seen: dict[int, psutil.Process]) -> None:
    _, alive = psutil.wait_procs(list(seen.values()), timeout=10)
    assert not alive, f"alive 10 s after the run ended: {[(p.pid, p.info) for p in alive]}"


def _kill(seen: dict[int, psutil.Process], run: subprocess.Popen) -> None:
    if run.poll() is None:
        run.kill()
    for proc in seen.values():
        try:
            proc.kill()
        except psutil.Error:
            pass


@pytest.mark.slow
def test_every_stage_joins_one_loopback_ray_which_stops_when_dvc_fails(tmp_path):
    repo = _project(tmp_path, [("first", 0, 0), ("second", 0, 3)])
    run, seen = _start_run(repo), {}
    try:
        _follow(run, seen)
        out = run.communicate(timeout=240)[0]
        assert run.returncode != 0, out  # the second stage failed: so does the run
        first = json.loads((repo / "first.json").read_text())
        second = json.loads((repo / "second.json").read_text())
        assert first["gcs"] == second["gcs"] == first["shared"], (first, second)
        assert first["gcs"].startswith("127.0.0.1:")
        assert first["worker"]["PYTHONHASHSEED"] == "0"  # the numeric environment reached it
        names = " ".join(p.info["name"] for p in seen.values())
        assert "raylet" in names and "gcs_server" in names, names
        _assert_all_gone(seen)
        # both stages left their timing record (pipelines.common.timing)
        records = {json.loads(p.read_text())["dvc_stage"]: json.loads(p.read_text())
                   for p in (repo / "reports" / "timings" / "stages").glob("*.json")}
        assert records["first"]["status"] == "ok" and records["second"]["status"] == "failed"
        assert records["first"]["phases"]["ray_start"] > 0
    finally:
        _kill(seen, run)


@pytest.mark.slow
def test_ctrl_c_stops_the_run_and_its_ray_and_a_stage_by_hand_runs_alone(tmp_path):
    repo = _project(tmp_path, [("long", 300, 0)])
    run, seen = _start_run(repo), {}
    try:
        _follow(run, seen, until=repo / "long.json")
        shared = json.loads((repo / "long.json").read_text())["gcs"]
        # a stage started by hand meanwhile (no RAY_ADDRESS) starts a Ray of its own
        by_hand = subprocess.run([sys.executable, "-m", "tests.pipelines.stage_on_ray",
                                  str(tmp_path / "by_hand.json")], cwd=repo, env=_env(),
                                 capture_output=True, text=True, timeout=240)
        assert by_hand.returncode == 0, by_hand.stderr[-3000:]
        alone = json.loads((tmp_path / "by_hand.json").read_text())
        assert alone["gcs"] != shared and alone["shared"] is None
        _follow(run, seen, timeout_s=1)
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        run.communicate(timeout=120)
        assert run.returncode != 0
        _assert_all_gone(seen)
    finally:
        _kill(seen, run)
