#!/usr/bin/env bash
# Set up (idempotent) and run the full pipeline on the current params.yaml (default profile).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
[ -d .dvc ] || dvc init -q
# `dvc repro "$@"`, with each stage's wall time recorded in reports/stage_times.json and
# reports/summary.md (outside every DVC output: times differ between identical runs)
python -m pipelines.tracking.stage_clock "$@"
