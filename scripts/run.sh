#!/usr/bin/env bash
# Set up (idempotent) and run the full pipeline on the current params.yaml (default profile).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
# no usage telemetry from MLflow or Ray either (pipelines/__init__.py sets the same for every stage)
export MLFLOW_DISABLE_TELEMETRY="${MLFLOW_DISABLE_TELEMETRY:-true}" RAY_USAGE_STATS_ENABLED="${RAY_USAGE_STATS_ENABLED:-0}"
# no usage reports to dvc.org (the committed .dvc/config says so too; DVC_NO_ANALYTICS keeps
# `dvc init` itself from sending one)
[ -d .dvc ] || { DVC_NO_ANALYTICS=1 dvc init -q && dvc config core.analytics false; }
# params first: DVC expands dvc.yaml's templates (the training matrix over train.tasks,
# train.variants, train.seeds) before any stage runs, and a wrong type there fails inside DVC
# naming no key; this names it, and nothing has started
sastnet check-params
# `dvc repro "$@"`, with each stage's wall time recorded in reports/stage_times.json and
# reports/summary.md (outside every DVC output: times differ between identical runs)
python -m pipelines.repro "$@"
