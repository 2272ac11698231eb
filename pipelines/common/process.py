"""Stage processes: one copy per stage and checkout, and none left behind when DVC dies.

Every stage command (and the Ray jobs DVC runs) wraps its ``main`` like this::

    if __name__ == "__main__":
        with stage_process("shard"):
            main()

Why both halves exist (issue 20):

* **Lock.** DVC releases its repository lock while a stage's command runs and drops the
  per-stage lock of a DVC process that has died, so an orphaned stage and a second
  ``dvc repro`` could run the same stage side by side, writing the same outputs. The stage
  takes an exclusive ``flock`` on ``.dvc/tmp/stage-locks/<stage>.lock`` (``data/.locks/`` in a
  checkout without ``.dvc/``); the kernel drops it when the process dies, so a crash never
  leaves a stale lock. A second copy stops at once with the holder's pid.
* **Parent death.** Under DVC (``DVC_STAGE`` is set) the stage lives only as long as the
  ``dvc`` process that started it: Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``)
  plus a watcher thread that follows the parent chain through a wrapping shell. When DVC is
  gone the stage exits like on SIGTERM (``finally`` blocks run, and ``ray.shutdown()`` stops
  a local Ray even where the stage's own code has no ``finally`` for it), and whatever it
  started that is still alive after a grace period (Ray's workers and agents, process pools)
  is killed. Outside DVC nothing is watched, so
  ``nohup python -m stages.features &`` keeps running after its shell exits.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil

from pipelines.common import timing

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "fish", "ksh"})
GRACE_S = 5.0  # time a stage gets to stop its workers before they are killed
POLL_S = 0.5  # how often the watcher checks that the parent chain is alive
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
MAX_SLUG = 120  # lock file names stay far below NAME_MAX (255 bytes)


class StageBusyError(RuntimeError):
    """Another process holds this stage's lock in this checkout."""


def lock_path(name: str, root: str | Path | None = None) -> Path:
    """Where the lock of stage ``name`` lives for the checkout at ``root`` (default: DVC's root
    or the working directory)."""
    root = Path(root or os.environ.get("DVC_ROOT") or Path.cwd())
    folder = root / ".dvc" / "tmp" / "stage-locks" if (root / ".dvc").is_dir() else root / "data" / ".locks"
    return folder / (stage_slug(name) + ".lock")


def stage_slug(name: str) -> str:
    """A file name for stage ``name`` (its lock, its timing record)."""
    slug = re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("_")
    if len(slug) > MAX_SLUG:  # long arguments (paths): a readable head + a digest of the whole
        slug = slug[:MAX_SLUG - 17] + "-" + hashlib.sha256(name.encode()).hexdigest()[:16]
    return slug


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (ValueError, UnicodeDecodeError):
        return "another process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    return f"pid {info.get('pid', '?')}, since {since}: {info.get('cmd', '?')}"


@contextmanager
def stage_lock(name: str, root: str | Path | None = None) -> Iterator[Path]:
    """Hold the exclusive lock of stage ``name`` for the block, or raise ``StageBusyError``."""
    path = lock_path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StageBusyError(
                f"stage {name!r} is already running in this checkout ({_holder(fd)}). Wait for "
                f"it to finish, or stop it (kill <pid>) and rerun; the lock ({path}) is released "
                "when that process exits.") from None
        info = {"pid": os.getpid(), "started": time.time(), "cmd": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        yield path
    finally:
        os.close(fd)  # releases the flock; the file stays (unlinking it would race a waiter)


def parent_chain(pid: int | None = None) -> list[psutil.Process]:
    """The process's parent and, while that parent is a shell (``sh -c``), its parents too:
    the processes whose death means nobody waits for this one any more."""
    chain: list[psutil.Process] = []
    proc = psutil.Process(pid or os.getpid())
    try:
        while (parent := proc.parent()) is not None and parent.pid != 1:
            chain.append(parent)
            if parent.name() not in SHELLS:
                break
            proc = parent
    except psutil.NoSuchProcess:  # a parent exited while we looked: the chain ends there
        pass
    return chain


def gone_from(chain: list[psutil.Process]) -> list[int]:
    """The pids of ``chain`` that exited (or whose pid now names another process).

    ``Process.is_running`` tells a recycled pid by the start time counted from boot: the
    wall-clock ``create_time()`` moves with ``/proc/stat``'s ``btime`` when the clock is
    adjusted, which once stopped a healthy stage as if ``dvc repro`` had died (CI, stop 25).
    """
    return [proc.pid for proc in chain if not proc.is_running()]


def kill_descendants(grace_s: float = GRACE_S) -> int:
    """SIGTERM every descendant of this process, SIGKILL those alive after ``grace_s``;
    returns how many there were."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace_s)
    return len(children)


def exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Pool initializer: a worker whose parent died (a killed stage) exits instead of working on."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def _stop(name: str, reason: str) -> None:
    """Ask the main thread to exit (SIGTERM -> SystemExit, ``finally`` blocks run); if it has
    not within ``GRACE_S``, kill everything this process started and exit."""
    print(f"{name}: {reason}; stopping this stage and the workers it started", file=sys.stderr,
          flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    kill_descendants(grace_s=1.0)
    os._exit(128 + signal.SIGTERM)


def watch_parent(name: str, chain: list[psutil.Process]) -> threading.Thread:
    """Start a daemon thread that stops this process when any process of ``chain`` is gone."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            gone, ppid = gone_from(chain), os.getppid()
            if gone or ppid != parent:
                what = (f"parent process {gone[0]} exited" if gone
                        else f"parent process {parent} exited (now a child of {ppid})")
                _stop(name, f"{what} (was `dvc repro` killed?)")
                return
            time.sleep(POLL_S)

    thread = threading.Thread(target=watch, name=f"{name}-parent-watch", daemon=True)
    thread.start()
    return thread


def _shutdown_ray() -> None:
    """``ray.shutdown()`` if this process started or joined Ray (stops a local Ray's processes)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        with timing.phase(timing.RAY_STOP):
            ray.shutdown()


def _close_timing(root: str | Path | None):
    def close(kind, value, _tb) -> bool:
        ok = kind is None or (kind is SystemExit and value.code in (None, 0))
        timing.close_record("ok" if ok else "failed", root)
        return False  # never swallows the exception

    return close


def sigterm_exits(signum, _frame) -> None:
    """SIGTERM handler: exit like ``sys.exit(128 + signum)``, so ``finally`` blocks run."""
    raise SystemExit(128 + signum)


@contextmanager
def stage_process(stage: str, argv: list[str] | None = None, *, root: str | Path | None = None,
                  die_with_parent: bool | None = None) -> Iterator[str]:
    """Run a stage's body under its lock, tied to its DVC parent, reaping what it started.

    Args:
        stage: the stage's name; with ``argv`` (default ``sys.argv[1:]``) it names the lock,
            so ``train --task aux --variant sastnet`` and ``--variant m_mae`` are two stages.
        root: the checkout (default: ``DVC_ROOT`` or the working directory).
        die_with_parent: default: only under DVC (``DVC_STAGE`` set).

    Yields the lock name. A second copy exits with a message naming the holder.
    """
    name = " ".join([stage, *(sys.argv[1:] if argv is None else argv)])
    if die_with_parent is None:
        die_with_parent = bool(os.environ.get("DVC_STAGE"))
    with ExitStack() as stack:
        try:
            stack.enter_context(stage_lock(name, root))
        except StageBusyError as err:
            raise SystemExit(f"error: {err}") from None
        if die_with_parent or os.environ.get("SASTNET_TIMINGS_DIR"):
            # where the stage's time went (pipelines.common.timing); written last, after the
            # workers are gone, before the lock is released
            timing.open_record(name, stage_slug(name))
            stack.push(_close_timing(root))
        stack.callback(kill_descendants)  # runs before the lock is released
        stack.callback(_shutdown_ray)  # runs first: a local Ray stops its own processes
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, sigterm_exits)
        if die_with_parent:
            _set_parent_death_signal(signal.SIGTERM)
            if os.getppid() == 1:  # dvc died while this process was still importing
                raise SystemExit(f"error: {stage}: its `dvc repro` exited before the stage "
                                 "started (was it killed?); not running orphaned")
            watch_parent(stage, parent_chain())
        yield name
