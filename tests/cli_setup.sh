#!/usr/bin/env bash
# scripts/setup sees the packages its caller names, however they are passed
# (issue 15, point 0): a missing one is reported and fails, never ignored.
set -euo pipefail
src=${SHENDU_SOURCE:?}
cd "$src"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export SHENDU_SETUP_DRY=1
fail() { echo "cli_setup: $*" >&2; exit 1; }
# the assignment that lasts only for the `.` command
if bash -c 'SHENDU_EXTRA_PKGS="no-such-package-shendu" . scripts/setup; shendu_need_pkgs' 2>"$tmp/err"; then
    fail "a missing package passed with a one-command assignment"
fi
grep -q "no-such-package-shendu" "$tmp/err" || { cat "$tmp/err"; fail "the missing package is not named"; }
# exported
if bash -c 'export SHENDU_EXTRA_PKGS="no-such-package-shendu"; . scripts/setup; shendu_need_pkgs' 2>/dev/null; then
    fail "a missing package passed when exported"
fi
# nothing extra: the base packages are installed on a machine that built this
bash -c '. scripts/setup; shendu_need_pkgs' 2>"$tmp/err" || { cat "$tmp/err"; fail "base packages reported missing"; }
echo "cli_setup: ok"
