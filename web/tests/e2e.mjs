// e2e.mjs — the page's end-to-end tests in Debian's headless Chromium
// (puppeteer-core, no browser download), no network beyond 127.0.0.1.
//   node web/tests/e2e.mjs BUILT_PAGE_DIR SCREENSHOT_DIR
// Checks: the module loads with SIMD and every model loads; the convolution
// panel, stepped, shows the lecture's 3x3 feature map and 2x2 pooling result;
// pictures drawn on the canvas stroke by stroke (mouse, keyboard, finger) are
// recognised; every panel has its English and Chinese sentence; the GAN and
// the LSTM produce output; FrozenLake Q-learning trained in the page reaches
// the optimum's neighbourhood; the CartPole agent balances; a page without
// WebAssembly SIMD shows the notice; a broken model file shows a message in
// its panel; the page fits a phone-sized screen. Any console error or failed
// request fails the run. One screenshot per panel goes to SCREENSHOT_DIR.
import { spawn } from 'node:child_process';
import { mkdirSync, cpSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const [root, shots] = process.argv.slice(2);
if (!root || !shots) { console.error('usage: e2e.mjs PAGE_DIR SCREENSHOT_DIR'); process.exit(2); }
mkdirSync(shots, { recursive: true });

let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) { passed++; console.log('  ok   ' + what); } else { failed++; console.log('  FAIL ' + what); }
}

function serve(dir) {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', [new URL('../serve.py', import.meta.url).pathname, dir, '--port', '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d) => { const m = /serving (http:\/\/\S+)/.exec(d); if (m) resolve({ proc: p, url: m[1] }); });
    p.on('exit', (c) => reject(new Error('server exited with ' + c)));
  });
}

async function openPage(browser, url, errors, opts = {}) {
  const page = await browser.newPage();
  await page.setViewport(opts.viewport || { width: 1000, height: 900 });
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.hostname === '127.0.0.1' || u.protocol === 'data:') r.continue();
    else { errors.push('request outside 127.0.0.1: ' + r.url()); r.abort(); }
  });
  const allowed = (u) => (opts.allow404 || []).some((s) => u.endsWith(s));
  page.on('console', (m) => {   // an allowed 404 (a missing model, on purpose) is logged by the browser too
    if (m.type() === 'error' && !(allowed(m.location()?.url || '') && /404/.test(m.text()))) errors.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.on('requestfailed', (r) => errors.push('request failed: ' + r.url()));
  page.on('response', (r) => { if (r.status() >= 400 && !allowed(r.url())) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  if (opts.before) await opts.before(page);
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.shenduReady, { timeout: 60000 });
  return page;
}

// Draw polylines given in 0..1 coordinates of the canvas, one mouse stroke each.
async function draw(page, strokes) {
  const box = await (await page.$('#rec-canvas')).boundingBox();
  for (const s of strokes) {
    const pt = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
    await page.mouse.move(...pt(s[0]));
    await page.mouse.down();
    for (let i = 1; i < s.length; i++) {
      const [x0, y0] = s[i - 1], [x1, y1] = s[i];
      for (let k = 1; k <= 6; k++) await page.mouse.move(...pt([x0 + (x1 - x0) * k / 6, y0 + (y1 - y0) * k / 6]));
    }
    await page.mouse.up();
  }
  await page.waitForFunction(() => document.querySelector('#rec-top1'), { timeout: 10000 });
}
// The same strokes with a finger (touch events; the page needs a touch viewport).
async function drawTouch(page, strokes) {
  await page.$eval('#rec-canvas', (c) => c.scrollIntoView({ block: 'center' }));
  const box = await (await page.$('#rec-canvas')).boundingBox();
  const pt = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  for (const s of strokes) {
    await page.touchscreen.touchStart(...pt(s[0]));
    for (let i = 1; i < s.length; i++) {
      const [x0, y0] = s[i - 1], [x1, y1] = s[i];
      for (let k = 1; k <= 6; k++) await page.touchscreen.touchMove(...pt([x0 + (x1 - x0) * k / 6, y0 + (y1 - y0) * k / 6]));
    }
    await page.touchscreen.touchEnd();
  }
  await page.waitForFunction(() => document.querySelector('#rec-top1'), { timeout: 10000 });
}
const top1 = (page) => page.$eval('#rec-top1', (e) => ({ cls: +e.dataset.cls, text: e.textContent }));

// Pictures drawn as a person would: strokes in canvas coordinates (0..1).
const DIGITS = {
  1: [[[0.5, 0.15], [0.5, 0.85]]],
  7: [[[0.28, 0.2], [0.72, 0.2], [0.45, 0.85]]],
  0: [[[0.5, 0.15], [0.7, 0.3], [0.72, 0.6], [0.5, 0.85], [0.3, 0.7], [0.28, 0.35], [0.5, 0.15]]],
  4: [[[0.35, 0.15], [0.28, 0.55], [0.72, 0.55]], [[0.62, 0.3], [0.62, 0.88]]],
};
const TROUSERS = [   // a filled waistband, then two thick legs apart
  [[0.33, 0.13], [0.67, 0.13]], [[0.33, 0.2], [0.67, 0.2]], [[0.33, 0.27], [0.67, 0.27]],
  [[0.33, 0.13], [0.31, 0.9]], [[0.38, 0.13], [0.37, 0.9]], [[0.43, 0.2], [0.43, 0.9]],
  [[0.57, 0.2], [0.57, 0.9]], [[0.62, 0.13], [0.63, 0.9]], [[0.67, 0.13], [0.69, 0.9]]];

const server = await serve(root);
const browser = await puppeteer.launch({
  executablePath: process.env.SHENDU_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-default-apps', '--disable-sync'],
});
try {
  // ---- The page as a user sees it.
  const errors = [];
  const page = await openPage(browser, server.url, errors);
  check(await page.evaluate(() => window.shenduReady) === 'ok', 'the module loads (WebAssembly SIMD)');
  const status = await page.$eval('#status', (e) => e.textContent);
  check(/GEMM kernel: simd128/.test(status), 'the SIMD128 GEMM kernel runs: ' + status);
  check(await page.$$eval('.panel .error', (es) => es.every((e) => e.hidden)), 'every model loads (no panel shows an error)');
  await page.screenshot({ path: join(shots, 'page.png'), fullPage: true });

  // ---- Every panel says what it shows in a sentence, English with Chinese beside it.
  const says = await page.$$eval('.panel', (ps) => ps.map((p) => {
    const e = p.querySelector('.says'), zh = e && e.querySelector('[lang="zh"]');
    const en = e ? [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join(' ') : '';
    return { id: p.id, en: /[A-Za-z]{3,}.*[A-Za-z]{3,}/.test(en), zh: !!zh && /[\u4e00-\u9fff]{4,}/.test(zh.textContent) };
  }));
  check(says.length === 6 && says.every((x) => x.en && x.zh),
    'every panel says what it shows in English and Chinese: ' + says.map((x) => `${x.id} ${x.en ? 'en' : '-'}+${x.zh ? 'zh' : '-'}`).join(', '));

  // ---- Convolution: step through the lecture's example.
  for (let i = 0; i < 9; i++) await page.click('#conv-step');
  const fmap = await page.$$eval('#conv-out td', (tds) => tds.map((t) => t.dataset.value));
  check(fmap.join(' ') === '1.8 0.1 -0.575 2.25 0 -0.75 1.8 0.1 -0.75', 'convolution: the 3x3 feature map is the lecture\'s: ' + fmap.join(' '));
  const sum = await page.$eval('#conv-sum', (e) => e.textContent);
  check(sum === '\u22120.75', 'convolution: the last position\'s sum is −0.75');
  const prods = await page.$$eval('#conv-products td', (tds) => tds.map((t) => t.dataset.value));
  const psum = prods.reduce((t, v) => t + +v, 0);
  check(prods.length === 9 && prods[0] === '-0.25' && Math.abs(psum + 0.75) < 1e-6,
    'convolution: the last position\'s nine products, which sum to −0.75: ' + prods.join(' '));
  await (await page.$('#conv')).screenshot({ path: join(shots, 'conv.png') });
  for (let i = 0; i < 4; i++) await page.click('#conv-step');
  const pool = await page.$$eval('#pool-out td', (tds) => tds.map((t) => t.dataset.value));
  check(pool.join(' ') === '0.5 0.2 -0.25 1', 'max-pooling: the lecture\'s 0.5 0.2 / −0.25 1: ' + pool.join(' '));
  // keyboard: the buttons are reachable and work with Enter
  await page.focus('#conv-reset'); await page.keyboard.press('Enter');
  await page.focus('#conv-step'); await page.keyboard.press('Enter');
  check(await page.$$eval('#conv-out td', (tds) => tds.filter((t) => t.dataset.value !== '').length) === 1, 'convolution: reset and step by keyboard');

  // ---- Recognise: digits drawn stroke by stroke.
  for (const [digit, strokes] of Object.entries(DIGITS)) {
    await page.click('#rec-clear');
    await draw(page, strokes);
    const t = await top1(page);
    check(t.cls === +digit, `recognise: a drawn ${digit} is read as ${t.text}`);
  }
  // keyboard: on the focused canvas the arrows move the pen, space lowers and lifts it
  await page.click('#rec-clear');
  await page.focus('#rec-canvas');
  for (let i = 0; i < 9; i++) await page.keyboard.press('ArrowUp');
  await page.keyboard.press(' ');
  for (let i = 0; i < 19; i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press(' ');
  await page.waitForFunction(() => document.querySelector('#rec-top1'), { timeout: 10000 });
  const tk = await top1(page);
  check(tk.cls === 1, 'recognise by keyboard: a stroke drawn with the arrow keys is read as ' + tk.text);
  const nmaps = await page.$$eval('#rec-fmaps canvas', (c) => c.length);
  check(nmaps > 0, `recognise: ${nmaps} feature maps of the first layer are drawn`);
  await (await page.$('#recognise')).screenshot({ path: join(shots, 'recognise.png') });
  await page.select('#rec-model', '1');
  await page.click('#rec-clear');
  await draw(page, TROUSERS);
  const tt = await top1(page);
  check(tt.cls === 1, 'recognise (Fashion-MNIST): drawn trousers are read as ' + tt.text);

  // ---- Generate: an 8x8 grid with content, and the walk between two noise vectors changes the picture.
  const ink = () => page.$eval('#gen-one', (c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i]; return s; });
  const a = await ink();
  await page.$eval('#gen-walk', (e) => { e.value = 100; e.dispatchEvent(new Event('input')); });
  const b = await ink();
  check(a > 0 && b > 0 && a !== b, 'generate: the walk from z1 to z2 draws different pictures');
  await page.focus('#gen-walk');   // keyboard: the slider moves with the arrow keys
  for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowLeft');
  const walked = await page.$eval('#gen-walk', (e) => +e.value);
  const c = await ink();
  check(walked < 100 && c !== b, `generate: the walk slider moves by keyboard (now at ${walked})`);
  // Pictures, not noise: like every training image, the samples' borders are
  // darker than their middles (G's output on the 8x8 grid, 64 samples).
  const [edge, mid] = await page.$eval('#gen-grid', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let e = 0, ne = 0, m = 0, nm = 0;
    for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
      const u = x % 28, v = y % 28, r = Math.max(Math.abs(u - 13.5), Math.abs(v - 13.5));
      if (r > 11.5) { e += d[4 * (y * c.width + x)]; ne++; } else if (r < 7) { m += d[4 * (y * c.width + x)]; nm++; }
    }
    return [e / ne, m / nm];
  });
  check(mid > edge + 30, `generate: the samples are pictures (border ${edge.toFixed(0)}, middle ${mid.toFixed(0)} of 255)`);
  await (await page.$('#generate')).screenshot({ path: join(shots, 'generate.png') });

  // ---- Write: the LSTM writes 300 characters after the prime.
  await page.click('#write-go');
  const text = await page.$eval('#write-out', (e) => e.textContent);
  check(text.startsWith('The ') && text.length >= 300, `write: ${text.length} characters: ${JSON.stringify(text.slice(0, 60))}…`);
  await (await page.$('#write')).screenshot({ path: join(shots, 'write.png') });

  // ---- Learn by trial: Q-learning trained in the page.
  await page.click('#lake-train');
  await page.waitForFunction(() => document.querySelector('#lake-train').dataset.done === '1', { timeout: 120000 });
  const sr = await page.$eval('#lake-success', (e) => +e.dataset.value);
  const opt = await page.$eval('#lake-optimum', (e) => parseFloat(e.textContent) / 100);
  check(Math.abs(opt - 0.744) < 0.01, `FrozenLake: the best possible success is 74.4 % (page: ${(100 * opt).toFixed(1)} %)`);
  check(sr >= opt - 0.08, `FrozenLake: Q-learning reaches the optimum's neighbourhood: ${(100 * sr).toFixed(1)} % of 2000 episodes (optimum ${(100 * opt).toFixed(1)} %)`);
  // CartPole: the CLI's agent balances the pole (Play, watch the steps grow past 100).
  await page.click('#pole-play');
  await page.waitForFunction(() => +document.querySelector('#pole-steps').textContent >= 100, { timeout: 30000 });
  check(true, 'CartPole: the DQN agent keeps the pole up for 100 steps');
  await (await page.$('#trial')).screenshot({ path: join(shots, 'trial.png') });
  await page.click('#pole-play');

  // ---- Benchmark runs (its numbers are not checked here).
  const res = await page.evaluate(() => window.shenduBench());
  check(res.qlearn_10000_ms > 0 && res.cnn_batch1_ms > 0, 'benchmark runs: ' + JSON.stringify(res));

  // ---- A phone-sized screen: nothing wider than the viewport.
  await page.setViewport({ width: 375, height: 740, isMobile: true, hasTouch: true });
  await page.waitForFunction(() => window.shenduReady, { timeout: 60000 });   // a touch viewport reloads the page
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 375, `phone-sized screen: the page is ${wide}px wide in a 375px viewport`);
  await page.screenshot({ path: join(shots, 'phone.png'), fullPage: false });
  // touch: a finger draws on the canvas on the phone-sized screen
  await page.select('#rec-model', '0');
  await page.click('#rec-clear');
  await drawTouch(page, DIGITS[7]);
  const tt7 = await top1(page);
  check(tt7.cls === 7, 'recognise by touch: a 7 drawn with a finger is read as ' + tt7.text);
  check(errors.length === 0, 'no console errors or failed requests' + (errors.length ? ': ' + errors.join('; ') : ''));
  await page.close();

  // ---- A broken model file: the panel says so; the rest of the page works.
  const broken = join(shots, 'broken-page');
  rmSync(broken, { recursive: true, force: true });
  cpSync(root, broken, { recursive: true });
  writeFileSync(join(broken, 'models', 'gan.safetensors'), 'not a safetensors file');
  rmSync(join(broken, 'models', 'lm.safetensors'));
  const srv2 = await serve(broken);
  const errors2 = [];
  const p2 = await openPage(browser, srv2.url, errors2, { allow404: ['lm.safetensors'] });
  const genErr = await p2.$eval('#generate .error', (e) => (e.hidden ? '' : e.textContent));
  const lmErr = await p2.$eval('#write .error', (e) => (e.hidden ? '' : e.textContent));
  check(/gan\.safetensors/.test(genErr), 'a corrupt model file: its panel says ' + JSON.stringify(genErr));
  check(/lm\.safetensors.*404/.test(lmErr), 'a missing model file: its panel says ' + JSON.stringify(lmErr));
  check(await p2.$eval('#status', (e) => !e.classList.contains('error')), 'the rest of the page still runs');
  check(errors2.length === 0, 'no console errors with the broken models' + (errors2.length ? ': ' + errors2.join('; ') : ''));
  await p2.close();
  srv2.proc.kill();

  // ---- A browser without WebAssembly SIMD: a clear notice.
  const errors3 = [];
  const p3 = await openPage(browser, server.url, errors3, {
    before: (pg) => pg.evaluateOnNewDocument(() => {
      const v = WebAssembly.validate.bind(WebAssembly);
      WebAssembly.validate = (b) => (b.length < 64 ? false : v(b));   // the page's SIMD probe fails
    }),
  });
  const notice = await p3.$eval('#status', (e) => e.textContent);
  check(await p3.evaluate(() => window.shenduReady) === 'no-simd' && /SIMD/.test(notice), 'no WebAssembly SIMD: ' + notice);
  await p3.screenshot({ path: join(shots, 'no-simd.png') });
  check(errors3.length === 0, 'no console errors without SIMD');
  await p3.close();
} catch (e) {
  check(false, 'the test ran to its end: ' + (e.stack || e));
} finally {
  await browser.close();
  server.proc.kill();
}
console.log(`web e2e: ${passed} passed, ${failed} failed (screenshots in ${shots})`);
process.exit(failed ? 1 : 0);
