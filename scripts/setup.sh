#!/usr/bin/env bash
# Idempotent set-up: Debian speech synthesizers + sox, and a virtual environment in .venv/.
# A second run reuses everything (a stamp holds the hash of what the install depends on).
#
#   SASTNET_TORCH=cpu|cuda   force the torch build (default: cuda when nvidia-smi works, else cpu)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox libsndfile1)
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
[ -x .venv/bin/python ] || { echo "[setup] creating .venv"; "$PY" -m venv .venv; }
stamp=".venv/.sastnet-stamp"
want="$(cat pyproject.toml constraints/*.txt | sha256sum | cut -c1-16)-$flavour"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[setup] installing the project into .venv (torch: $flavour; takes a few minutes once)"
pip_install() {
  # pip's notes about local index folders without a package are noise here; errors still show.
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -vE "is ignored: it is neither a file nor a directory|BuildBackendWarning|^ *!!|^ *\*+$" || true; }
}
pip_install --upgrade pip
if [ "$flavour" = cpu ]; then
  pip_install -c constraints/cpu.txt torch
  pip_install -c constraints/cpu.txt -e ".[dev,whisper-tiny,snac]"
else
  pip_install -e ".[dev,whisper-tiny,snac]"
fi
.venv/bin/python -c "import torch, sastnet, pipelines" || { echo "[setup] install failed" >&2; exit 1; }
echo "$want" > "$stamp"
echo "[setup] done"
