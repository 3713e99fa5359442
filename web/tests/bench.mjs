// bench.mjs — the page's benchmark, headless (scripts/web --bench):
//   node web/tests/bench.mjs BUILT_PAGE_DIR
// Prints one JSON line: CNN batch-1 inference (ms, the MNIST model of the
// Recognise panel, one thread, SIMD128), FrozenLake Q-learning 10,000
// episodes (ms, the library's sd_qlearn), first contentful paint (ms, from a
// local server) and the module's size. Timings mean something only on a
// quiet machine.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const root = process.argv[2];
if (!root) { console.error('usage: bench.mjs PAGE_DIR'); process.exit(2); }
const server = await new Promise((resolve, reject) => {
  const p = spawn('python3', [new URL('../serve.py', import.meta.url).pathname, root, '--port', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (d) => { const m = /serving (http:\/\/\S+)/.exec(d); if (m) resolve({ proc: p, url: m[1] }); });
  p.on('exit', (c) => reject(new Error('server exited with ' + c)));
});
const browser = await puppeteer.launch({
  executablePath: process.env.SHENDU_CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
let rc = 0;
try {
  const page = await browser.newPage();
  await page.goto(server.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.shenduReady, { timeout: 60000 });
  const best = {};
  for (let i = 0; i < 3; i++) {   // the best of three runs
    const r = await page.evaluate(() => window.shenduBench());
    for (const [k, v] of Object.entries(r)) best[k] = k in best ? Math.min(best[k], v) : v;
  }
  best.wasm_bytes = statSync(join(root, 'shendu.wasm')).size;
  best.kernel = await page.$eval('#status', (e) => (/GEMM kernel: (\w+)/.exec(e.textContent) || [])[1]);
  console.log(JSON.stringify(best));
} catch (e) {
  console.error('bench: ' + (e.stack || e));
  rc = 1;
} finally {
  await browser.close();
  server.proc.kill();
}
process.exit(rc);
