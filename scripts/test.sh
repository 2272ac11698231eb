#!/usr/bin/env bash
# Set up (idempotent), lint (ruff) and run the test suite. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m "not slow"` for the fast set).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$PWD/.venv/bin:$PATH" RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
# lint first (the rules: pyproject.toml, [tool.ruff.lint]); the tests run either way
.venv/bin/ruff check --quiet .
lint=$?
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
if [ "$lint" -ne 0 ]; then echo "ruff check found problems (above)" >&2; [ "$rc" -eq 0 ] && rc=1; fi
exit "$rc"
