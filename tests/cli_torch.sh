#!/usr/bin/env bash
# PyTorch interoperability both ways (tests/interop/torch_interop.py, Debian's
# python3-torch, which ./scripts/test installs).
. "$(dirname "$0")/lib_cli.sh"
SRC=${SHENDU_SOURCE:?}
if ! /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
    bad "python3-torch / python3-numpy missing (./scripts/test installs them): cannot check PyTorch parity"
    done_tests; exit 1
fi
"$BIN" train --model mlp --epochs 1 --limit 3000 --limit-test 100 --threads 1 --out "$TMP/mlp.safetensors" >/dev/null 2>&1 \
    && ok || bad "mlp training"
"$BIN" train --model cnn --epochs 1 --limit 2000 --limit-test 100 --threads 1 --out "$TMP/cnn.safetensors" >/dev/null 2>&1 \
    && ok || bad "cnn training"
out=$(OMP_NUM_THREADS=1 /usr/bin/python3 "$SRC/tests/interop/torch_interop.py" "$BIN" "$TMP/mlp.safetensors" \
      "$TMP/cnn.safetensors" "$TMP" 2000 2>&1) && ok || bad "interop: $out"
echo "$out" | grep -E "^(ok|FAIL)"
done_tests
