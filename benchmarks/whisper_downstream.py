"""Fast (5.12 s encoder) vs faithful (30 s padding) Whisper features: cost and downstream F1.

    python benchmarks/whisper_downstream.py [--task aux] [--variant sastnet] [--seeds 1]

Run after the default pipeline (it reads ``data/shards`` and the task's trained baseline in
``models/<task>/<baseline>/seed<k>/best`` of the first ``--seeds`` of ``train.seeds``). Side by side, on the same shards and the same training job:

1. the features stage (``python -m pipelines.whisper.features``) for the task's train list and dev,
   once with ``--variant fast`` and once with ``--variant faithful``: wall seconds, clips/s,
   and the ratio;
2. the model trained on each set of features (``python -m pipelines.train``, Ray Train, the
   profile's schedule, wav2vec 2.0 initialised from the baseline of the same seed), for ``--seeds``
   seeds each: dev macro F1 and weighted F1 (%), and their difference.

Everything is written under a scratch folder (``--work-dir``, default a temporary one); MLflow
runs go to a SQLite file there, so the project's registry is left alone. The result goes to
``benchmarks/results/whisper_downstream.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from pipelines.common.io import write_json

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("fast", "faithful")


def run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}); log {log}:\n{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--task", default="aux")
    parser.add_argument("--variant", default="sastnet", help="a model variant that reads Whisper")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per feature variant")
    parser.add_argument("--work-dir", type=Path, default=None, help="kept when given")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks/results/whisper_downstream.json")
    args = parser.parse_args()

    params = yaml.safe_load(args.params.read_text())
    data_dir = (ROOT / params["common"]["data_dir"]).resolve()
    shards = data_dir / "shards"
    models_dir = (ROOT / params["train"]["models_dir"]).resolve()
    seeds = list(params["train"]["seeds"])[: args.seeds]  # each starts from its seed's baseline
    if len(seeds) < args.seeds:
        raise SystemExit(f"--seeds {args.seeds}: train.seeds lists only {len(seeds)}")
    needs = [(shards / "index.json", "dvc repro shard")] + [
        (models_dir / args.task / params["train"]["baseline_variant"] / f"seed{s}" / "best",
         f"dvc repro train_baseline@{args.task}-{s}") for s in seeds]
    for need, fix in needs:
        if not need.exists():
            raise SystemExit(f"{need} is missing; run `{fix}` first")

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="whisper_downstream_"))
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    splits = [f"train-{args.task}", "dev"]
    result: dict = {"task": args.task, "model_variant": args.variant, "splits": splits,
                    "whisper_model": params["features"]["model"],
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                    "features": {}, "training": {}}
    try:
        for variant in VARIANTS:  # 1. the features stage, each variant on the same shards
            vdir = work / variant
            (vdir / "shards").unlink(missing_ok=True)
            vdir.mkdir(parents=True, exist_ok=True)
            (vdir / "shards").symlink_to(shards)
            shutil.rmtree(vdir / "features", ignore_errors=True)  # measure, never reuse
            start = time.perf_counter()
            run([sys.executable, "-m", "pipelines.whisper.features", "--params", str(args.params),
                 "--variant", variant, *[a for s in splits for a in ("--splits", s)], "--out-dir", str(vdir / "features"),
                 "--report", str(vdir / "features.json")], env, vdir / "features.log")
            report = json.loads((vdir / "features.json").read_text())
            result["features"][variant] = {
                "wall_s": round(time.perf_counter() - start, 1), "clips": report["clips"],
                "clips_per_s": report["clips_per_s"], "actors": report["actors"]}
        f = result["features"]
        f["faithful_over_fast_wall"] = round(f["faithful"]["wall_s"] / f["fast"]["wall_s"], 2)
        print(f"features: fast {f['fast']['wall_s']} s, faithful {f['faithful']['wall_s']} s "
              f"({f['faithful_over_fast_wall']}x) for {f['fast']['clips']} clips", flush=True)

        for variant in VARIANTS:  # 2. the same training job on each set of features
            runs = []
            for seed in seeds:
                p = json.loads(json.dumps(params))
                p["train"]["models_dir"] = str(models_dir)  # the shared baselines for init
                pfile = work / variant / f"params_seed{seed}.yaml"
                pfile.write_text(yaml.safe_dump(p, sort_keys=False))
                out_models = work / variant / f"models_seed{seed}"
                run([sys.executable, "-m", "pipelines.train", "--task", args.task,
                     "--variant", args.variant, "--seed", str(seed), "--params", str(pfile),
                     "--data-dir", str(work / variant), "--models-dir", str(out_models),
                     "--storage-path", str(work / "ray_results")],
                    env, work / variant / f"train_seed{seed}.log")
                summary = json.loads(
                    (out_models / args.task / args.variant / f"seed{seed}" / "run.json").read_text())
                runs.append({"seed": seed, "best_epoch": summary["best_epoch"],
                             **{k: round(v, 2) for k, v in summary["dev"].items()}})
                print(f"{variant} seed {seed}: {runs[-1]}", flush=True)
            result["training"][variant] = {
                "runs": runs,
                "mean_dev_macro_f1": round(statistics.mean(r["dev_macro_f1"] for r in runs), 2),
                "mean_dev_weighted_f1": round(statistics.mean(r["dev_weighted_f1"] for r in runs), 2)}
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)

    t = result["training"]
    result["faithful_minus_fast"] = {
        k: round(t["faithful"][f"mean_{k}"] - t["fast"][f"mean_{k}"], 2)
        for k in ("dev_macro_f1", "dev_weighted_f1")}
    result["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
    write_json(args.out, result)
    f = result["features"]
    print(f"{'':30}{'fast':>12}{'faithful':>12}{'ratio/diff':>12}")
    print(f"{'features wall s':30}{f['fast']['wall_s']:>12}{f['faithful']['wall_s']:>12}"
          f"{f['faithful_over_fast_wall']:>11}x")
    for k in ("dev_macro_f1", "dev_weighted_f1"):
        print(f"{k + ' (%)':30}{t['fast'][f'mean_{k}']:>12}{t['faithful'][f'mean_{k}']:>12}"
              f"{result['faithful_minus_fast'][k]:>12}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
