"""Ray's ``ray.init`` installs a SIGTERM handler of its own; the pipeline's must survive it, or a
``kill`` of the run script leaves ``dvc``, its stage and Ray's agents running (seen: #33)."""

import signal

import pytest
import ray

from pipelines.common.ray_local import connect_or_start_ray, shutdown_ray


@pytest.mark.slow
def test_a_python_sigterm_handler_survives_starting_ray(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, handler)
    try:
        assert connect_or_start_ray(num_cpus=1, include_dashboard=False, log_to_driver=False)
        assert ray.is_initialized()
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        shutdown_ray()
        signal.signal(signal.SIGTERM, before)
