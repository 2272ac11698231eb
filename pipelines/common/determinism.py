"""Same inputs, same outputs: one place that makes a unit of work deterministic.

Every stage, pool worker, Ray task/actor and Ray Train worker calls into this module:

    from pipelines.common.determinism import derive_seed, seed_everything, configure_torch
    seed_everything(params.seed, "codec", name)        # RNGs of this unit of work
    configure_torch(threads=1)                         # fixed threads, deterministic kernels
    rng = np.random.default_rng(derive_seed(seed, "crop", key))

Why each piece:
- **Seeds from identity.** A unit of work (a codec, a clip, a shard, an epoch on a rank) gets
  its seed from the global seed and its own name, never from the order in which a pool hands
  it out, so 1 or N workers, any load, any retry give the same numbers.
- **Thread counts.** Parallel CPU reductions (GEMM blocking, ``sum`` over chunks) depend on
  how many threads split them; a thread count taken from the machine (``nproc``) or the load
  would change the last bits. Every unit of work sets its own, from params.
- **MKL conditional numerical reproducibility** (``MKL_CBWR``). Without it MKL may pick a
  code path by memory alignment, run to run. ``AUTO,STRICT`` keeps the CPU's own fastest
  path (same machine type, same bits); ``COMPATIBLE`` gives the same bits across CPU types at
  about twice the GEMM time (set it in the environment to override). Read once, when MKL
  loads: ``pin_numeric_env`` runs before torch is imported (``stages/__init__.py``), and Ray
  workers and spawned pool processes inherit it (``ray_runtime_env``; ``cluster.yaml`` for
  the nodes of a cluster).
- **PyTorch deterministic algorithms.** Strict on the CPU (an op without a deterministic
  kernel raises); on CUDA warn-only plus cuDNN's deterministic mode and cuBLAS's fixed
  workspace, because a few CUDA kernels (scatter-add, some backward passes) have no
  deterministic version: such a run is recorded as not bit-reproducible (``numeric_record``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
from typing import Any

import numpy as np

# Environment that decides CPU/GPU numerics; read by the math libraries when they load.
NUMERIC_ENV = {
    "MKL_CBWR": "AUTO,STRICT",  # MKL: same code path and bits run to run (STRICT: any alignment)
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",  # cuBLAS: deterministic GEMM workspaces on CUDA >= 10.2
    "PYTHONHASHSEED": "0",  # str hashing (set/dict-of-str order) in spawned processes
}


def derive_seed(seed: int, *identity: Any) -> int:
    """A 63-bit seed for one unit of work: SHA-256 of the global seed and the unit's identity.

    ``derive_seed(1234, "codec", "zoo_mvq_none_time")``; ints and strings both work, and
    ``(1, 23)`` never collides with ``(12, 3)`` (unlike ``seed + epoch`` arithmetic).
    """
    blob = json.dumps([int(seed), *identity], separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "big") >> 1


def seed_everything(seed: int, *identity: Any) -> int:
    """Seed Python's, NumPy's global and torch's RNGs from ``derive_seed(seed, *identity)``."""
    import torch

    derived = derive_seed(seed, *identity)
    random.seed(derived)
    np.random.seed(derived % 2**32)
    torch.manual_seed(derived)
    return derived


def pin_numeric_env(env: dict[str, str] | None = None) -> None:
    """Put ``NUMERIC_ENV`` into ``os.environ`` (values already set win): call before torch loads."""
    for key, value in (env or NUMERIC_ENV).items():
        os.environ.setdefault(key, value)


def ray_runtime_env() -> dict:
    """``runtime_env`` for a local ``ray.init``: the numeric environment of every Ray worker,
    stated rather than inherited. (A cluster joined by address keeps its own runtime_env: start
    its nodes with ``NUMERIC_ENV`` set, as ``cluster.yaml`` does.)"""
    return {"env_vars": {k: os.environ.get(k, v) for k, v in NUMERIC_ENV.items()}}


def configure_torch(threads: int, *, gpu: bool = False) -> dict:
    """Fixed intra-op threads and deterministic kernels for this process; returns
    ``numeric_record()``. Call at the start of every unit of work (threads >= 1)."""
    import torch

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    pin_numeric_env()
    torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True, warn_only=gpu)
    if gpu:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return numeric_record()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numeric_record() -> dict:
    """What decides this process's numbers, for run reports: versions, threads, ISA, env,
    and whether bit-identical reruns are guaranteed (``bit_reproducible``) and if not, why."""
    import torch

    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    why_not = []
    if not torch.are_deterministic_algorithms_enabled():
        why_not.append("torch deterministic algorithms off")
    elif torch.is_deterministic_algorithms_warn_only_enabled():
        why_not.append("CUDA: deterministic algorithms warn-only (some kernels have none)")
    if cuda and os.environ.get("CUBLAS_WORKSPACE_CONFIG") is None:
        why_not.append("CUBLAS_WORKSPACE_CONFIG unset")
    return {
        "torch": torch.__version__, "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_model": cpu_model(), "mkl": torch.backends.mkl.is_available(),
        "cuda_device": torch.cuda.get_device_name() if cuda else None,
        "env": {k: os.environ.get(k) for k in NUMERIC_ENV},
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "bit_reproducible": not why_not, "not_bit_reproducible_because": why_not,
    }
