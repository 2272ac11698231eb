#!/usr/bin/env bash
# Publish a finished default run's own reports: its dvc.lock into this checkout and its
# reports verbatim into docs/results/default.md (what the README may quote; tests/test_docs.py
# checks every number the README's results block quotes against that file).
#
#   bash scripts/publish_results.sh RUN_DIR "how the machine was while it ran"
#
# RUN_DIR: a clean clone that ran `bash scripts/run.sh` to the end (reports/summary.md present).
set -euo pipefail
run=${1:?usage: scripts/publish_results.sh RUN_DIR "machine state (idle / busy with ...)"}
state=${2:?say how the machine was during the run (idle, or busy with what)}
here="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$run/reports/summary.md" ] || { echo "$run/reports/summary.md missing: run bash scripts/run.sh there first" >&2; exit 1; }
[ -f "$run/dvc.lock" ] || { echo "$run/dvc.lock missing" >&2; exit 1; }
commit=$(git -C "$run" rev-parse --short HEAD)
if [ -n "$(git -C "$run" status --porcelain --untracked-files=no -- . ":(exclude)dvc.lock")" ]; then  # the run rewrites dvc.lock
  echo "$run has uncommitted changes to tracked files: publish only runs of a commit" >&2; exit 1
fi
profile=$(sed -n 's/^  profile: *//p' "$run/params.yaml" | head -1)
out="$here/docs/results/${profile:-default}.md"
mkdir -p "$(dirname "$out")"
# the run's dvc.lock without entries of stages its dvc.yaml no longer defines (DVC keeps them)
"$here/.venv/bin/python" - "$run" "$here/dvc.lock" <<'PY'
import subprocess, sys
from pathlib import Path
from ruamel.yaml import YAML
run, out = Path(sys.argv[1]), Path(sys.argv[2])
names = set(subprocess.run([str(run / ".venv/bin/dvc"), "stage", "list", "--name-only"], cwd=run,
                           check=True, capture_output=True, text=True).stdout.split())
yaml = YAML()
lock = yaml.load(run / "dvc.lock")
stale = [name for name in lock["stages"] if name not in names]
for name in stale:
    del lock["stages"][name]
yaml.dump(lock, out)
print(f"dvc.lock: {len(lock['stages'])} stages; dropped {len(stale)} no longer defined: {stale}")
PY
section() {  # a report verbatim, its title one level down
  [ -f "$1" ] && { printf '\n---\n\n'; sed 's/^# /## /' "$1"; }
  return 0
}
{
  echo "# Results of the \`${profile:-default}\` run (its own reports, copied, not edited)"
  echo
  echo "\`bash scripts/run.sh\` from a clean clone of commit \`$commit\` on $(nproc) CPU cores;"
  echo "machine: $state. Below: \`reports/summary.md\`, \`reports/tables/*.md\`, \`reports/knn/knn.md\`,"
  echo "\`reports/zoo.md\` and \`reports/calibration/calibration.md\` of that run, verbatim; its output"
  echo "hashes are the committed \`dvc.lock\`. Regenerate with \`bash scripts/publish_results.sh\`."
  section "$run/reports/summary.md"
  for t in table_i table_ii table_iii table_iv per_system; do section "$run/reports/tables/$t.md"; done
  section "$run/reports/knn/knn.md"
  section "$run/reports/zoo.md"
  section "$run/reports/calibration/calibration.md"
} > "$out"
echo "wrote $out ($(wc -l < "$out") lines) and dvc.lock from $run (commit $commit)"
