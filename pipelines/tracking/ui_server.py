"""Start ``mlflow ui`` and stop it with everything it started.

    python -m pipelines.tracking.ui serve --store mlflow.db     # http://127.0.0.1:5000, Ctrl-C stops it
    python -m pipelines.tracking.ui serve --port 5001 &          # `kill %1` (SIGTERM) stops it

Why not plain ``mlflow ui`` (issue 39): it is a tree of processes (the ``mlflow`` command,
uvicorn's supervisor and workers, multiprocessing's resource tracker, MLflow 3's job runner and
one Huey consumer per job queue). The ``mlflow`` command forwards SIGTERM and SIGINT to uvicorn
only; the job runner finds out that the server is gone by polling, and a signal that comes while
it is still starting its consumers leaves them running as orphans, with the ``mlflow`` command
itself still up. ``serve`` starts the tree in its own session (so its own process group),
forwards SIGTERM, SIGINT and SIGHUP to the whole group, SIGKILLs whatever is still alive after
``--grace-s`` (a second Ctrl-C: at once) and reaps every process: it is the tree's child
subreaper, so orphans come back to it instead of to init. If ``serve`` itself is SIGKILLed, the
``mlflow`` command gets SIGTERM (Linux's parent-death signal) and stops uvicorn.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

from pipelines.common.process import _set_parent_death_signal

GRACE_S = 15.0  # uvicorn lets open requests finish; the Huey consumers stop within a second
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def mlflow_ui_command(store: str | Path, host: str, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
            f"sqlite:///{Path(store).resolve()}", "--host", host, "--port", str(port),
            "--workers", str(workers)]


def _child_setup() -> None:
    # runs in the child between fork and exec: SIGTERM when the process that started it dies
    _set_parent_death_signal(signal.SIGTERM)


def start_mlflow_ui(store: str | Path, *, host: str = "127.0.0.1", port: int = 5000,
                    workers: int = 1, env: dict[str, str] | None = None, log=None,
                    die_with_parent: bool = False) -> subprocess.Popen:
    """Start ``mlflow ui`` on the SQLite ``store`` in a new session: its process group's id is
    the returned process's pid.

    Args:
        log: a file for its output (default: this process's).
        die_with_parent: the ``mlflow`` command gets SIGTERM when this process dies. Only for
            a process with one thread: the setup runs between fork and exec.
    """
    return subprocess.Popen(mlflow_ui_command(store, host, port, workers), env=env,
                            stdout=log, stderr=subprocess.STDOUT if log else None,
                            start_new_session=True,
                            preexec_fn=_child_setup if die_with_parent else None)  # noqa: PLW1509


def wait_until_up(base: str, server: subprocess.Popen, timeout_s: float,
                  stop: Callable[[], bool] = lambda: False) -> bool:
    """Poll ``base``/health until it answers 200 (True); False when the server exited, ``stop()``
    became true or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    while server.poll() is None and not stop() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def tree(server: subprocess.Popen) -> list[psutil.Process]:
    """The processes of ``server``'s group plus its descendants, zombies left out."""
    found = {}
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(proc.pid) == server.pid:
                found[proc.pid] = proc
    with contextlib.suppress(psutil.Error):
        top = psutil.Process(server.pid)
        found.update((p.pid, p) for p in [top, *top.children(recursive=True)])
    return [p for p in found.values() if _running(p)]


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def reap(server: subprocess.Popen) -> None:
    """Collect this process's exited children other than ``server`` (the tree's orphans, when
    this process is their subreaper); ``server`` is Popen's to collect."""
    for child in psutil.Process().children():
        if child.pid != server.pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child.pid, os.WNOHANG)
    server.poll()


def stop_mlflow_ui(server: subprocess.Popen, *, sig: int = signal.SIGTERM,
                   grace_s: float = GRACE_S, hurry: Callable[[], bool] = lambda: False) -> list[str]:
    """Send ``sig`` to every process of ``server``'s tree, SIGKILL those alive after ``grace_s``
    (or as soon as ``hurry()``), wait until none runs; returns the command lines killed."""
    procs = tree(server)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, sig)
    for proc in procs:  # a descendant that left the group
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not hurry():
        reap(server)
        if not any(map(_running, procs)) and not tree(server):
            break
        time.sleep(0.2)
    killed = []
    for proc in {p.pid: p for p in [*procs, *tree(server)] if _running(p)}.values():
        with contextlib.suppress(psutil.Error):
            killed.append(" ".join(proc.cmdline())[:120])
            proc.kill()
    deadline = time.monotonic() + grace_s
    while (any(map(_running, procs)) or tree(server)) and time.monotonic() < deadline:
        reap(server)  # a SIGKILLed process is gone at once unless stuck in the kernel
        time.sleep(0.1)
    server.wait(timeout=grace_s)
    reap(server)
    return killed


@contextlib.contextmanager
def mlflow_ui(store: str | Path, *, timeout_s: float = 120.0) -> Iterator[str]:
    """Run ``mlflow ui`` on the SQLite ``store`` on a free local port; yields its base URL and
    stops its whole tree on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    log = Path(tempfile.mkdtemp(prefix="mlflow_ui_")) / "server.log"
    with open(log, "w") as out:
        server = start_mlflow_ui(store, port=port, env=env, log=out)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(base, server, timeout_s):
            raise RuntimeError(f"mlflow ui did not start on {base}; its log: {log}\n"
                               + log.read_text()[-2000:])
        yield base
    finally:
        stop_mlflow_ui(server)


def serve(store: Path, *, host: str = "127.0.0.1", port: int = 5000, workers: int = 1,
          grace_s: float = GRACE_S, start_timeout_s: float = 300.0) -> int:
    """Run ``mlflow ui`` on ``store`` until SIGTERM, SIGINT or SIGHUP, then stop its whole tree.

    Returns the exit code: 0 after a stop on request, 1 when the server stopped by itself or
    never came up (its own output, on this process's, says why).
    """
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    if sys.platform.startswith("linux"):  # orphans of the tree come back here to be reaped
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY",
                                                                    "true")}
    server = start_mlflow_ui(store, host=host, port=port, workers=workers, env=env,
                             die_with_parent=True)
    base = f"http://{host}:{port}"
    try:
        if wait_until_up(base, server, start_timeout_s, stop=lambda: bool(received)):
            print(f"mlflow ui on {base} (store {store}); Ctrl-C or `kill {os.getpid()}` stops it "
                  "and every process it started", flush=True)
            while server.poll() is None and not received:
                time.sleep(0.5)
                reap(server)
        elif not received:
            print(f"mlflow ui did not come up on {base} (its output is above)", file=sys.stderr)
    finally:
        sig = received[0] if received else signal.SIGTERM
        killed = stop_mlflow_ui(server, sig=sig, grace_s=grace_s,
                                hurry=lambda: len(received) > 1)
        for sig_, handler in previous.items():
            signal.signal(sig_, handler)
    if killed:
        print(f"killed after {grace_s:g} s: " + "; ".join(killed), file=sys.stderr)
    print("mlflow ui stopped", flush=True)
    return 0 if received else 1
