#!/usr/bin/env bash
# Idempotent set-up: Debian speech synthesizers + sox, Chromium and its driver (the MLflow UI's
# browser test, pipelines/tracking/ui.py), and a virtual environment in .venv/.
# A second run reuses everything (a stamp holds the hash of what the install depends on).
#
# Python packages come from the lock of the machine's flavour (constraints/cpu.lock.txt or
# constraints/cuda.lock.txt, refreshed by scripts/lock.sh), hash-checked.
#
#   SASTNET_TORCH=cpu|cuda   force the torch build (default: cuda when nvidia-smi works, else cpu)
#   SASTNET_LOCK=0           install pyproject.toml's ranges instead of the lock (not reproducible)
#   TORCH_CPU_WHEELS=DIR     a folder holding torch-2.13.0+cpu-*.whl (default /opt/wheels)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox libsndfile1
          chromium chromium-driver fonts-dejavu-core)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

flavour="${SASTNET_TORCH:-}"
if [ -z "$flavour" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then flavour=cuda; else flavour=cpu; fi
fi

PY="${PYTHON:-python3}"
if [ -x .venv/bin/python ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  echo "[setup] .venv is incomplete (no pip: an interrupted set-up?): recreating it"
  rm -rf .venv
fi
[ -x .venv/bin/python ] || { echo "[setup] creating .venv"; "$PY" -m venv .venv; }
stamp=".venv/.sastnet-stamp"
want="$(cat pyproject.toml constraints/*.txt | sha256sum | cut -c1-16)-$flavour-lock${SASTNET_LOCK:-1}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[setup] installing the project into .venv (torch: $flavour)"
pip_install() {
  # pip's notes about local index folders without a package are noise here; errors still show.
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -vE "is ignored: it is neither a file nor a directory|BuildBackendWarning|^ *!!|^ *\*+$" || true; }
}
pyver="$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
lock="constraints/$flavour.lock.txt"
if [ "${SASTNET_LOCK:-1}" = 1 ] && [ "$pyver" = 3.11 ] && [ "$(uname -m)" = x86_64 ]; then
  # The lock (scripts/lock.sh): every package at one version, checked against its sha256.
  torch_src=()
  if [ "$flavour" = cpu ]; then
    # torch 2.13.0+cpu is not on PyPI: a local wheel folder, else the PyTorch CPU index.
    wheels="${TORCH_CPU_WHEELS:-/opt/wheels}"
    if compgen -G "$wheels/torch-2.13.0+cpu-*.whl" >/dev/null; then
      torch_src=(--find-links "$wheels")
    else
      torch_src=(--extra-index-url https://download.pytorch.org/whl/cpu)
    fi
  fi
  uv="$(bash scripts/uv.sh)"  # pinned uv: ~10 s for the whole lock; pip when uv cannot install
  if [ -n "$uv" ]; then
    echo "[setup] installing $lock (hash-checked, uv)"
    # --compile-bytecode: pip writes .pyc at install; without them every process compiles
    # every module it imports (PYTHONDONTWRITEBYTECODE=1 machines never cache them): +5-50 s each
    uv_install() { VIRTUAL_ENV="$PWD/.venv" "$uv" pip install -q --compile-bytecode --python .venv/bin/python "$@"; }
    uv_install --require-hashes --no-deps -r "$lock" "${torch_src[@]}"
    uv_install --no-deps -e .
    VIRTUAL_ENV="$PWD/.venv" "$uv" pip check -q --python .venv/bin/python
  else
    echo "[setup] installing $lock (hash-checked, pip: uv could not be installed)"
    pip_install --upgrade pip
    pip_install --require-hashes --no-deps -r "$lock" "${torch_src[@]}"
    pip_install --no-deps -e .
    .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check >&2; exit 1; }
  fi
else
  # No lock fits (another Python or CPU architecture, or SASTNET_LOCK=0): pyproject's ranges.
  pip_install --upgrade pip
  echo "[setup] WARNING: no lock for Python $pyver on $(uname -m) (locks: Python 3.11, x86_64);" \
       "installing pyproject.toml's ranges: versions may differ from the committed results" >&2
  if [ "$flavour" = cpu ]; then
    pip_install -c constraints/cpu.txt torch
    pip_install -c constraints/cpu.txt -e ".[dev,whisper-tiny,snac]"
  else
    pip_install -c constraints/cuda.txt -e ".[dev,whisper-tiny,snac]"
  fi
fi
.venv/bin/python -c "import torch, sastnet, pipelines" || { echo "[setup] install failed" >&2; exit 1; }
echo "$want" > "$stamp"
echo "[setup] done"
