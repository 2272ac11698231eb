"""What a Ray started by this project exposes (issue 39): nothing of it listens on an address
other than loopback, and its token file (token authentication on) is this user's only.

The sockets are read from the process table (``psutil`` ``net_connections`` of the Ray process
tree the stage started), not from a config: before the fix a stage's own Ray bound its GCS,
raylet and dashboard agent to 0.0.0.0 and Ray wrote ``~/.ray/auth_token`` 0644.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# A stage's Ray, started as the stages start it; a task runs (so a worker listens too), then
# the process waits for the test to look at its sockets.
CHILD = """
import json, os, sys, time
from pathlib import Path
import ray
from pipelines.common.determinism import ray_runtime_env
from pipelines.common.ray_local import connect_or_start_ray, shared_ray

def serve(state, stop):
    pid = ray.get(ray.remote(num_cpus=1)(lambda: os.getpid()).remote())
    state.write_text(json.dumps({"gcs": ray.get_runtime_context().gcs_address, "task": pid}))
    while not stop.exists():
        time.sleep(0.2)

state, stop = Path(sys.argv[2]), Path(sys.argv[3])
if sys.argv[1] == "shared":  # scripts/run.sh: one Ray for the whole dvc repro
    with shared_ray(num_cpus=1):
        serve(state, stop)
else:  # a stage run by hand (or a plain `dvc repro`): the training's own start
    connect_or_start_ray(runtime_env=ray_runtime_env(), num_cpus=1)
    serve(state, stop)
    ray.shutdown()
"""


def _listening(procs: list[psutil.Process]) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket of ``procs``."""
    out = []
    for proc in procs:
        try:
            name = proc.name()
            conns = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        out += [(name, c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    return out


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # gRPC lists ::ffff:127.0.0.1
    return (mapped or address).is_loopback


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("mode,auth", [("own", None), ("shared", "disabled")])
def test_a_stages_ray_listens_on_loopback_only_and_keeps_its_token_private(tmp_path, mode, auth):
    home, state, stop = tmp_path / "home", tmp_path / "state.json", tmp_path / "stop"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    for key in ("RAY_ADDRESS", "SASTNET_SHARED_RAY", "SASTNET_RAY_REMOTE", "RAY_AUTH_MODE",
                "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)
    if auth:
        env["RAY_AUTH_MODE"] = auth  # what scripts/run.sh sets unless told otherwise
    child = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(state), str(stop)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.time() + 240
        while not state.exists() and child.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        assert state.exists(), child.communicate(timeout=30)[0][-4000:]
        time.sleep(2)  # the agents finish starting
        procs = _tree(child.pid)
        seen.update((p.pid, p) for p in procs)
        listening = _listening(procs)
        names = {name for name, _, _ in listening}
        assert {"gcs_server", "raylet"} <= names, listening  # the check sees Ray's servers
        exposed = [s for s in listening if not _is_loopback(s[1])]
        assert not exposed, f"listening off loopback: {exposed}"
        assert json.loads(state.read_text())["gcs"].startswith("127.0.0.1:")

        token = home / ".ray" / "auth_token"
        if auth == "disabled":
            assert not token.exists()
        else:  # Ray turns token authentication on for a new local Ray when RAY_AUTH_MODE is unset
            assert token.is_file() and len(token.read_text().strip()) == 64
            assert stat.S_IMODE(token.stat().st_mode) == 0o600
        stop.touch()
        assert child.wait(timeout=120) == 0, child.communicate()[0][-4000:]
        _, alive = psutil.wait_procs(list(seen.values()), timeout=15)
        assert not alive, f"left running: {alive}"
    finally:
        stop.touch()
        if child.poll() is None:
            child.kill()
        for proc in seen.values():
            try:
                proc.kill()
            except psutil.Error:
                pass


def test_an_existing_token_open_to_others_is_narrowed(tmp_path, monkeypatch):
    from pipelines.common.ray_local import private_token_file

    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(key, raising=False)
    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("x" * 64)
    token.chmod(0o644)  # what `ray get-auth-token --generate` or an older Ray leaves
    assert private_token_file() == token
    assert stat.S_IMODE(token.stat().st_mode) == 0o600 and token.read_text() == "x" * 64
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert private_token_file() is None


def test_a_new_token_is_made_private(tmp_path, monkeypatch):
    from pipelines.common.ray_local import private_token_file

    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(key, raising=False)
    token = private_token_file()
    assert token == tmp_path / ".ray" / "auth_token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
    assert len(token.read_text()) == 64


def test_the_cluster_authenticates_every_node_with_the_users_token():
    """On a cluster Ray's servers listen on every interface of each node (Ray binds a node that
    is not 127.0.0.1 so): every node starts Ray with token authentication, from one token."""
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    for cmd in (c for c in starts if "ray start" in c):
        assert "RAY_AUTH_MODE=token" in cmd, cmd
    assert config["file_mounts"]["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"
