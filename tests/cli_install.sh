#!/usr/bin/env bash
# cmake --install into a scratch prefix, then build an example against the
# installed headers and library through pkg-config, static and shared.
. "$(dirname "$0")/lib_cli.sh"
BUILD=${SHENDU_BUILD:?run through ctest}
SRC=${SHENDU_SOURCE:?}
cmake --install "$BUILD" --prefix "$TMP/inst" >/dev/null 2>&1 && ok || bad "cmake --install failed"
for f in include/shendu.h include/shendu/tensor.h lib/libshendu.a lib/pkgconfig/shendu.pc bin/shendu; do
    [ -e "$TMP/inst/$f" ] && ok || bad "not installed: $f"
done
ls "$TMP"/inst/lib/libshendu.so* >/dev/null 2>&1 && ok || bad "shared library not installed"
export PKG_CONFIG_PATH="$TMP/inst/lib/pkgconfig"
cc -std=c11 "$SRC/examples/xor.c" -o "$TMP/xor_static" $(pkg-config --cflags shendu) \
   "$TMP/inst/lib/libshendu.a" $(pkg-config --libs-only-other --static shendu) -lpng -ljpeg -lz -lm 2>"$TMP/err" \
   && ok || bad "static link against the installed library: $(cat "$TMP/err")"
"$TMP/xor_static" | grep -q "1 xor 1 -> 0" && ok || bad "statically linked example did not learn XOR"
cc -std=c11 "$SRC/examples/xor.c" -o "$TMP/xor_shared" $(pkg-config --cflags --libs shendu) 2>"$TMP/err" \
   && ok || bad "shared link: $(cat "$TMP/err")"
LD_LIBRARY_PATH="$TMP/inst/lib" "$TMP/xor_shared" | grep -q "1 xor 1 -> 0" && ok || bad "shared example failed"
done_tests
