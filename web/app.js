// app.js — the page: loads shendu.wasm (the C library built by scripts/web-build)
// and wires the five panels to its sdw_* exports (web/shendu_web.c).
'use strict';

const $ = (id) => document.getElementById(id);
const statusEl = $('status');

// ---- WebAssembly SIMD: a module whose one function makes a v128 (i8x16.splat).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
  10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);

// ---- The few WASI calls libc makes. The module never opens a file: models
// come in as bytes. stdout/stderr lines go to the console (as info: the
// library prints nothing in normal use; errors come back via sdw_error).
function wasiImports(getMemory) {
  const ENOSYS = 52, EBADF = 8;
  const lines = ['', '', ''];
  const dec = new TextDecoder();
  const imp = {
    fd_write(fd, iovs, n, nwritten) {
      const dv = new DataView(getMemory().buffer);
      let total = 0;
      for (let i = 0; i < n; i++) {
        const p = dv.getUint32(iovs + 8 * i, true), len = dv.getUint32(iovs + 8 * i + 4, true);
        if (fd === 1 || fd === 2) {
          lines[fd] += dec.decode(new Uint8Array(getMemory().buffer, p, len));
          let k;
          while ((k = lines[fd].indexOf('\n')) >= 0) { console.info('[shendu] ' + lines[fd].slice(0, k)); lines[fd] = lines[fd].slice(k + 1); }
        }
        total += len;
      }
      dv.setUint32(nwritten, total, true);
      return fd === 1 || fd === 2 ? 0 : EBADF;
    },
    fd_read() { return EBADF; },
    fd_close() { return EBADF; },
    fd_seek() { return EBADF; },
    fd_fdstat_get() { return EBADF; },
    environ_sizes_get(count, size) {
      const dv = new DataView(getMemory().buffer);
      dv.setUint32(count, 0, true); dv.setUint32(size, 0, true); return 0;
    },
    environ_get() { return 0; },
    args_sizes_get(count, size) {
      const dv = new DataView(getMemory().buffer);
      dv.setUint32(count, 0, true); dv.setUint32(size, 0, true); return 0;
    },
    args_get() { return 0; },
    clock_time_get(id, precision, out) {
      const ns = BigInt(Math.round((id === 0 ? Date.now() : performance.now()) * 1e6));
      new DataView(getMemory().buffer).setBigUint64(out, ns, true);
      return 0;
    },
    random_get(p, n) { crypto.getRandomValues(new Uint8Array(getMemory().buffer, p, n)); return 0; },
    proc_exit(code) { throw new Error('shendu called exit(' + code + ')'); },
  };
  return new Proxy(imp, { get: (t, k) => (k in t ? t[k] : () => ENOSYS) });
}

// ---- The module and small helpers around its memory.
let W = null, S = 0;           // exports, the sdw_state pointer
const enc = new TextEncoder(), dec = new TextDecoder();
const mem = () => W.memory.buffer;
const f32 = (p, n) => new Float32Array(mem(), p, n);
const f64 = (p, n) => new Float64Array(mem(), p, n);
const i32 = (p, n) => new Int32Array(mem(), p, n);
const u8 = (p, n) => new Uint8Array(mem(), p, n);
function cstr(p) {
  if (!p) return null;
  const b = new Uint8Array(mem());
  let e = p;
  while (b[e]) e++;
  return dec.decode(b.subarray(p, e));
}
function withBytes(bytes, fn) {   // copy bytes into the module for one call
  const p = W.sdw_alloc(bytes.length + 1);
  u8(p, bytes.length).set(bytes);
  try { return fn(p, bytes.length); } finally { W.sdw_free(p); }
}
const withString = (s, fn) => withBytes(enc.encode(s + '\0'), (p) => fn(p));
const lastError = () => cstr(W.sdw_error()) || 'unknown error';
function scratch(bytes) { return W.sdw_alloc(bytes); }

function panelError(panel, msg) {
  const el = document.querySelector('#' + panel + ' .error');
  el.textContent = msg;
  el.hidden = false;
}

async function fetchModel(file) {
  const r = await fetch('models/' + file);
  if (!r.ok) throw new Error(`models/${file}: ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}

// Load a model file into the module with loader(ptr, size, nameptr); on any
// failure the panel says why (never a blank panel).
async function loadModel(panel, file, loader) {
  try {
    const bytes = await fetchModel(file);
    const rc = withString(file, (name) => withBytes(bytes, (p, n) => loader(p, n, name)));
    if (rc !== 0) throw new Error(lastError());
    return true;
  } catch (e) {
    panelError(panel, `The model ${file} could not be loaded: ${e.message}`);
    return false;
  }
}

// A number as the slides print it: at most 4 decimals, no trailing zeros, no "-0".
function num(v) {
  let s = v.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
  if (s === '-0') s = '0';
  return s;
}
const shown = (s) => s.replace('-', '\u2212');

// =========================================================================
// Convolution panel
const LECTURE_IMAGE = [-0.1, -0.1, 0, 0.1, 0.25, -0.25, 1, 1, 1, 0.3, -0.5, 1, 0.5, 1, 0.5,
  -0.25, 1, 1, 1, 0.2, -0.1, -0.2, 0, 0, 0.1];
const LECTURE_KERNEL = [-0.5, 0, 0.5, -1, 0, 1, -0.5, 0, 0.5];
const LECTURE_POOL = [-0.1, -0.1, 0, 0.1, -0.25, 0.5, 0.15, 0.2, -0.5, -1, 0.5, 0.3, -0.25, -0.75, 0.25, 1];

const conv = { step: 0, out: null, pool: null, timer: 0 };
const CONV_STEPS = 9, POOL_STEPS = 4;

function fillTable(id, vals, h, w) {
  const t = $(id);
  t.innerHTML = '';
  for (let i = 0; i < h; i++) {
    const tr = t.insertRow();
    for (let j = 0; j < w; j++) {
      const td = tr.insertCell();
      const v = vals ? vals[i * w + j] : null;
      td.dataset.value = v === null ? '' : num(v);
      td.textContent = v === null ? '·' : shown(num(v));
    }
  }
}
const cell = (id, i, j) => $(id).rows[i].cells[j];

function convSetup() {
  const pimg = scratch(25 * 4), pk = scratch(9 * 4), pout = scratch(9 * 4), pp = scratch(16 * 4), ppo = scratch(4 * 4);
  f32(pimg, 25).set(LECTURE_IMAGE); f32(pk, 9).set(LECTURE_KERNEL); f32(pp, 16).set(LECTURE_POOL);
  if (W.sdw_conv(S, pimg, 5, 5, pk, 3, 3, pout) || W.sdw_maxpool(S, pp, 4, 4, 2, ppo)) {
    panelError('conv', 'The library could not compute the example: ' + lastError());
    return;
  }
  conv.out = Array.from(f32(pout, 9));
  conv.pool = Array.from(f32(ppo, 4));
  [pimg, pk, pout, pp, ppo].forEach((p) => W.sdw_free(p));
  $('conv-step').onclick = () => convStep();
  $('conv-reset').onclick = () => { convStop(); convDraw(0); };
  $('conv-play').onclick = () => {
    if (conv.timer) { convStop(); return; }
    if (conv.step >= CONV_STEPS + POOL_STEPS) convDraw(0);
    $('conv-play').textContent = 'Pause';
    conv.timer = setInterval(() => { if (!convStep()) convStop(); }, 900);
  };
  convDraw(0);
}
function convStop() { clearInterval(conv.timer); conv.timer = 0; $('conv-play').textContent = 'Play'; }
function convStep() {
  if (conv.step >= CONV_STEPS + POOL_STEPS) return false;
  convDraw(conv.step + 1);
  return conv.step < CONV_STEPS + POOL_STEPS;
}

// Show the state after `step` steps: 1..9 convolution positions, 10..13 pooling windows.
function convDraw(step) {
  conv.step = step;
  fillTable('conv-image', LECTURE_IMAGE, 5, 5);
  fillTable('conv-kernel', LECTURE_KERNEL, 3, 3);
  fillTable('pool-in', LECTURE_POOL, 4, 4);
  const nconv = Math.min(step, CONV_STEPS);
  fillTable('conv-out', conv.out.map((v, i) => (i < nconv ? v : null)), 3, 3);
  fillTable('pool-out', conv.pool.map((v, i) => (i < step - CONV_STEPS ? v : null)), 2, 2);
  if (step >= 1 && step <= CONV_STEPS) {
    const r0 = Math.floor((step - 1) / 3), c0 = (step - 1) % 3, prods = [];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        cell('conv-image', r0 + i, c0 + j).classList.add('win');
        prods.push(LECTURE_IMAGE[(r0 + i) * 5 + c0 + j] * LECTURE_KERNEL[i * 3 + j]);
      }
    fillTable('conv-products', prods, 3, 3);
    $('conv-sum').textContent = shown(num(conv.out[step - 1]));
    cell('conv-out', r0, c0).classList.add('now');
    $('conv-phase').textContent = `convolution: position ${step} of 9`;
  } else if (step > CONV_STEPS) {
    const k = step - CONV_STEPS - 1, r0 = 2 * Math.floor(k / 2), c0 = 2 * (k % 2);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) cell('pool-in', r0 + i, c0 + j).classList.add('win');
    cell('pool-out', r0 / 2, c0 / 2).classList.add('now');
    fillTable('conv-products', null, 3, 3);
    $('conv-sum').textContent = '·';
    $('conv-phase').textContent = `max-pooling: window ${k + 1} of 4`;
  } else {
    fillTable('conv-products', null, 3, 3);
    $('conv-sum').textContent = '·';
    $('conv-phase').textContent = 'press Step';
  }
}

// =========================================================================
// Recognise panel
const DIGITS = '0,1,2,3,4,5,6,7,8,9';
const rec = { loaded: [false, false], slot: 0, drawing: false, pen: { x: 140, y: 140, down: false }, pending: 0, bufs: null };

function recSetup(loaded) {
  rec.loaded = loaded;
  const cv = $('rec-canvas'), ctx = cv.getContext('2d', { willReadFrequently: true });
  const clear = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, cv.width, cv.height); $('rec-top').innerHTML = ''; $('rec-fmaps').innerHTML = ''; };
  clear();
  ctx.strokeStyle = '#fff'; ctx.lineWidth = 20; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
  const at = (e) => { const r = cv.getBoundingClientRect(); return { x: (e.clientX - r.left) * cv.width / r.width, y: (e.clientY - r.top) * cv.height / r.height }; };
  cv.addEventListener('pointerdown', (e) => {
    e.preventDefault(); cv.setPointerCapture(e.pointerId);
    rec.drawing = true; const p = at(e); ctx.beginPath(); ctx.moveTo(p.x, p.y); ctx.lineTo(p.x + 0.01, p.y); ctx.stroke();
  });
  cv.addEventListener('pointermove', (e) => {
    if (!rec.drawing) return;
    const p = at(e); ctx.lineTo(p.x, p.y); ctx.stroke(); recSchedule();
  });
  const end = () => { if (rec.drawing) { rec.drawing = false; recPredict(); } };
  cv.addEventListener('pointerup', end);
  cv.addEventListener('pointercancel', end);
  // Keyboard: arrows move the pen, space lifts/lowers it, Delete clears.
  cv.addEventListener('keydown', (e) => {
    const d = { ArrowLeft: [-10, 0], ArrowRight: [10, 0], ArrowUp: [0, -10], ArrowDown: [0, 10] }[e.key];
    if (d) {
      e.preventDefault();
      const p = rec.pen;
      ctx.beginPath(); ctx.moveTo(p.x, p.y);
      p.x = Math.max(0, Math.min(cv.width, p.x + d[0])); p.y = Math.max(0, Math.min(cv.height, p.y + d[1]));
      if (p.down) { ctx.lineTo(p.x, p.y); ctx.stroke(); recPredict(); }
    } else if (e.key === ' ') {
      e.preventDefault(); rec.pen.down = !rec.pen.down;
      if (rec.pen.down) { ctx.beginPath(); ctx.moveTo(rec.pen.x, rec.pen.y); ctx.lineTo(rec.pen.x + 0.01, rec.pen.y); ctx.stroke(); recPredict(); }
    } else if (e.key === 'Delete' || e.key === 'Backspace') { e.preventDefault(); clear(); }
  });
  $('rec-clear').onclick = clear;
  $('rec-model').onchange = () => { rec.slot = +$('rec-model').value; recPredict(); };
  rec.clear = clear;
}
function recSchedule() { if (!rec.pending) rec.pending = setTimeout(() => { rec.pending = 0; recPredict(); }, 120); }

function recPredict() {
  const slot = rec.slot, cv = $('rec-canvas');
  if (!rec.loaded[slot]) { panelError('recognise', `The ${slot ? 'Fashion-MNIST' : 'MNIST'} model is not loaded.`); return; }
  document.querySelector('#recognise .error').hidden = true;
  const img = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
  const n = cv.width * cv.height;
  let any = false;
  const pg = scratch(n), dimsP = scratch(12);
  const g = u8(pg, n);
  for (let i = 0; i < n; i++) { g[i] = img[4 * i]; any = any || g[i] > 0; }
  if (!any) { W.sdw_free(pg); W.sdw_free(dimsP); $('rec-top').innerHTML = ''; return; }
  W.sdw_cnn_fmap_shape(S, slot, dimsP);
  const [C, H, Wd] = i32(dimsP, 3);
  const pprob = scratch(64 * 4), pin = scratch(784 * 4), pf = scratch(C * H * Wd * 4);
  const nc = W.sdw_cnn_predict(S, slot, pg, cv.width, cv.height, pprob, pin, pf);
  if (nc < 0) {
    panelError('recognise', 'Prediction failed: ' + lastError());
  } else {
    const names = (cstr(withString('classes', (k) => W.sdw_cnn_meta(S, slot, k))) || DIGITS).split(',');
    const probs = Array.from(f32(pprob, nc)).map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, 3);
    $('rec-top').innerHTML = '';
    probs.forEach(([p, i], r) => {
      const li = document.createElement('li');
      li.id = 'rec-top' + (r + 1);
      li.dataset.cls = String(i);
      li.textContent = `${names[i] ?? i} — ${(100 * p).toFixed(1)} %`;
      $('rec-top').appendChild(li);
    });
    drawGray($('rec-input'), f32(pin, 784), 28, 28, 0, 1);
    const fm = f32(pf, C * H * Wd), box = $('rec-fmaps');
    if (box.children.length !== C) { box.innerHTML = ''; for (let c = 0; c < C; c++) { const k = document.createElement('canvas'); k.width = Wd; k.height = H; box.appendChild(k); } }
    for (let c = 0; c < C; c++) {
      const m = fm.subarray(c * H * Wd, (c + 1) * H * Wd);
      let lo = Infinity, hi = -Infinity;
      for (const v of m) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      drawGray(box.children[c], m, H, Wd, lo, hi);
    }
  }
  [pg, dimsP, pprob, pin, pf].forEach((p) => W.sdw_free(p));
}

// Draw values (h, w) as gray, lo -> black, hi -> white, scaled to the canvas.
function drawGray(cv, vals, h, w, lo, hi, dx = 0, dy = 0, scale = 0) {
  const ctx = cv.getContext('2d');
  const im = ctx.createImageData(w, h), k = hi > lo ? 255 / (hi - lo) : 0;
  for (let i = 0; i < h * w; i++) {
    const v = Math.max(0, Math.min(255, (vals[i] - lo) * k));
    im.data[4 * i] = im.data[4 * i + 1] = im.data[4 * i + 2] = v; im.data[4 * i + 3] = 255;
  }
  if (!scale && cv.width === w && cv.height === h) { ctx.putImageData(im, dx, dy); return; }
  const tmp = document.createElement('canvas'); tmp.width = w; tmp.height = h; tmp.getContext('2d').putImageData(im, 0, 0);
  ctx.imageSmoothingEnabled = false;
  const s = scale || Math.min(cv.width / w, cv.height / h);
  ctx.drawImage(tmp, dx, dy, w * s, h * s);
}

// =========================================================================
// Generate panel
const gen = { nz: 0, seed: 1, z: 0, za: 0, zb: 0, out: 0 };
function genSetup() {
  gen.nz = W.sdw_gen_nz(S);
  gen.z = scratch(64 * gen.nz * 4); gen.out = scratch(64 * 784 * 4);
  gen.za = scratch(gen.nz * 4); gen.zb = scratch(gen.nz * 4);
  $('gen-new').onclick = () => { gen.seed++; genDraw(); };
  $('gen-walk').oninput = genWalk;
  genDraw();
}
function genDraw() {
  W.sdw_noise(gen.seed, gen.z, 64 * gen.nz);
  if (W.sdw_gen_run(S, gen.z, 64, gen.out)) { panelError('generate', 'The generator failed: ' + lastError()); return; }
  const cv = $('gen-grid'), o = f32(gen.out, 64 * 784);
  for (let k = 0; k < 64; k++) drawGray(cv, o.subarray(k * 784, (k + 1) * 784), 28, 28, -1, 1, (k % 8) * 28, Math.floor(k / 8) * 28, 1);
  W.sdw_noise(gen.seed * 2 + 1000001, gen.za, gen.nz);
  W.sdw_noise(gen.seed * 2 + 1000002, gen.zb, gen.nz);
  genWalk();
}
function genWalk() {
  const t = $('gen-walk').value / 100, a = f32(gen.za, gen.nz), b = f32(gen.zb, gen.nz), z = f32(gen.z, gen.nz);
  for (let i = 0; i < gen.nz; i++) z[i] = (1 - t) * a[i] + t * b[i];
  if (W.sdw_gen_run(S, gen.z, 1, gen.out)) { panelError('generate', 'The generator failed: ' + lastError()); return; }
  drawGray($('gen-one'), f32(gen.out, 784), 28, 28, -1, 1);
}

// =========================================================================
// Write panel
function writeSetup() {
  const t = $('write-temp');
  t.oninput = () => { $('write-temp-v').textContent = (t.value / 100).toFixed(2); };
  t.oninput();
  let seed = 1;
  $('write-go').onclick = () => {
    const len = 300, po = scratch(len + 1);
    const rc = withBytes(enc.encode($('write-prime').value), (p, n) => W.sdw_lm_write(S, p, n, len, t.value / 100, seed++, po));
    if (rc) panelError('write', 'The language model failed: ' + lastError());
    else $('write-out').textContent = $('write-prime').value + dec.decode(u8(po, len).slice());
    W.sdw_free(po);
  };
}

// =========================================================================
// Learn by trial: FrozenLake and CartPole
const lake = { running: false, total: 10000 };
const ARROWS = ['←', '↓', '→', '↑'];   // Gymnasium's FrozenLake actions: Left, Down, Right, Up
function lakeSetup() {
  if (W.sdw_lake_new(S, lake.total, 1)) { panelError('trial', 'FrozenLake: ' + lastError()); return; }
  $('lake-optimum').textContent = (100 * W.sdw_lake_optimum(S)).toFixed(1) + ' %';
  lakeDraw();
  $('lake-train').onclick = () => {
    if (lake.running) return;
    W.sdw_lake_new(S, lake.total, 1 + Math.floor(Math.random() * 1e6) * (lake.runs++ ? 1 : 0));
    lake.running = true; $('lake-train').disabled = true;
    const tick = () => {
      const done = W.sdw_lake_train(S, 250);
      if (done < 0) { panelError('trial', 'Q-learning failed: ' + lastError()); lake.running = false; return; }
      $('lake-episodes').textContent = String(done);
      const fin = done >= lake.total;
      const sr = W.sdw_lake_success(S, fin ? 2000 : 200, 7);
      $('lake-success').textContent = (100 * sr).toFixed(1) + ' %';
      $('lake-success').dataset.value = String(sr);
      lakeDraw();
      if (!fin) requestAnimationFrame(tick);
      else { lake.running = false; $('lake-train').disabled = false; $('lake-train').dataset.done = '1'; }
    };
    requestAnimationFrame(tick);
  };
  lake.runs = 0;
}
function lakeDraw() {
  const cv = $('lake-canvas'), ctx = cv.getContext('2d'), n = 4, c = cv.width / n;
  const Q = f64(W.sdw_lake_q(S), 64);
  let qmax = 1e-9;
  for (const v of Q) qmax = Math.max(qmax, v);
  ctx.font = `${Math.floor(c * 0.45)}px system-ui`; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
  for (let r = 0; r < n; r++) {
    const row = cstr(W.sdw_lake_grid(S, r));
    for (let k = 0; k < n; k++) {
      const s = r * n + k, t = row[k], q = Q.subarray(4 * s, 4 * s + 4);
      let best = 0; for (let a = 1; a < 4; a++) if (q[a] > q[best]) best = a;
      const v = q[best] / qmax;
      ctx.fillStyle = t === 'H' ? '#23395d' : t === 'G' ? '#3c9d4e' : `rgb(${255 - 90 * v},${255 - 30 * v},255)`;
      ctx.fillRect(k * c, r * c, c, c);
      ctx.strokeStyle = '#999'; ctx.strokeRect(k * c, r * c, c, c);
      ctx.fillStyle = t === 'H' || t === 'G' ? '#fff' : '#222';
      ctx.fillText(t === 'H' ? 'H' : t === 'G' ? 'G' : q[best] > 0 ? ARROWS[best] : t === 'S' ? 'S' : '·', k * c + c / 2, r * c + c / 2);
    }
  }
}

const pole = { timer: 0, steps: 0, training: false, haveAgent: false };
function poleSetup(haveAgent) {
  pole.haveAgent = haveAgent;
  W.sdw_pole_reset(S, 1);
  poleDraw();
  $('pole-play').onclick = () => {
    if (pole.timer) { clearInterval(pole.timer); pole.timer = 0; $('pole-play').textContent = 'Play'; return; }
    if (!pole.haveAgent) { panelError('trial', 'No CartPole agent yet: train one in the page.'); return; }
    W.sdw_pole_reset(S, Math.floor(Math.random() * 1e6)); pole.steps = 0;
    $('pole-play').textContent = 'Stop';
    pole.timer = setInterval(() => {
      const rc = W.sdw_pole_step(S);
      if (rc < 0) { panelError('trial', 'CartPole: ' + lastError()); clearInterval(pole.timer); pole.timer = 0; return; }
      pole.steps++; $('pole-steps').textContent = String(pole.steps); poleDraw();
      if (rc === 1) { clearInterval(pole.timer); pole.timer = 0; $('pole-play').textContent = 'Play'; }
    }, 20);
  };
  $('pole-train').onclick = () => {
    if (pole.training) return;
    if (W.sdw_dqn_new(S, Math.floor(Math.random() * 1e6))) { panelError('trial', 'DQN: ' + lastError()); return; }
    pole.training = true; $('pole-train').disabled = true;
    const prog = scratch(32);
    const tick = () => {
      const rc = W.sdw_dqn_train(S, 1000);
      W.sdw_dqn_progress(S, prog);
      const [step, ep, avg, solved] = f64(prog, 4);
      $('pole-info').textContent = `training in the page: step ${step}, episode ${ep}, average return ${avg.toFixed(1)}${solved ? ' — solved' : ''}`;
      if (rc === 1) { setTimeout(tick, 0); return; }
      if (rc < 0) panelError('trial', 'DQN: ' + lastError());
      W.sdw_free(prog); pole.training = false; pole.haveAgent = true; $('pole-train').disabled = false;
      $('pole-info').textContent += ' (the page\'s agent now plays)';
    };
    setTimeout(tick, 0);
  };
}
function poleDraw() {
  const cv = $('pole-canvas'), ctx = cv.getContext('2d'), o = f32(W.sdw_pole_obs(S), 4);
  const x = cv.width / 2 + o[0] * (cv.width / 4.8), y = cv.height - 40, L = 90, th = o[2];
  ctx.clearRect(0, 0, cv.width, cv.height);
  ctx.fillStyle = '#ddd'; ctx.fillRect(0, y + 15, cv.width, 3);
  ctx.fillStyle = '#444'; ctx.fillRect(x - 25, y - 8, 50, 22);
  ctx.strokeStyle = '#c77d1a'; ctx.lineWidth = 8; ctx.lineCap = 'round';
  ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + L * Math.sin(th), y - L * Math.cos(th)); ctx.stroke();
}

// =========================================================================
// Benchmark: CNN batch-1 inference and 10,000 Q-learning episodes.
function bench() {
  const lines = [`GEMM kernel: ${cstr(W.sdw_kernel(S))}`], res = {};
  // The lecture's CNN (bench/infer.c's network), batch 1: 50 warm-up passes,
  // then the median over 25 timings of 40 passes each.
  const p = scratch(784 * 4);
  const x = f32(p, 784); for (let i = 0; i < 784; i++) x[i] = (i * 37 % 255) / 255;
  if (W.sdw_bench_cnn(S, p, 50)) { lines.push('CNN: ' + lastError()); } else {
    const t = [];
    for (let r = 0; r < 25; r++) { const t0 = performance.now(); W.sdw_bench_cnn(S, p, 40); t.push((performance.now() - t0) / 40); }
    t.sort((a, b) => a - b);
    res.cnn_batch1_ms = t[12];
    lines.push(`the lecture's CNN, batch-1 inference: ${res.cnn_batch1_ms.toFixed(4)} ms (median of 25 × 40 passes)`);
  }
  W.sdw_free(p);
  const t0 = performance.now();
  W.sdw_qlearn_run(S, 10000, 1);
  res.qlearn_10000_ms = performance.now() - t0;
  lines.push(`FrozenLake Q-learning, 10,000 episodes: ${res.qlearn_10000_ms.toFixed(1)} ms`);
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  if (fcp) { res.first_contentful_paint_ms = fcp.startTime; lines.push(`first contentful paint: ${fcp.startTime.toFixed(0)} ms`); }
  $('bench-out').textContent = lines.join('\n');
  return res;
}

// =========================================================================
async function main() {
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(SIMD_PROBE)) {
    statusEl.textContent = 'This browser has no WebAssembly SIMD, which shendu needs: please use a current Chrome, Edge, Firefox or Safari (16.4 or later). 此瀏覽器不支援 WebAssembly SIMD。';
    statusEl.className = 'error';
    window.shenduReady = 'no-simd';
    return;
  }
  let memory = null;
  try {
    const imports = { wasi_snapshot_preview1: wasiImports(() => memory) };
    const r = await fetch('shendu.wasm');
    if (!r.ok) throw new Error(`shendu.wasm: ${r.status} ${r.statusText}`);
    const { instance } = await WebAssembly.instantiateStreaming(r, imports);
    W = instance.exports; memory = W.memory;
    W._initialize();
    S = W.sdw_new();
    if (!S) throw new Error(lastError());
  } catch (e) {
    statusEl.textContent = 'The WebAssembly module could not be loaded: ' + e.message;
    statusEl.className = 'error';
    window.shenduReady = 'error';
    return;
  }
  statusEl.textContent = `shendu is running in this page (GEMM kernel: ${cstr(W.sdw_kernel(S))}). Loading the models…`;
  convSetup();
  lakeSetup();
  writeSetup();
  const loaded = await Promise.all([
    loadModel('recognise', 'mnist.safetensors', (p, n, name) => W.sdw_cnn_load(S, 0, p, n, name)),
    loadModel('recognise', 'fashion.safetensors', (p, n, name) => W.sdw_cnn_load(S, 1, p, n, name)),
    loadModel('generate', 'gan.safetensors', (p, n, name) => W.sdw_gen_load(S, p, n, name)),
    loadModel('write', 'lm.safetensors', (p, n, name) => W.sdw_lm_load(S, p, n, name)),
    loadModel('trial', 'cartpole.safetensors', (p, n, name) => W.sdw_pole_load(S, p, n, name)),
  ]);
  recSetup([loaded[0], loaded[1]]);
  if (loaded[2]) genSetup();
  if (!loaded[3]) $('write-go').disabled = true;
  poleSetup(loaded[4]);
  $('bench-run').onclick = bench;
  window.shenduBench = bench;
  statusEl.textContent = `shendu is running in this page (GEMM kernel: ${cstr(W.sdw_kernel(S))}).`;
  window.shenduReady = 'ok';
}
main();
