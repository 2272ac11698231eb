"""A real multi-node Ray cluster on this machine, owned and stopped by the test that starts it.

Each node is a ``ray start --block`` process in a session of its own, with its own free
ports (loopback only) and the head's temp dir unique to the test; stopping kills exactly
those process groups (then any straggler whose command line names our temp dir), never
other people's Ray (no ``ray stop``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeExited(RuntimeError):
    """A ``ray start`` process died while the cluster was coming up."""


class LocalRayCluster:
    def __init__(self, num_nodes: int = 2, cpus_per_node: int = 1) -> None:
        self.num_nodes, self.cpus = num_nodes, cpus_per_node
        # no drain on SIGTERM: the head's drain waits out its 30 s for the GCS that stop() has
        # already signalled (nothing of ours needs a graceful drain: Serve is what it is for)
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
                    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
        self._fresh_ports()

    def _fresh_ports(self) -> None:
        """New temp dir and ports, no processes: the state before (another) start."""
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rt_", dir="/tmp"))  # short: socket paths
        self.gcs_port, self.dashboard_port = free_port(), free_port()
        self.procs: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, args: list[str], name: str) -> None:
        log = open(self.temp_dir / f"{name}.log", "w")
        common = ["--num-cpus", str(self.cpus), "--num-gpus", "0", "--node-ip-address", "127.0.0.1",
                  "--dashboard-agent-listen-port", str(free_port()),
                  "--metrics-export-port", str(free_port()), "--block", "--disable-usage-stats"]
        self.procs.append(subprocess.Popen([RAY, "start", *args, *common], env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def start(self, timeout_s: float = 180) -> LocalRayCluster:
        self._start(["--head", "--port", str(self.gcs_port), "--temp-dir", str(self.temp_dir),
                     "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
                     "--include-dashboard", "true",
                     "--ray-client-server-port", str(free_port())], "head")
        self._wait(lambda: self._http_ok(f"{self.dashboard_url}/api/version"), timeout_s, "head")
        for i in range(1, self.num_nodes):
            node_dir = self.temp_dir / f"n{i}"  # own temp dir: nodes must not share
            node_dir.mkdir()                     # runtime_resources (working_dir GC)
            self._start(["--address", self.address, "--temp-dir", str(node_dir)], f"node{i}")
        self._wait(lambda: self.alive_nodes() >= self.num_nodes, timeout_s, "worker nodes")
        return self

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise NodeExited(f"a ray node exited while starting {what}; logs in "
                                 f"{self.temp_dir}\n{self.log_tails()}")
            if ready():
                return
            time.sleep(1)
        raise TimeoutError(f"{what} not up after {timeout_s} s; logs in {self.temp_dir}\n"
                           f"{self.log_tails()}")

    def log_tails(self, lines: int = 25) -> str:
        """The last lines of every node's ``ray start`` log (the logs die with /tmp in CI)."""
        parts = []
        for log in sorted(self.temp_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    @staticmethod
    def _http_ok(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def alive_nodes(self) -> int:
        import json

        try:
            with urllib.request.urlopen(f"{self.dashboard_url}/nodes?view=summary", timeout=5) as r:
                data = json.loads(r.read())
            return sum(1 for n in data["data"]["summary"] if n["raylet"]["state"] == "ALIVE")
        except (OSError, KeyError, ValueError):
            return 0

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in reversed(self.procs):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(p.poll() is None for p in self.procs):
                time.sleep(0.5)
        for pid in self.stragglers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stragglers(self) -> list[int]:
        """PIDs of processes whose command line names this cluster's temp dir or GCS port."""
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        marks = (str(self.temp_dir), f"127.0.0.1:{self.gcs_port}")
        return [int(line.split(None, 1)[0]) for line in out.splitlines()
                if any(m in line for m in marks) and int(line.split(None, 1)[0]) != os.getpid()]

    def __enter__(self) -> LocalRayCluster:
        for attempt in range(2):
            try:
                return self.start()
            except NodeExited as e:  # e.g. a port free_port() chose was taken before ray bound it
                self.stop()
                if attempt:
                    raise
                print(f"retrying the local cluster with new ports: {e}", file=sys.stderr)
                self._fresh_ports()
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def __exit__(self, *exc) -> None:
        self.stop()
