"""Session fixtures shared by test modules.

``whole_runs``: the slow tests' whole-pipeline runs (the stage clock or ``dvc repro`` in copies of
the repository: tests/test_pipeline_repro.py, tests/test_paper_profile_repro.py) start side by
side, all at once, the first time a test asks for one. Each run is minutes of stage processes
that spend much of their time on one core or none (imports, Ray and Ray Train worker starts,
polling), so on the 2-core CI machine the runs together take far less than one after the other.
A module lists its runs in ``WHOLE_RUNS`` (name -> a function of ``tmp_path_factory`` that makes
the run and returns what its tests need); only the runs of modules with a selected test start,
and a test waits for its own runs only, so a failing run fails only the tests that use it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

# every `dvc` command of the tests (and of their stage runs) would otherwise start a detached
# `dvc daemon analytics` process, a Python start-up each, that only tries to reach the network
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(scope="session")
def whole_runs(request, tmp_path_factory):
    builders = {}
    for item in request.session.items:
        if "whole_runs" in getattr(item, "fixturenames", ()):
            builders.update(getattr(item.module, "WHOLE_RUNS", {}))
    with ThreadPoolExecutor(max(len(builders), 1), thread_name_prefix="whole-run") as pool:
        yield {name: pool.submit(build, tmp_path_factory) for name, build in builders.items()}
