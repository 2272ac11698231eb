#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml (+ the dev, whisper-tiny and snac extras):
#
#   bash scripts/lock.sh            # both locks
#   bash scripts/lock.sh cpu        # constraints/cpu.lock.txt only (or: cuda)
#
# constraints/cpu.lock.txt   Python 3.11, Linux x86_64, torch 2.13.0+cpu (constraints/cpu.txt)
# constraints/cuda.lock.txt  Python 3.11, Linux x86_64, torch 2.13.0 from PyPI (CUDA build)
#
# Every package is pinned to one version with the sha256 of its files, so
# `uv pip install --require-hashes --no-deps -r <lock>` (what scripts/setup.sh does) installs
# exactly what was locked, or fails. An existing lock's versions are kept where they still
# satisfy pyproject.toml (uv's preference for the output file): to move everything to the
# newest releases, delete the lock first. `uv` itself is pinned (scripts/uv.sh) and installed
# into .cache/uv-tool/, never into .venv/.
#
# The CPU torch wheel is not on PyPI: uv reads it from TORCH_CPU_WHEELS (a folder holding
# torch-2.13.0+cpu-*.whl; default /opt/wheels where it exists) or else from the PyTorch CPU
# index (https://download.pytorch.org/whl/cpu). The lock records the sha256 of that wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_VERSION=3.11
PLATFORM=x86_64-manylinux_2_28

uv="$(bash scripts/uv.sh)"  # pinned, in .cache/uv-tool/ (or $UV)
[ -n "$uv" ] || { echo "[lock] could not install uv (scripts/uv.sh): is PyPI reachable?" >&2; exit 1; }

compile() {  # compile <out> <extra uv args...>
  local out="$1"; shift
  echo "[lock] $out"
  # the extras scripts/setup.sh installs: the lock is all it installs (--no-deps)
  "$uv" pip compile pyproject.toml --extra dev --extra whisper-tiny --extra snac \
    --generate-hashes --quiet \
    --python-version "$PY_VERSION" --python-platform "$PLATFORM" \
    --index-strategy unsafe-best-match --custom-compile-command "bash scripts/lock.sh" \
    --no-emit-package sastnet-pipeline -o "$out" "$@"
}

which="${1:-all}"
if [ "$which" = all ] || [ "$which" = cpu ]; then
  wheels="${TORCH_CPU_WHEELS:-/opt/wheels}"
  if compgen -G "$wheels/torch-2.13.0+cpu-*.whl" >/dev/null; then
    src=(--find-links "$wheels")
  else
    src=(--extra-index-url https://download.pytorch.org/whl/cpu)
  fi
  compile constraints/cpu.lock.txt -c constraints/cpu.txt "${src[@]}"
fi
if [ "$which" = all ] || [ "$which" = cuda ]; then
  compile constraints/cuda.lock.txt -c constraints/cuda.txt
fi
