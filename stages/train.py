"""DVC stage ``train_baseline`` / ``train``: one (task, variant) on Ray Train, tracked in MLflow.

    python -m stages.train --task aux --variant w2v2_aasist

Writes ``models/<task>/<variant>/best/`` and ``models/<task>/<variant>/run.json``; details in
``pipelines/train/driver.py`` and docs/training.md.
"""

from __future__ import annotations

import json

from pipelines.common.process import stage_process
from pipelines.params import load_params
from pipelines.train import job_from_params, run_training, settings_from_params
from stages._io import parse_task_variant


def main(argv: list[str] | None = None) -> None:
    task, variant = parse_task_variant(__doc__, argv)
    params = load_params()
    summary = run_training(job_from_params(params, task, variant),
                           settings_from_params(params))
    print(json.dumps({k: summary[k] for k in ("task", "variant", "version", "dev", "train_s")}))


if __name__ == "__main__":
    with stage_process("train"):
        main()
