# shellcheck shell=bash
# The runner shared by the bash test suites (test/cluster/*.sh, test/images/run.sh): each test runs in a subshell
# with `set -e` really in force (it is ignored inside `if`/`||`), its output kept and shown only when it fails;
# PASS/FAIL/SKIP lines, `MEASURE:` lines of a passing test echoed, and a closing "N passed, N failed" count.
# Source it after setting WORK (a scratch folder the suite removes on exit).

PASSED=0; FAILED=0; SKIPPED=0; DONE=0

summary() {
  if [ "$SKIPPED" -gt 0 ]; then echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"; else echo "$PASSED passed, $FAILED failed"; fi
}

# t NAME FUNCTION [ARGS...]: exit 0 passes, 77 skips (its last line says why), anything else fails.
t() {
  local name=$1; shift
  local rc
  set +e
  ( set -e; "$@" ) >"$WORK/test.log" 2>&1
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    PASSED=$((PASSED + 1)); echo "PASS: $name"
    grep '^MEASURE:' "$WORK/test.log" | sed 's/^/    /' || true
  elif [ "$rc" = 77 ]; then
    SKIPPED=$((SKIPPED + 1)); echo "SKIP: $name ($(tail -n 1 "$WORK/test.log"))"
  else
    FAILED=$((FAILED + 1)); echo "FAIL: $name"
    tail -n 60 "$WORK/test.log" | sed 's/^/    | /'
  fi
}

fail() { echo "ASSERTION: $1"; [ $# -lt 2 ] || echo "$2"; exit 1; }

# on_exit CLEANUP [REPORT]: runs the suite's CLEANUP when it exits, also after Ctrl-C or TERM. A run that an
# unexpected error stopped before the suite's final DONE=1 still closes with a FAIL line and REPORT (default summary).
on_exit() {
  HARNESS_CLEANUP=$1; HARNESS_REPORT=${2:-summary}
  trap harness_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
harness_exit() {
  local rc=$?
  "$HARNESS_CLEANUP"
  if [ "$DONE" != 1 ]; then
    echo "FAIL: the test runner stopped unexpectedly (exit $rc)"
    FAILED=$((FAILED + 1)); "$HARNESS_REPORT"
  fi
}
skip() { echo "$*"; exit 77; }
