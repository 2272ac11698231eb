"""Run fingerprint: what code, params, data, software and machine produced a number.

    from pipelines.tracking.fingerprint import run_fingerprint, mlflow_tags
    fp = run_fingerprint(params_digest(params), inputs=["data/shards", "data/features"])
    tracker.set_tags(mlflow_tags(fp))          # MLflow's own source/user tags + fingerprint.*

The same record goes into every MLflow run (as tags) and into ``reports/summary.md``, so a
number in a table can be traced to its commit (and whether the tree was dirty), the exact
params (a digest of the resolved sections, code defaults included), the DVC hashes of the
data it read (from ``dvc.lock``), the versions of the libraries that decide the numerics,
and the machine (CPU/GPU model, cores, thread counts).
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from pipelines.common.determinism import cpu_model
from pipelines.common.io import json_sha256

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "transformers", "ray", "mlflow", "webdataset", "numpy", "scikit-learn", "dvc")
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def git_state(repo: str | Path = REPO_ROOT) -> tuple[str, bool]:
    """(commit sha, dirty) of the checkout; ``SASTNET_GIT_COMMIT`` wins (``ray job submit``
    ships no .git; a trailing ``-dirty`` there marks a dirty tree). ("unknown", False) when
    there is no commit to name."""
    if os.environ.get("SASTNET_GIT_COMMIT"):
        value = os.environ["SASTNET_GIT_COMMIT"]
        return value.removesuffix("-dirty"), value.endswith("-dirty")
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        # tracked files only: outputs and caches are git-ignored and never make a tree dirty;
        # dvc.lock is DVC's record of the run itself (every `dvc repro` rewrites it), and a
        # params.yaml that is a committed profile verbatim (`sastnet profile full`) is a
        # shipped configuration, named by ``params_profile``
        excluded = [":(exclude)dvc.lock"]
        if params_profile(repo) is not None:
            excluded.append(":(exclude)params.yaml")
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                 ".", *excluded],
                                cwd=repo, capture_output=True, text=True, timeout=10,
                                check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
    return head, bool(status.strip())


def params_profile(repo: str | Path = REPO_ROOT) -> str | None:
    """The committed profile (``profiles/<name>.yaml`` at HEAD) that ``params.yaml`` is a
    verbatim copy of, or None (edited params, no profiles, no git). The committed params.yaml
    itself is the default profile."""
    repo = Path(repo)
    try:
        current = (repo / "params.yaml").read_bytes()
        names = subprocess.run(["git", "ls-tree", "--name-only", "HEAD", "profiles/"], cwd=repo,
                               capture_output=True, text=True, timeout=10,
                               check=True).stdout.split()
        for path in sorted(names):
            if not path.endswith(".yaml"):
                continue
            committed = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=repo,
                                       capture_output=True, timeout=10, check=True).stdout
            if committed == current:
                return Path(path).stem
    except (OSError, subprocess.SubprocessError):
        return None
    return None


def params_digest(params: Any) -> str:
    """sha256 (16 hex) of the resolved params sections (a ``Params``), code defaults included,
    so the same file under other code defaults gets another digest."""
    sections = {name: dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
                for name, value in sorted(params.sections.items())}
    return json_sha256(sections, 16)


def dvc_hashes(paths: Iterable[str | Path], lock_path: str | Path = "dvc.lock") -> dict[str, str]:
    """DVC's md5 of each path, from the ``outs`` recorded in ``dvc.lock`` (a path inside an
    output folder gets that folder's hash, marked ``<folder>@md5``); "not in dvc.lock" when
    no stage produced it yet (e.g. a training run by hand)."""
    lock = Path(lock_path)
    outs: dict[str, str] = {}
    if lock.is_file():
        for stage in (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).values():
            for out in stage.get("outs", []):
                outs[out["path"].rstrip("/")] = out.get("md5") or out.get("hash", "?")
    found = {}
    for path in map(str, paths):
        rel = _relative(path)
        if rel in outs:
            found[rel] = outs[rel]
            continue
        parents = [o for o in outs if rel.startswith(o + "/")]
        found[rel] = (f"{max(parents, key=len)}@{outs[max(parents, key=len)]}" if parents
                      else "not in dvc.lock")
    return found


def _relative(path: str) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return str(p.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(p)
    return str(p).rstrip("/")


def gpu_model() -> str:
    import torch

    if not torch.cuda.is_available():
        return "none"
    return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def thread_counts() -> dict[str, str]:
    """This process's torch intra/inter-op threads and the math libraries' thread variables."""
    import torch

    return {"torch_intraop": str(torch.get_num_threads()),
            "torch_interop": str(torch.get_num_interop_threads()),
            **{name: os.environ.get(name, "unset") for name in THREAD_ENV}}


def run_fingerprint(digest: str = "none", inputs: Iterable[str | Path] = (), *,
                    lock_path: str | Path = "dvc.lock") -> dict[str, Any]:
    """The fingerprint record (JSON-able) of this process, its params (``params_digest``) and
    the data it reads (``inputs``, paths DVC produced)."""
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "params_profile": params_profile(),
        "params_digest": digest,
        "dvc_inputs": dvc_hashes(inputs, lock_path),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count() or 0,
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 0,
        "gpu": gpu_model(),
        "threads": thread_counts(),
        "user": _user(),
        "source": _source_name(),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _source_name() -> str:
    """The entry point, repo-relative (``stages/train.py``), as MLflow's Source column shows it."""
    main = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if main is None or not main.name:
        return "interactive"
    try:
        return str(main.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return main.name


def mlflow_tags(fp: dict[str, Any]) -> dict[str, str]:
    """MLflow's standard tags where they exist (the UI's Source, Version and User columns),
    the rest under ``fingerprint.*``."""
    tags = {
        "mlflow.source.git.commit": fp["git_commit"],
        "mlflow.source.name": fp["source"],
        "mlflow.source.type": "LOCAL",
        "mlflow.user": fp["user"],
        "fingerprint.git_dirty": str(fp["git_dirty"]).lower(),
        "fingerprint.params_digest": fp["params_digest"],
        "fingerprint.params_profile": str(fp.get("params_profile") or "none"),
        "fingerprint.python": fp["python"],
        "fingerprint.cpu": fp["cpu"],
        "fingerprint.cpu_cores": str(fp["cpu_cores"]),
        "fingerprint.gpu": fp["gpu"],
    }
    tags.update({f"fingerprint.pkg.{k}": v for k, v in fp["packages"].items()})
    tags.update({f"fingerprint.threads.{k}": v for k, v in fp["threads"].items()})
    tags.update({f"fingerprint.dvc.{k}": v for k, v in fp["dvc_inputs"].items()})
    return tags
