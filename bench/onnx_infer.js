// node bench/onnx_infer.js MODEL.onnx THREADS [n]: ONNX Runtime (onnxruntime-node,
// through NODE_PATH) on a model shendu exported, measured as bench_infer_model
// measures shendu: batch-1 latency (50 warm-up runs, then the median and 90th
// percentile of 1000) and batch-256 throughput over n images (default 10,000;
// 4 passes, the first a warm-up, the median of the others). Random pixels
// 0..255 as float32. Node's own call overhead (about 10 us) is in the figures.
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [model, threadsArg, nArg] = process.argv.slice(2);
  const threads = Number(threadsArg || 1), n = Number(nArg || 10000);
  const s = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const meta = s.inputMetadata ? s.inputMetadata[0] : null;
  const input = s.inputNames[0];
  // one example's shape: from the file's metadata (shendu.input), as exported
  const dims = (meta && meta.shape ? meta.shape.slice(1) : [1, 28, 28]).map(Number);
  const din = dims.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * din);
  for (let i = 0; i < x.length; i++) x[i] = Math.floor(Math.random() * 256);
  const run = (i, b) => s.run({ [input]: new ort.Tensor('float32', x.subarray(i * din, (i + b) * din), [b, ...dims]) });
  for (let i = 0; i < 50; i++) await run(i, 1);
  const lat = [];
  for (let i = 0; i < 1000; i++) {
    const t0 = process.hrtime.bigint();
    await run(i % n, 1);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  lat.sort((a, b) => a - b);
  const thr = [];
  for (let pass = 0; pass < 4; pass++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i += 256) await run(i, Math.min(256, n - i));
    thr.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  const rest = thr.slice(1).sort((a, b) => a - b);
  console.log(JSON.stringify({ threads, infer_b1_latency_ms_median: lat[500], infer_b1_latency_ms_p90: lat[900],
                               infer_b256_images_per_s: rest[1] }));
}
main().catch((e) => { console.error(`onnx_infer: ${e.message || e}`); process.exit(1); });
