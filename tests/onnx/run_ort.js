// node run_ort.js MODEL.onnx REF.json: run an exported model in ONNX Runtime
// (onnxruntime-node, found through NODE_PATH) on the inputs that
// tests/onnx/onnx_ref wrote, and compare every output with shendu's own:
// float outputs to <= 1e-5 max abs difference, integer outputs exactly.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const TOL = 1e-5;

function load(dir, t) {
  const buf = fs.readFileSync(path.join(dir, t.file));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return t.type === 'int64' ? new BigInt64Array(ab) : new Float32Array(ab);
}

async function main() {
  const [model, refPath] = process.argv.slice(2);
  const ref = JSON.parse(fs.readFileSync(refPath, 'utf8'));
  const dir = path.dirname(refPath);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  let failed = 0;
  for (const [r, run] of ref.runs.entries()) {
    const feeds = {};
    for (const [name, t] of Object.entries(run.inputs)) feeds[name] = new ort.Tensor(t.type, load(dir, t), t.dims);
    const out = await session.run(feeds);
    for (const [name, t] of Object.entries(run.expect)) {
      const want = load(dir, t), got = out[name];
      if (!got) { console.log(`${model} run ${r}: no output '${name}'`); failed++; continue; }
      if (JSON.stringify(got.dims.map(Number)) !== JSON.stringify(t.dims)) {
        console.log(`${model} run ${r}: ${name} has dims [${got.dims}], expected [${t.dims}]`);
        failed++;
        continue;
      }
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        const d = t.type === 'int64' ? (got.data[i] === want[i] ? 0 : Infinity) : Math.abs(got.data[i] - want[i]);
        if (!(d <= worst)) worst = d;   // NaN counts as a difference
      }
      const ok = worst <= TOL;
      console.log(`${path.basename(model)} run ${r}: ${name} [${t.dims}] max abs diff ${worst.toExponential(2)} ${ok ? 'ok' : 'FAIL'}`);
      if (!ok) failed++;
    }
  }
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error(`${process.argv[2]}: ${e.message || e}`); process.exit(1); });
