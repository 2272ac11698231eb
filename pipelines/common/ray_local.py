"""Start a local Ray that survives a busy machine, or join the one Ray of a whole run.

``ray.init`` gives a fresh local node 30 s (hard-coded in Ray) to register with its GCS; on a
loaded machine (other jobs on every core) that start can time out, and the stage fails
before any work. The start is retried a few times; any other error is raised at once.

Every Ray started here is a node on 127.0.0.1: Ray binds its GCS, raylet, agents and workers to
all interfaces unless the node's address is loopback (issue 39: a stage's own Ray listened on
0.0.0.0), and with token authentication on its token file is this user's only (0600).

``shared_ray`` starts one local Ray on 127.0.0.1 for every command run inside it
(``scripts/run.sh`` runs ``dvc repro`` so): the stages join it through ``RAY_ADDRESS`` instead
of starting and stopping a Ray each (issue 33). A stage run by hand, with no ``RAY_ADDRESS``,
still starts its own.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray

from pipelines.common import timing
from pipelines.common.determinism import pin_numeric_env

log = logging.getLogger(__name__)

SHARED_ENV = "SASTNET_SHARED_RAY"  # set by shared_ray for the commands it runs: the address
REMOTE_ENV = "SASTNET_RAY_REMOTE"  # "1": joining a Ray on another machine is meant
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray keeps 127.0.0.1 (_loopback_node)


class RayAddressError(RuntimeError):
    """A run under the shared Ray was pointed at a Ray on another machine."""


def is_loopback(address: str) -> bool:
    """True when ``address`` (``host:port``, ``ray://host:port``, ``local``, ``auto``) names a
    Ray on this machine's loopback interface."""
    if address in ("local", "auto"):
        return True
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: what it resolves to
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


def remote_meant(address: str) -> bool:
    """True when ``address`` is on this machine, or ``SASTNET_RAY_REMOTE=1`` says another
    machine's Ray is meant."""
    return is_loopback(address) or os.environ.get(REMOTE_ENV) == "1"


def check_shared_address(address: str) -> None:
    """Under the shared Ray (``SASTNET_SHARED_RAY`` set), refuse an address off this machine
    unless ``SASTNET_RAY_REMOTE=1`` says it is meant."""
    if os.environ.get(SHARED_ENV) and not remote_meant(address):
        raise RayAddressError(
            f"RAY_ADDRESS={address} is not on this machine, but this command runs under the "
            f"run's own local Ray ({os.environ[SHARED_ENV]}); a run joins another machine's "
            f"Ray only on purpose: set {REMOTE_ENV}=1 to join it, or unset RAY_ADDRESS")


@contextmanager
def _keeping_sigterm() -> Iterator[None]:
    """``ray.init`` installs its own SIGTERM handler (it logs "SIGTERM received" and exits),
    over any Python one: a ``kill`` of ``pipelines.repro`` then left ``dvc`` and its stage running
    and Ray's agents orphaned. The Python handler set before (``sigterm_exits``: ``finally``
    blocks run) is put back."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if callable(before):
            signal.signal(signal.SIGTERM, before)


def token_auth_on() -> bool:
    """Whether a new local Ray authenticates with a token: ``RAY_AUTH_MODE=token``, or unset
    (Ray turns token authentication on for a new local Ray since 2.59)."""
    return os.environ.get("RAY_AUTH_MODE", "token").lower() == "token"


def private_token_file() -> Path | None:
    """The token file a new local Ray will use, readable by this user only; None when there is
    none (authentication off, or the token given in ``RAY_AUTH_TOKEN``).

    Ray writes the token it generates (``~/.ray/auth_token``) with the umask's mode, 0644 on
    most machines: any local user could read it and run code on the Ray (issue 39). So it is
    made here first, 0600, with what Ray's own generator writes (256 random bits, hex); an
    existing file open to others is narrowed to 0600, with a warning.
    """
    if not token_auth_on() or os.environ.get("RAY_AUTH_TOKEN"):
        return None
    given = os.environ.get("RAY_AUTH_TOKEN_PATH")
    path = Path(given) if given else Path.home() / ".ray" / "auth_token"
    if not path.exists() and not given:  # a missing RAY_AUTH_TOKEN_PATH: Ray names it
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another stage made it meanwhile
            pass
        else:
            with os.fdopen(fd, "w") as stream:
                stream.write(secrets.token_hex(32))
    if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("%s (the Ray token) was readable by other users: now 0600", path)
        os.chmod(path, 0o600)
    return path


def init_local_ray(attempts: int = 3, **kwargs) -> None:
    """``ray.init(address="local", **kwargs)``: a new local node of this process's own on
    127.0.0.1 (nothing of it listens on another interface), retried when the node times out
    starting. Its token file, if it uses one, is 0600 (``private_token_file``).

    ``address="local"``: a plain ``ray.init()`` joins the cluster that the last ``ray start`` on
    this machine recorded (``/tmp/ray/ray_current_cluster``), whoever started it: a second
    pipeline's stages or a test's cluster, which may stop under the stage (a busy run of the
    default died so: "Owner's node has crashed"). A cluster is joined only when asked, through
    ``RAY_ADDRESS`` (``ray job submit`` sets it for its entrypoint).
    """
    kwargs.setdefault("_node_ip_address", "127.0.0.1")
    private_token_file()
    for attempt in range(1, attempts + 1):
        try:
            with _keeping_sigterm(), _loopback_node():
                ray.init(address="local", **kwargs)
            return
        except Exception as err:  # Ray raises a bare Exception for this
            if "timed out during startup" not in str(err) or attempt == attempts:
                raise
            log.warning("local Ray did not start in time (attempt %d of %d, machine busy?): "
                        "retrying", attempt, attempts)
            ray.shutdown()
            time.sleep(5 * attempt)


def connect_or_start_ray(address: str | None = None, *, log_to_driver: bool = True,
                         runtime_env: dict | None = None, **local_kwargs) -> bool:
    """Join the cluster at ``address`` (default: ``RAY_ADDRESS``, which ``ray job submit`` sets
    for its entrypoint and ``shared_ray`` for a whole run), else start a local Ray of this
    process's own (``init_local_ray`` with ``local_kwargs``). Does nothing when Ray is already
    up. ``runtime_env`` is this job's either way (a joined Ray's workers get it too).

    Returns:
        True when this call connected or started Ray (the caller then shuts it down).
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    with timing.phase(timing.RAY_START):
        if address:
            check_shared_address(address)
            with _keeping_sigterm():
                ray.init(address=address, log_to_driver=log_to_driver, runtime_env=runtime_env)
        else:
            init_local_ray(log_to_driver=log_to_driver, runtime_env=runtime_env, **local_kwargs)
    return True


@contextmanager
def _loopback_node() -> Iterator[None]:
    """Let a local start keep 127.0.0.1 as its node address. Ray turns a loopback
    ``_node_ip_address`` into the machine's routable IP, except where it runs without cluster
    support (its ``ENABLE_RAY_CLUSTER``, read at call time, meant for macOS and Windows): off
    for the start, so the node, its GCS address and every stage's ``RAY_ADDRESS`` are loopback,
    and Ray's servers bind to 127.0.0.1 (they bind to every interface on any other node
    address)."""
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


@contextmanager
def shared_ray(num_cpus: int | None = None) -> Iterator[str | None]:
    """One local Ray on 127.0.0.1 for the block: ``RAY_ADDRESS`` and ``SASTNET_SHARED_RAY``
    name it to every process started inside (the stages of a ``dvc repro``), and it stops when
    the block ends, on an error or Ctrl-C too. Yields its GCS address.

    A ``RAY_ADDRESS`` already set is used as it is (nothing is started; yields it) when it is on
    this machine or ``SASTNET_RAY_REMOTE=1``; otherwise ``RayAddressError``. ``SASTNET_SHARED_RAY=0``
    turns the shared Ray off (every stage starts its own, as when run by hand; yields None).
    """
    if os.environ.get(SHARED_ENV) == "0":
        yield None
        return
    given = os.environ.get("RAY_ADDRESS")
    if given:
        if not remote_meant(given):
            raise RayAddressError(
                f"RAY_ADDRESS={given} is not on this machine: set {REMOTE_ENV}=1 to run the "
                "pipeline on that Ray on purpose, or unset RAY_ADDRESS for a local one")
        yield given
        return
    saved = {k: os.environ.get(k) for k in ("RAY_ADDRESS", SHARED_ENV, LOOPBACK_ENV)}
    pin_numeric_env()  # before the node starts: its workers inherit the numeric environment
    with timing.phase(timing.RAY_START):
        init_local_ray(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        os.environ["RAY_ADDRESS"] = os.environ[SHARED_ENV] = address
        # a process joining a loopback node must see itself on loopback too (else it looks
        # for its raylet on the machine's routable IP and waits forever)
        os.environ[LOOPBACK_ENV] = "0"
        log.info("shared local Ray at %s", address)
        yield address
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutdown_ray()


def shutdown_ray() -> None:
    """``ray.shutdown()``, timed (``pipelines.common.timing``)."""
    with timing.phase(timing.RAY_STOP):
        ray.shutdown()
