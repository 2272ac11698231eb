"""DVC stage ``train_baseline`` / ``train``: one (task, variant) on Ray Train, tracked in MLflow.

    python -m stages.train --task aux --variant w2v2_aasist

Writes ``models/<task>/<variant>/best/`` and ``models/<task>/<variant>/run.json``; details in
``pipelines/train/driver.py`` and docs/training.md.
"""

from __future__ import annotations

import argparse
import json

from pipelines.params import load_params
from pipelines.train import job_from_params, run_training, settings_from_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--variant", required=True)
    args = parser.parse_args(argv)
    params = load_params()
    summary = run_training(job_from_params(params, args.task, args.variant),
                           settings_from_params(params))
    print(json.dumps({k: summary[k] for k in ("task", "variant", "version", "dev", "train_s")}))


if __name__ == "__main__":
    main()
