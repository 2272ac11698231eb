#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m "not slow"` for the fast set).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$PWD/.venv/bin:$PATH" RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
