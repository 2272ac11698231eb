"""Whisper on RawBoost-augmented audio (K precomputed views) vs on the clean clip: cost and dev F1.

    python -m benchmarks --mode full --only whisper_views

The release runs Whisper online on the augmented batch; the paper profile precomputes Whisper
features of K seeded RawBoost views per training clip (``features.augmented_views``, stage
``features_views``) and the loader augments each waveform with the view whose features it reads.
This measures what that costs and what it changes, on the default run's data. Both arms train
the same job with RawBoost on (``train.rawboost_algo``, the paper's algorithm 5 unless given),
wav2vec 2.0 initialised from the default run's baseline of the same seed:

- ``clean``: Whisper features of the clean clip (``features.augmented_views: 0``);
- ``views``: K views (``python -m stages.features_views`` into the scratch folder, timed).

Figures: the views stage's wall seconds against the default features stage's (from the run's
``reports/stage_times.json`` when present), and SASTNet's dev macro F1 of each arm, mean over
the seeds, with the paired per-seed difference and whether it is outside the seed spread.
Run after the default pipeline (``data/shards``, ``data/features``, the baselines); skipped
when they are missing. MLflow runs go to a SQLite file in the scratch folder.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import yaml

from benchmarks.fixtures import ROOT
from benchmarks.measure import Figure, Side
from benchmarks.whisper_downstream import _run, default_run

ARMS = ("clean", "views")


def _arm_dir(work: Path, arm: str, data_dir: Path) -> Path:
    """A data dir of the run's shards and clean features (symlinks); views go in it."""
    out = work / arm
    out.mkdir(parents=True, exist_ok=True)
    for name in ("shards", "features"):
        (out / name).symlink_to(data_dir / name)
    return out


def paired_difference(a: list[float], b: list[float]) -> dict:
    """Mean ± sample std of ``b - a`` paired by position; outside the spread when |mean| > std."""
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    mean = statistics.mean(diffs)
    std = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
    return {"per_seed": [round(d, 2) for d in diffs], "mean": round(mean, 2),
            "std": round(std, 2), "outside_spread": bool(len(diffs) > 1 and abs(mean) > std)}


def run(work: Path, *, task: str, variant: str, seeds: int, views: int, algo: int,
        params: str = "params.yaml") -> dict:
    run_in = default_run(work, task=task, seeds=seeds, params=params,
                         needs=("shards", "features"))
    p, data_dir, models_dir = run_in.params, run_in.data_dir, run_in.models_dir
    seed_list, env = run_in.seeds, run_in.env

    arm_params, arm_data = {}, {}
    for arm in ARMS:
        q = json.loads(json.dumps(p))
        q["common"]["data_dir"] = str(_arm_dir(work, arm, data_dir))
        q["train"]["models_dir"] = str(models_dir)  # the shared baselines for init
        q["train"]["tasks"] = [task]
        q["train"]["rawboost_algo"] = algo
        q["features"]["augmented_views"] = views if arm == "views" else 0
        if (ROOT / q["features"]["model"]).exists():  # the views stage runs in the arm's folder
            q["features"]["model"] = str((ROOT / q["features"]["model"]).resolve())
        arm_data[arm] = Path(q["common"]["data_dir"])
        arm_params[arm] = work / arm / "params.yaml"
        arm_params[arm].write_text(yaml.safe_dump(q, sort_keys=False))

    # 1. the views stage, as DVC runs it (its params.yaml in the working directory)
    start = time.perf_counter()
    _run([sys.executable, "-m", "stages.features_views"], {**env, "PYTHONPATH": str(ROOT)},
         work / "views" / "features_views.log", cwd=work / "views")
    views_s = time.perf_counter() - start
    report = json.loads((arm_data["views"] / "features_views" / "report.json").read_text())

    # 2. the same training job on each arm
    training = {}
    for arm in ARMS:
        runs = []
        for seed in seed_list:
            out_models = work / arm / f"models_seed{seed}"
            start = time.perf_counter()
            _run([sys.executable, "-m", "pipelines.train", "--task", task, "--variant", variant,
                  "--seed", str(seed), "--params", str(arm_params[arm]),
                  "--data-dir", str(arm_data[arm]), "--models-dir", str(out_models),
                  "--storage-path", str(work / "ray_results")],
                 env, work / arm / f"train_seed{seed}.log")
            summary = json.loads(
                (out_models / task / variant / f"seed{seed}" / "run.json").read_text())
            runs.append({"seed": seed, "best_epoch": summary["best_epoch"],
                         "wall_s": round(time.perf_counter() - start, 1),
                         **{k: round(x, 2) for k, x in summary["dev"].items()}})
        training[arm] = {"runs": runs, **{f"mean_{k}": round(statistics.mean(r[k] for r in runs), 2)
                                          for k in ("dev_macro_f1", "dev_weighted_f1")}}
    diff = paired_difference([r["dev_macro_f1"] for r in training["clean"]["runs"]],
                             [r["dev_macro_f1"] for r in training["views"]["runs"]])

    features_s = _recorded_features_s()
    figures = []
    if features_s:
        figures.append(Figure(
            "X.views_cost", f"Whisper features of {views} RawBoost views of the train-{task} clips "
            "vs the default features stage (train, dev, test; the run's record)", "s", False,
            Side.single(f"{views} views", views_s), Side.single("clean features stage", features_s)))
    figures.append(Figure(
        "X.views_f1", f"{variant} dev macro F1 (%), RawBoost algo {algo}, mean of "
        f"{len(seed_list)} seeds: Whisper on the views vs on the clean clip", "% F1", True,
        Side.single("views", training["views"]["mean_dev_macro_f1"]),
        Side.single("clean", training["clean"]["mean_dev_macro_f1"])))
    verdict = "outside the seed spread" if diff["outside_spread"] else \
        "inside the seed spread: not a finding"
    return {"figures": [f.to_dict() for f in figures],
            "details": {"task": task, "variant": variant, "views": views, "rawboost_algo": algo,
                        "views_stage_s": round(views_s, 1), "views_clips": report["computed_clips"],
                        "recorded_features_stage_s": features_s, "training": training,
                        "views_minus_clean_dev_macro_f1": diff},
            "notes": [(f"views - clean dev macro F1: {diff['mean']:+.2f} ± {diff['std']:.2f} "
                      f"(n={len(seed_list)}; per seed {diff['per_seed']}): {verdict}")]}


def _recorded_features_s() -> float | None:
    times = ROOT / "reports" / "stage_times.json"
    if not times.is_file():
        return None
    stage = json.loads(times.read_text()).get("stages", {}).get("features", {})
    return stage.get("wall_s")


FULL = {"task": "aux", "variant": "sastnet", "seeds": 3, "views": 4, "algo": 5}
QUICK = {**FULL, "seeds": 1}
SMOKE = QUICK
