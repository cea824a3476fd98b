# Sourced by the GPU scripts (gpu_check.sh, gpu_sweep.sh, gpu_nb_fullsize.sh): stages that each
# run whatever became of the ones before, and an exit status that reports every failure.
#
#   run_stage "N. name" FUNCTION [ARGS...]
#       runs FUNCTION in a subshell with errexit and pipefail, so that its first failing command,
#       a failing command anywhere in a pipeline (`fit | tee log` fails when the fit does) and a
#       `timeout` that ran out (124) fail the stage; prints and keeps the stage's status, and
#       returns 0 so that the later stages run;
#   finish_stages
#       prints every stage's status, writes it to $OUT_DIR/stages.txt, and exits 1 when any
#       stage failed, else 0;
#   record_to FILE
#       the end of a pipe: writes the provenance lines ($OUT_DIR/provenance.txt: commit, sources'
#       digest, versions, device; gpu_env.sh writes them) and then its input to FILE, and passes
#       the input on to standard output: every record a stage writes names the commit.
#
# SKIP="2 3" leaves out the stages numbered 2 and 3 (reported as skipped, not as failed).
# DRY_RUN=1 runs no stage: each prints the commands it would run. DRY_RUN_FAIL="2" makes stage 2
# fail in a dry run, to check a script's handling of a failure without a GPU (tests/test_gpu_scripts.py).
set -euo pipefail

STAGES_START=$(date +%s)
STAGES_STATUS=()
STAGES_FAILED=0

_stage_key() { local key=${1%%.*}; echo "${key// /}"; }

run_stage() {
  local name=$1 key rc=0
  shift
  key=$(_stage_key "$name")
  echo
  echo "=== $name ($(( $(date +%s) - STAGES_START )) s)"
  if [[ " ${SKIP:-} " == *" $key "* ]]; then
    echo "skipped (SKIP)"
    STAGES_STATUS+=("$name: skipped (SKIP)")
    return 0
  fi
  if [[ -n ${DRY_RUN:-} ]]; then
    echo "dry run: would run"
    declare -f "$1" 2>/dev/null || echo "$*"
    [[ " ${DRY_RUN_FAIL:-} " == *" $key "* ]] && rc=1
  else
    set +e
    ( set -euo pipefail; "$@" )
    rc=$?
    set -e
  fi
  if (( rc )); then
    STAGES_FAILED=$(( STAGES_FAILED + 1 ))
    STAGES_STATUS+=("$name: FAILED (exit $rc)")
    echo "=== $name: FAILED (exit $rc)"
  else
    STAGES_STATUS+=("$name: ok")
  fi
  return 0
}

finish_stages() {
  echo
  echo "=== stages ($(( $(date +%s) - STAGES_START )) s)"
  printf '%s\n' "${STAGES_STATUS[@]}" | tee "${OUT_DIR:?}/stages.txt"
  if (( STAGES_FAILED )); then
    echo "$STAGES_FAILED stage(s) failed" | tee -a "$OUT_DIR/stages.txt"
    exit 1
  fi
  exit 0
}

record_to() {
  { cat "${OUT_DIR:?}/provenance.txt" 2>/dev/null || echo "provenance: missing ($OUT_DIR/provenance.txt)"; echo; } > "$1"
  tee -a "$1"
}
