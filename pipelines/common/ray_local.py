"""Start a local Ray that survives a busy machine.

``ray.init`` gives a fresh local node 30 s (hard-coded in Ray) to register with its GCS; on a
loaded machine (other jobs on every core) that start can time out, and the stage fails
before any work. The start is retried a few times; any other error is raised at once.
"""

from __future__ import annotations

import logging
import os
import time

import ray

from pipelines.common import timing

log = logging.getLogger(__name__)


def init_local_ray(attempts: int = 3, **kwargs) -> None:
    """``ray.init(address="local", **kwargs)``: a new local node of this process's own, retried
    when the node times out starting.

    ``address="local"``: a plain ``ray.init()`` joins the cluster that the last ``ray start`` on
    this machine recorded (``/tmp/ray/ray_current_cluster``), whoever started it: a second
    pipeline's stages or a test's cluster, which may stop under the stage (a busy run of the
    default died so: "Owner's node has crashed"). A cluster is joined only when asked, through
    ``RAY_ADDRESS`` (``ray job submit`` sets it for its entrypoint).
    """
    for attempt in range(1, attempts + 1):
        try:
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
                         **local_kwargs) -> bool:
    """Join the cluster at ``address`` (default: ``RAY_ADDRESS``, which ``ray job submit`` sets
    for its entrypoint), else start a local Ray of this process's own (``init_local_ray`` with
    ``local_kwargs``). Does nothing when Ray is already up.

    Returns:
        True when this call connected or started Ray (the caller then shuts it down).
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    with timing.phase(timing.RAY_START):
        if address:
            ray.init(address=address, log_to_driver=log_to_driver)
        else:
            init_local_ray(log_to_driver=log_to_driver, **local_kwargs)
    return True


def shutdown_ray() -> None:
    """``ray.shutdown()``, timed (``pipelines.common.timing``)."""
    with timing.phase(timing.RAY_STOP):
        ray.shutdown()
