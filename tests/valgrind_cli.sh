#!/usr/bin/env bash
# The CLI's train / eval / predict paths under valgrind: no invalid accesses and
# no definite leaks. Registered by ctest only in a portable build
# (-DSHENDU_NATIVE=OFF -DSHENDU_VALGRIND=ON): valgrind cannot run AVX-512 code.
. "$(dirname "$0")/lib_cli.sh"
command -v valgrind >/dev/null || { bad "valgrind is not installed"; done_tests; exit 1; }
export SHENDU_GEMM_KERNEL=avx2      # the widest kernel valgrind decodes
VG=(valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite)
run() { "${VG[@]}" "$@" >"$TMP/vg.log" 2>&1; local rc=$?; [ $rc = 0 ] && ok || bad "valgrind ($rc): $* : $(tail -30 "$TMP/vg.log")"; }
run "$BIN" train --model mlp --epochs 1 --limit 256 --limit-test 100 --threads 1 --out "$TMP/m.safetensors"
run "$BIN" train --model cnn --epochs 1 --limit 128 --limit-test 50 --threads 2 --out "$TMP/c.safetensors" --checkpoint "$TMP/ck.safetensors"
run "$BIN" eval "$TMP/c.safetensors" --limit 100
run "$BIN" eval "$TMP/m.safetensors" --limit 100 --threads 2
run "$BIN" show "$TMP/c.safetensors" --out "$TMP/show"
run "$BIN" predict "$TMP/c.safetensors" "$TMP/show/input.png" --json
# failures must not leak either
printf 'junk' > "$TMP/junk.png"
"${VG[@]}" "$BIN" predict "$TMP/c.safetensors" "$TMP/junk.png" >"$TMP/vg.log" 2>&1; rc=$?
[ $rc = 1 ] && ok || bad "valgrind on a bad PNG: exit $rc: $(tail -20 "$TMP/vg.log")"
"${VG[@]}" "$BIN" eval "$TMP/junk.png" >"$TMP/vg.log" 2>&1; rc=$?
[ $rc = 1 ] && ok || bad "valgrind on a bad model file: exit $rc: $(tail -20 "$TMP/vg.log")"
done_tests
