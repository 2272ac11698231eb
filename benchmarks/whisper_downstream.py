"""Fast (5.12 s encoder) vs faithful (30 s padding) Whisper features: cost and downstream F1.

    python -m benchmarks --mode full --only whisper_downstream

Run after the default pipeline (it reads ``data/shards`` and the task's trained baseline in
``models/<task>/<baseline>/seed<k>/best`` of the first ``seeds`` of ``train.seeds``; skipped
when they are missing). Side by side, on the same shards and the same training job:

1. the features stage (``python -m pipelines.whisper.features``) for the task's train list and
   dev, once with ``--variant fast`` and once with ``--variant faithful``: wall seconds, clips/s;
2. the model trained on each set of features (``python -m pipelines.train``, Ray Train, the
   profile's schedule, wav2vec 2.0 initialised from the baseline of the same seed), for
   ``seeds`` seeds each: dev macro F1 and weighted F1 (%), and their difference.

Everything is written under the runner's scratch folder; MLflow runs go to a SQLite file there,
so the project's registry is left alone.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.fixtures import ROOT
from benchmarks.measure import Figure, Side
from benchmarks.registry import Skip

VARIANTS = ("fast", "faithful")


def _run(cmd: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              check=False)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}); log {log}:\n{tail}")


@dataclass(frozen=True)
class DefaultRun:
    """What a benchmark that retrains on the default run's data reads from that run."""

    params: dict  # params.yaml as loaded
    data_dir: Path
    models_dir: Path
    seeds: list[int]  # the first ``seeds`` of train.seeds: each has its trained baseline
    env: dict[str, str]  # subprocess environment: MLflow in the scratch folder, Ray auth off


def default_run(work: Path, *, task: str, seeds: int, params: str = "params.yaml",
                needs: tuple[str, ...] = ("shards",)) -> DefaultRun:
    """The default run's params, data and baselines, or ``Skip`` naming the stage to run."""
    p = yaml.safe_load((ROOT / params).read_text())
    data_dir = (ROOT / p["common"]["data_dir"]).resolve()
    models_dir = (ROOT / p["train"]["models_dir"]).resolve()
    seed_list = list(p["train"]["seeds"])[:seeds]
    required = [(data_dir / name / "index.json", f"dvc repro {name}") for name in needs] + [
        (models_dir / task / p["train"]["baseline_variant"] / f"seed{s}" / "best",
         f"dvc repro train_baseline@{task}-{s}") for s in seed_list]
    for need, fix in required:
        if not need.exists():
            raise Skip(f"{need} is missing; run `{fix}` first")
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return DefaultRun(p, data_dir, models_dir, seed_list, env)


def run(work: Path, *, task: str, variant: str, seeds: int, params: str = "params.yaml") -> dict:
    params_path = ROOT / params
    run_in = default_run(work, task=task, seeds=seeds, params=params)
    p, models_dir, seed_list, env = run_in.params, run_in.models_dir, run_in.seeds, run_in.env
    shards = run_in.data_dir / "shards"
    splits = [f"train-{task}", "dev"]
    features, training = {}, {}
    for v in VARIANTS:  # 1. the features stage, each variant on the same shards
        vdir = work / v
        vdir.mkdir(parents=True, exist_ok=True)
        (vdir / "shards").symlink_to(shards)
        start = time.perf_counter()
        _run([sys.executable, "-m", "pipelines.whisper.features", "--params", str(params_path),
              "--variant", v, *[a for s in splits for a in ("--splits", s)],
              "--out-dir", str(vdir / "features"), "--report", str(vdir / "features.json")],
             env, vdir / "features.log")
        report = json.loads((vdir / "features.json").read_text())
        features[v] = {"wall_s": time.perf_counter() - start, "clips": report["clips"]}
    for v in VARIANTS:  # 2. the same training job on each set of features
        runs = []
        for seed in seed_list:
            q = json.loads(json.dumps(p))
            q["train"]["models_dir"] = str(models_dir)  # the shared baselines for init
            pfile = work / v / f"params_seed{seed}.yaml"
            pfile.write_text(yaml.safe_dump(q, sort_keys=False))
            out_models = work / v / f"models_seed{seed}"
            _run([sys.executable, "-m", "pipelines.train", "--task", task, "--variant", variant,
                  "--seed", str(seed), "--params", str(pfile), "--data-dir", str(work / v),
                  "--models-dir", str(out_models), "--storage-path", str(work / "ray_results")],
                 env, work / v / f"train_seed{seed}.log")
            summary = json.loads((out_models / task / variant / f"seed{seed}" / "run.json").read_text())
            runs.append({"seed": seed, "best_epoch": summary["best_epoch"],
                         **{k: round(x, 2) for k, x in summary["dev"].items()}})
        training[v] = {"runs": runs, **{f"mean_{k}": round(statistics.mean(r[k] for r in runs), 2)
                                        for k in ("dev_macro_f1", "dev_weighted_f1")}}
    clips = features["fast"]["clips"]
    figures = [Figure("X.downstream_features", f"features stage, {clips} clips: faithful vs fast",
                      "s", False, Side.single("faithful", features["faithful"]["wall_s"]),
                      Side.single("fast", features["fast"]["wall_s"])),
               Figure("X.downstream_f1", f"{variant} dev macro F1 (%), mean of {len(seed_list)} "
                      "seeds: faithful vs fast features", "% F1", True,
                      Side.single("faithful", training["faithful"]["mean_dev_macro_f1"]),
                      Side.single("fast", training["fast"]["mean_dev_macro_f1"]))]
    return {"figures": [f.to_dict() for f in figures],
            "details": {"task": task, "variant": variant, "splits": splits, "features": features,
                        "training": training}}


QUICK = {"task": "aux", "variant": "sastnet", "seeds": 1}
FULL = {"task": "aux", "variant": "sastnet", "seeds": 3}
SMOKE = QUICK
