"""``python -m pipelines.tracking.ui serve`` stops every process of ``mlflow ui`` (issue 39).

A real ``mlflow ui`` on a real SQLite store: the test waits for HTTP 200, signals the ``serve``
process, and reads the process table: no process of the server's group or tree is left, not
even a zombie. SIGTERM comes once the job runner's Huey consumers run; SIGINT comes at the first
200, while they may still be starting (the case where a plain ``mlflow ui`` left them orphaned
with the ``mlflow`` command still up); on a loaded machine some of them may then outlast the
grace period and be SIGKILLed, which is what ``serve`` is for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient

from pipelines.tracking.ui_server import free_port

REPO = Path(__file__).resolve().parents[2]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status
    except OSError:
        return None


def _group(pgid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                found.append(proc)
        except (OSError, psutil.Error):
            pass
    return found


def _cmd(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:  # gone, or a zombie
        return ""


def _seen(wrapper: psutil.Process, seen: dict[int, psutil.Process]) -> None:
    try:
        seen.update((p.pid, p) for p in wrapper.children(recursive=True))
    except psutil.Error:
        pass


@pytest.mark.slow  # an MLflow server's start: 10-60 s on a loaded 2-core machine
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_serve_stops_every_process_it_started(tmp_path, sig):
    store = tmp_path / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{store}").create_experiment("sastnet")
    port = free_port()
    with open(tmp_path / "serve.log", "w") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "pipelines.tracking.ui", "serve", "--store", str(store),
             "--port", str(port)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # the test's own signals never reach it
    wrapper, seen = psutil.Process(serve.pid), {}
    try:
        deadline = time.monotonic() + 240
        while _status(f"http://127.0.0.1:{port}/") != 200:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "mlflow ui gave no HTTP 200 in 240 s"
            _seen(wrapper, seen)
            time.sleep(0.3)
        _seen(wrapper, seen)
        if sig == signal.SIGTERM:  # the whole tree is up: uvicorn and the Huey consumers
            while time.monotonic() < deadline and not any(
                    "huey_consumer" in _cmd(p) for p in seen.values()):
                _seen(wrapper, seen)
                time.sleep(0.3)
            # and serve itself has seen it up (it polls on its own; on a loaded machine the
            # test's HTTP 200 can come first, and a signal then counts as one during start-up)
            while time.monotonic() < deadline and "mlflow ui on" not in (
                    tmp_path / "serve.log").read_text():
                time.sleep(0.3)
        mlflow_cmd = [p for p in wrapper.children() if " mlflow ui " in _cmd(p)]
        assert len(mlflow_cmd) == 1, [_cmd(p) for p in wrapper.children()]
        pgid = mlflow_cmd[0].pid
        assert any("uvicorn" in _cmd(p) for p in seen.values())

        serve.send_signal(sig)
        assert serve.wait(timeout=120) == 0, (tmp_path / "serve.log").read_text()
    finally:
        if serve.poll() is None:
            serve.kill()
    left = {p.pid: p for p in [*seen.values(), *_group(pgid)] if p.is_running()}  # zombies too
    assert not left, [(p.pid, _cmd(p) or "a zombie") for p in left.values()]
    assert _status(f"http://127.0.0.1:{port}/") is None
    text = (tmp_path / "serve.log").read_text()
    assert "mlflow ui stopped" in text
    if sig == signal.SIGTERM:  # waited for above; a SIGINT during start-up may come before it
        assert f"mlflow ui on http://127.0.0.1:{port}" in text
    if sig == signal.SIGTERM:  # a server that is up stops on the signal alone, no SIGKILL
        assert "killed after" not in text, text
