"""DVC stage ``register``: move each task's ``champion`` alias to its best group of versions.

    python -m stages.register     # writes reports/registry.json

Each trained version is first calibrated on dev and wrapped as the pyfunc trace model
(``pipelines/register/versions.py``, ``docs/trace.md``); the groups (a variant over its seeds)
of those calibrated versions are scored by their mean dev metric and the alias moves to the best
one only when it strictly beats the current champion (``pipelines/register/champion.py``).
``reports/registry.json`` lists every group's spread, ``reports/calibration/`` the temperatures.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from pipelines.common.io import timings_path, write_report
from pipelines.common.process import stage_process
from pipelines.dataset.loader import shard_paths_for
from pipelines.params import load_params
from pipelines.register.champion import register_all
from pipelines.register.versions import CalibrationInputs, write_calibration_report


def main() -> None:
    """Move each task's ``champion`` alias to its best registered version."""
    params = load_params()
    tp = params.train
    data = Path(params.common.data_dir)
    reports = Path(params.common.reports_dir)
    calibration = CalibrationInputs(
        dev_shards=shard_paths_for(data / "shards", "dev"), feature_dir=str(data / "features"),
        features=dataclasses.asdict(params.features), reports_dir=reports, seed=params.common.seed)
    report = register_all(tp.tasks, (tp.baseline_variant, *tp.variants), tp.seeds,
                          tp.models_dir, tp.select_metric, calibration=calibration)
    write_report(reports / "registry.json", report, timings_path(reports, "register"))
    write_calibration_report(report, reports / "calibration")
    for task, entry in report["tasks"].items():
        champ = entry["champion"]
        for g in entry["groups"]:
            print(f"{task}/{g['group']}: {tp.select_metric} {g['mean']:.2f} ± {g['std']:.2f} "
                  f"(n={g['n']})")
        print(f"{task}: champion {champ['registered_model']} v{champ['registry_version']} "
              f"({champ['variant']} seed {champ['seed']}, group mean "
              f"{champ[f'group_mean_{tp.select_metric}']:.2f})")


if __name__ == "__main__":
    with stage_process("register"):
        typer.run(main)
