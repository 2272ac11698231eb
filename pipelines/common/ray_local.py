"""Start a local Ray that survives a busy machine.

``ray.init`` gives a fresh local node 30 s (hard-coded in Ray) to register with its GCS; on a
loaded machine (other jobs on every core) that start can time out, and the stage fails
before any work. The start is retried a few times; any other error is raised at once.
"""

from __future__ import annotations

import logging
import time

import ray

log = logging.getLogger(__name__)


def init_local_ray(attempts: int = 3, **kwargs) -> None:
    """``ray.init(**kwargs)`` for a new local node, retried when the node times out starting."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**kwargs)
            return
        except Exception as err:  # Ray raises a bare Exception for this
            if "timed out during startup" not in str(err) or attempt == attempts:
                raise
            log.warning("local Ray did not start in time (attempt %d of %d, machine busy?): "
                        "retrying", attempt, attempts)
            ray.shutdown()
            time.sleep(5 * attempt)
