"""DVC stage ``register``: move each task's ``champion`` alias to its best registered version.

    python -m stages.register     # writes reports/registry.json

Candidates are the versions the trainings registered (``models/<task>/<variant>/run.json``),
in training order (baseline first); the alias moves only when a candidate is strictly
better on ``train.select_metric`` (``pipelines/tracking/registry.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.common.process import stage_process
from pipelines.params import load_params
from pipelines.tracking.registry import champion_info, promote_if_better
from stages._io import write_json


def register_all(tasks: tuple[str, ...], variants: tuple[str, ...], models_dir: str | Path,
                 metric: str, tracking_uri: str | None = None) -> dict:
    report: dict = {"metric": metric, "tasks": {}}
    for task in tasks:
        promotions = []
        for variant in variants:
            run_path = Path(models_dir) / task / variant / "run.json"
            if not run_path.exists():
                raise FileNotFoundError(f"{run_path}: not trained yet; run `dvc repro train`")
            run = json.loads(run_path.read_text())
            promotion = promote_if_better(run["registered_model"], run["version"], metric=metric,
                                          tracking_uri=tracking_uri or run.get("tracking_uri"))
            promotions.append({"variant": variant, **promotion.to_dict()})
        name = promotions[-1]["registered_model"]
        uri = tracking_uri or json.loads(
            (Path(models_dir) / task / variants[-1] / "run.json").read_text()).get("tracking_uri")
        report["tasks"][task] = {"champion": champion_info(name, metric=metric, tracking_uri=uri),
                                 "promotions": promotions}
    return report


def main() -> None:
    params = load_params()
    tp = params.train
    report = register_all(tp.tasks, (tp.baseline_variant, *tp.variants), tp.models_dir,
                          tp.select_metric)
    write_json(Path(params.common.reports_dir) / "registry.json", report)
    for task, entry in report["tasks"].items():
        champ = entry["champion"]
        print(f"{task}: champion {champ['registered_model']} v{champ['version']} "
              f"({champ['variant']}, {tp.select_metric} {champ[tp.select_metric]:.2f})")


if __name__ == "__main__":
    with stage_process("register"):
        main()
