#!/usr/bin/env bash
# Publish a run's own reports: its dvc.lock and its reports verbatim into
# docs/results/<profile>.md (what the README may quote; tests/test_docs.py checks every number
# the README's results block quotes against docs/results/default.md). The lock of a default run
# becomes this checkout's dvc.lock; that of another profile goes to docs/results/<profile>.dvc.lock.
#
#   bash scripts/publish_results.sh RUN_DIR "how the machine was while it ran" ["how it was run"]
#
# RUN_DIR: a clone of a commit, on the default or a shipped profile (params.yaml a copy of
# profiles/<name>.yaml: `sastnet profile <name>`), that ran `bash scripts/run.sh` to the end
# (reports/summary.md present). The third argument replaces "`bash scripts/run.sh` from a clean
# clone" in the header, e.g. for a run published before it finished.
set -euo pipefail
run=${1:?usage: scripts/publish_results.sh RUN_DIR "machine state (idle / busy with ...)"}
state=${2:?say how the machine was during the run (idle, or busy with what)}
how=${3:-"\`bash scripts/run.sh\` from a clean clone"}
here="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$run/reports/summary.md" ] || { echo "$run/reports/summary.md missing: run bash scripts/run.sh there first" >&2; exit 1; }
[ -f "$run/dvc.lock" ] || { echo "$run/dvc.lock missing" >&2; exit 1; }
commit=$(git -C "$run" rev-parse --short HEAD)
profile=$(sed -n 's/^  profile: *//p' "$run/params.yaml" | head -1)
profile=${profile:-default}
# the run rewrites dvc.lock; params.yaml may be a shipped profile, copied verbatim
if [ -n "$(git -C "$run" status --porcelain --untracked-files=no -- . ":(exclude)dvc.lock" ":(exclude)params.yaml")" ] \
   || ! git -C "$run" show "HEAD:profiles/$profile.yaml" | cmp -s - "$run/params.yaml"; then
  echo "$run has uncommitted changes to tracked files (params.yaml other than profiles/$profile.yaml?): publish only runs of a commit" >&2; exit 1
fi
out="$here/docs/results/$profile.md"
lock_out="$here/dvc.lock"
[ "$profile" = default ] || lock_out="$here/docs/results/$profile.dvc.lock"
mkdir -p "$(dirname "$out")"
# the run's dvc.lock without entries of stages its dvc.yaml no longer defines (DVC keeps them)
"$here/.venv/bin/python" - "$run" "$lock_out" <<'PY'
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
  echo "# Results of the \`$profile\` run (its own reports, copied, not edited)"
  echo
  echo "$how of commit \`$commit\` on $(nproc) CPU cores;"
  echo "machine: $state. Below: \`reports/summary.md\`, \`reports/tables/*.md\`, \`reports/knn/knn.md\`,"
  echo "\`reports/zoo.md\` and \`reports/calibration/calibration.md\` of that run, verbatim; its output"
  echo "hashes are the committed \`${lock_out#"$here/"}\`. Regenerate with \`bash scripts/publish_results.sh\`."
  section "$run/reports/summary.md"
  for t in table_i table_ii table_iii table_iv per_system; do section "$run/reports/tables/$t.md"; done
  section "$run/reports/knn/knn.md"
  section "$run/reports/zoo.md"
  section "$run/reports/calibration/calibration.md"
} > "$out"
echo "wrote $out ($(wc -l < "$out") lines) and ${lock_out#"$here/"} from $run (commit $commit)"
