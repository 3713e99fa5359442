# Helpers for the CLI tests (sourced). SHENDU_BIN and SHENDU_TEST_TMP come from ctest.
set -u
BIN=${SHENDU_BIN:?run through ctest}
TMP=${SHENDU_TEST_TMP:-/tmp}/$(basename "$0" .sh).$$
mkdir -p "$TMP"
# Open MPI's session directory, one per test: tests run in parallel (ctest -j)
# must not create and remove the same /tmp/ompi.HOST.UID under each other.
export OMPI_MCA_orte_tmpdir_base=$(mktemp -d /tmp/shendu-ompi.XXXXXX)
trap 'rm -rf "$TMP" "$OMPI_MCA_orte_tmpdir_base"' EXIT
passed=0 failed=0
ok()   { passed=$((passed + 1)); }
bad()  { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# expect CODE PATTERN CMD...: run CMD, check its exit code and that stdout+stderr match PATTERN
expect() {
    local code=$1 pat=$2; shift 2
    local out rc
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" != "$code" ]; then bad "$* exited $rc, expected $code: $out"; return; fi
    if ! grep -qE -- "$pat" <<<"$out"; then bad "$*: output does not match '$pat': $out"; return; fi
    ok
}
done_tests() { echo "$(basename "$0" .sh): $passed passed, $failed failed"; [ "$failed" = 0 ]; }
