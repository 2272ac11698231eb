#!/usr/bin/env bash
# Print the path of a pinned `uv` (installing it into .cache/uv-tool/ the first time), or
# nothing when it cannot be installed (no PyPI): callers then fall back to pip.
#
#   uv="$(bash scripts/uv.sh)"      # UV=/path/to/uv to use your own
#
# uv is never installed into .venv/; scripts/setup.sh installs the lock with it (hash-checked)
# and scripts/lock.sh compiles the locks.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION="${UV_VERSION:-0.13.9}"
if [ -n "${UV:-}" ]; then echo "$UV"; exit 0; fi
tool=.cache/uv-tool
if [ ! -x "$tool/bin/uv" ] || [ "$("$tool/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  rm -rf "$tool"
  { python3 -m venv "$tool" && "$tool/bin/python" -m pip install -q --disable-pip-version-check \
      "uv==$UV_VERSION"; } >/dev/null 2>&1 || { rm -rf "$tool"; exit 0; }
fi
echo "$PWD/$tool/bin/uv"
