"""What a local 2-worker Ray Train training listens on, read from the process table (issue 39).

A real training of the toy model (``python -m pipelines.train --task aux --variant toy
--synthetic --workers 2``) on its own local Ray: every listening socket of its process tree is
on loopback except one, torch's rendezvous store (``TCPStore``) on rank 0, which listens on
every interface although the ranks reach it through 127.0.0.1 (Ray Train's ``MASTER_ADDR``).
torch binds that store to the wildcard address whatever the address it is given; only
``TCPStore(master_listen_fd=...)`` could change that, and neither torch's ``env://`` rendezvous
nor Ray Train's ``TorchConfig`` passes one (README "Security"). If this test fails because the
store moved to loopback, the exception is gone: update the README.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


@pytest.mark.slow  # a local Ray and a 2-worker training: ~2 min on 2 cores
def test_a_local_training_listens_on_loopback_except_torchs_rendezvous_store(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    for key in ("RAY_ADDRESS", "SASTNET_SHARED_RAY"):
        env.pop(key, None)
    with open(tmp_path / "train.log", "w") as log:
        train = subprocess.Popen(
            [sys.executable, "-m", "pipelines.train", "--task", "aux", "--variant", "toy",
             "--synthetic", "--workers", "2", "--epochs", "3",
             "--storage-path", str(tmp_path / "ray"), "--models-dir", str(tmp_path / "models")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    listening, peers, seen = {}, {}, {}
    try:
        deadline = time.monotonic() + 480
        while train.poll() is None and time.monotonic() < deadline:
            try:
                top = psutil.Process(train.pid)
                procs = [top, *top.children(recursive=True)]
            except psutil.Error:
                break
            for proc in procs:
                seen[proc.pid] = proc
                try:
                    name, conns = " ".join(proc.cmdline())[:60], proc.net_connections("inet")
                except psutil.Error:
                    continue
                for c in conns:
                    if c.status == psutil.CONN_LISTEN:
                        listening[(c.laddr.ip, c.laddr.port)] = name
                    elif c.status == psutil.CONN_ESTABLISHED and c.raddr:
                        peers.setdefault(c.raddr.port, set()).add(c.raddr.ip)
            time.sleep(0.3)
        assert train.wait(timeout=60) == 0, (tmp_path / "train.log").read_text()[-4000:]
    finally:
        if train.poll() is None:
            train.kill()
        for proc in seen.values():
            try:
                proc.kill()
            except psutil.Error:
                pass
    assert any("RayTrainWorker" in name for name in listening.values()), listening
    exposed = {addr: name for addr, name in listening.items() if not _loopback(addr[0])}
    # the one exception: rank 0's TCPStore, on the wildcard address, in a Ray Train worker
    assert len(exposed) == 1, exposed
    (ip, port), name = next(iter(exposed.items()))
    assert ip in ("::", "0.0.0.0") and "RayTrainWorker" in name, exposed
    # ... which the ranks reach through loopback: MASTER_ADDR is 127.0.0.1
    assert peers.get(port) and all(map(_loopback, peers[port])), peers.get(port)
