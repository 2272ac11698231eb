"""Stage processes: one copy per stage and checkout; killing ``dvc repro`` kills its stage and
everything the stage started (Ray, process pools) within 10 s. Real DVC, real Ray.

Only processes this test started are looked at and killed (found by ancestry, never by name).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipelines.common.process import StageBusyError, gone_from, lock_path, parent_chain, stage_lock

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(**extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{BIN}:{os.environ['PATH']}",
           "RAY_AUTH_MODE": "disabled", **extra}
    env.pop("RAY_ADDRESS", None)
    return env


def test_a_second_holder_of_a_stage_lock_is_refused_with_the_holders_pid(tmp_path):
    code = ("import sys, time\nfrom pipelines.common.process import stage_lock\n"
            "with stage_lock('vad', sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, env=_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (pytest.raises(StageBusyError, match=rf"'vad' is already running.*pid {holder.pid}"),
              stage_lock("vad", tmp_path)):
            pass
        with stage_lock("shard", tmp_path):  # another stage is free
            pass
    finally:
        holder.kill()
        holder.wait()
    with stage_lock("vad", tmp_path):  # released when its holder died
        pass
    assert lock_path("vad", tmp_path).parent == tmp_path / "data" / ".locks"
    (tmp_path / ".dvc").mkdir()
    assert lock_path("train --task aux", tmp_path).name == "train_--task_aux.lock"
    assert ".dvc/tmp/stage-locks" in str(lock_path("vad", tmp_path))


def test_the_parent_chain_goes_through_a_wrapping_shell():
    script = ("import json; from pipelines.common.process import parent_chain; "
              "print(json.dumps([p.pid for p in parent_chain()]))")
    out = subprocess.run(["sh", "-c", f"{sys.executable} -c '{script}'; true"],
                         capture_output=True, text=True, env=_env(), check=True)
    pids = json.loads(out.stdout)
    assert pids[-1] == os.getpid(), pids  # sh -c ... ; true keeps the shell: watched up to us
    if os.getppid() != 1:  # a daemonized test run (parent gone, adopted by init) has no chain
        assert parent_chain()[0].pid == os.getppid()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat btime is Linux's")
def test_a_clock_adjustment_does_not_make_a_live_parent_look_gone(monkeypatch):
    """The wall-clock start time of a process is boot time + ticks since boot, and the kernel's
    boot time (``btime``) moves when the clock is adjusted; the watcher must not read that as a
    recycled pid (a healthy CI stage was once stopped this way)."""
    from psutil import _pslinux

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        chain = parent_chain(child.pid)  # this process: alive throughout
        assert [p.pid for p in chain] == [os.getpid()] and not gone_from(chain)
        boot = _pslinux.boot_time()
        monkeypatch.setattr(_pslinux, "boot_time", lambda: boot + 1.0)
        assert not gone_from(chain)
    finally:
        child.kill()
        child.wait()


def _dvc_project(tmp_path: Path, seconds: float) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True, env=_env())
    (repo / "dvc.yaml").write_text(
        "stages:\n  long:\n"
        f"    cmd: python -m tests.pipelines.stage_with_workers state.json {seconds} && touch done\n"
        "    outs:\n      - done\n")
    return repo


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 120.0) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if path.exists() and path.read_text():
            return json.loads(path.read_text())
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.slow
def test_killing_dvc_repro_kills_its_stage_and_workers_and_a_second_copy_is_refused(tmp_path):
    repo = _dvc_project(tmp_path, 300)
    dvc = subprocess.Popen(["dvc", "repro"], cwd=repo, env=_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    started: list[psutil.Process] = []
    try:
        stage_pid = _wait_for(repo / "state.json", dvc)["pid"]
        started = psutil.Process(dvc.pid).children(recursive=True)
        names = " ".join(p.name() for p in started)
        assert stage_pid in {p.pid for p in started}
        assert "raylet" in names and "gcs_server" in names, names
        assert len(started) >= 5, names  # stage, raylet, gcs, Ray worker, pool child, ...

        # a second copy of the stage in this checkout (what an orphan + a rerun did) is refused
        second = subprocess.run([sys.executable, "-m", "tests.pipelines.stage_with_workers",
                                 "other.json", "1"], cwd=repo, env=_env(DVC_ROOT=str(repo)),
                                capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode != 0
        assert f"'stage_with_workers' is already running in this checkout (pid {stage_pid}" \
            in second.stderr, second.stderr
        assert not (repo / "other.json").exists()
        # and so is a second `dvc repro` of it
        again = subprocess.run(["dvc", "repro"], cwd=repo, env=_env(), capture_output=True,
                               text=True, timeout=120, check=False)
        assert again.returncode != 0 and "busy" in again.stdout + again.stderr

        dvc.send_signal(signal.SIGKILL)  # the harshest kill: DVC cleans up nothing
        dvc.wait()
        _, alive = psutil.wait_procs(started, timeout=10)
        assert not alive, f"alive 10 s after dvc was killed: {[(p.pid, p.name()) for p in alive]}"
    finally:  # on failure: kill what this test started, found by ancestry above
        if dvc.poll() is None:
            started += psutil.Process(dvc.pid).children(recursive=True)
            dvc.kill()
        for proc in started:
            try:
                proc.kill()
            except psutil.Error:
                pass


def test_a_stage_run_with_long_path_arguments_gets_a_short_distinct_lock_name(tmp_path):
    long_a = "features --params " + "/tmp/" + "x" * 300 + "/a/params.yaml"
    long_b = long_a.replace("/a/", "/b/")
    a, b = lock_path(long_a, tmp_path), lock_path(long_b, tmp_path)
    assert a != b and len(a.name) <= 130 and len(b.name) <= 130
    with stage_lock(long_a, tmp_path), stage_lock(long_b, tmp_path):
        pass  # both lockable side by side (distinct files, creatable names)
    assert lock_path("train --task aux", tmp_path).name == "train_--task_aux.lock"
