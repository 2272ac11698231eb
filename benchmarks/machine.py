"""What machine, software and load a benchmark ran under, so a number is read with its context.

The fields that decide the numerics or the speed are the project's run fingerprint
(``pipelines.tracking.fingerprint``: CPU model, cores, package versions, commit); on top a
benchmark records the load average before and after it (a figure measured while the load
rose from 0.1 to 3 is not the same figure as one on an idle machine) and the process's nice
value (a ``nice -n 19`` run yields the cores to everything else).
"""

from __future__ import annotations

import os
import platform
from typing import Any

from pipelines.tracking.fingerprint import PACKAGES, cpu_model, git_state, package_versions

# the project's numerics packages plus what the loader and the VAD time depends on
BENCH_PACKAGES = (*PACKAGES, "soundfile", "silero-vad")


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_fingerprint() -> dict[str, Any]:
    """The static part: CPU, cores, OS, Python, packages, commit, niceness."""
    commit, dirty = git_state()
    return {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count() or 0,
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 0,
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(BENCH_PACKAGES),
        "git_commit": commit,
        "git_dirty": dirty,
        "nice": os.nice(0),
    }


def with_load(before: list[float], after: list[float], static: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint as a result file stores it: static fields plus load before/after."""
    return {**static, "load_average_before": before, "load_average_after": after,
            "quiet": is_quiet(before, static["cpu_cores"], static["nice"])}


def is_quiet(before: list[float], cores: int, nice: int) -> bool:
    """True when the run had the machine to itself at its start: not niced and a 1-min load
    average of at most half the cores (the load after includes the benchmark's own work)."""
    return nice == 0 and before[0] <= cores / 2


def _memory_gb() -> float:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0.0
    return round(pages * size / 2**30, 1)


def describe(fp: dict[str, Any]) -> str:
    """One line for the summary: ``AMD EPYC, 2 cores, load 0.1 -> 1.9, nice 0``."""
    before, after = fp["load_average_before"][0], fp["load_average_after"][0]
    return (f"{fp['cpu']}, {fp['cpu_cores']} cores, {fp['memory_gb']} GB, load {before} -> {after}"
            f", nice {fp['nice']}, torch {fp['packages'].get('torch', '?')}")
