// The page's numbers in headless Chromium: download sizes, time to the first prediction and
// per-image latency, on the WebGPU path and on the CPU path (one thread, and the threaded
// module with as many as the page takes); then ONNX Runtime Web running the same network (an
// ONNX export of the bundle's weights) in the same browser, on its wasm execution provider
// with the same thread counts, and on webgpu. Run by scripts/bench-web.sh, which makes the ResNet-50 bundle and
// its ONNX export; results go into BENCHMARKS.md by hand.
//
// Usage: node web/tests/bench.mjs <bundle dir> <model.onnx> <photo>... [--runs N] [--cpu] [--json FILE]
// (--cpu: only the page's CPU path and ORT's wasm one, as scripts/bench-zoo.sh runs it for each
// architecture: WebGPU through SwiftShader takes seconds per photo)

import { cpSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { launchChromium, serveSite } from './harness.mjs';

const root = resolve(import.meta.dirname, '../..');
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 3;
const cpuAt = args.indexOf('--cpu');
const cpuOnly = cpuAt >= 0 && args.splice(cpuAt, 1).length > 0;
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : null;
const rows = []; // what --json writes: each path's numbers
const [bundle, onnx, ...photos] = args;
if (!onnx || photos.length === 0) throw new Error('usage: bench.mjs <bundle dir> <model.onnx> <photo>... [--runs N] [--cpu] [--json FILE]');

const site = join(root, 'target', 'bench-site');
rmSync(site, { recursive: true, force: true });
cpSync(join(root, 'dist'), site, { recursive: true });
cpSync(bundle, join(site, 'model'), { recursive: true });
cpSync(join(root, 'node_modules', 'onnxruntime-web', 'dist'), join(site, 'ort'), { recursive: true });
cpSync(onnx, join(site, 'ort', 'model.onnx'));
writeFileSync(join(site, 'ort', 'index.html'), '<!doctype html><title>ONNX Runtime Web</title>');

// A host without cross-origin isolation (the page's CPU path runs on one thread, and ORT's
// wasm has no threads either) and one that sends COOP and COEP (threads for both). The
// service worker is kept out (its first-visit reload would count in the load time).
const server = await serveSite(site);
const isolating = await serveSite(site, '/', 0,
  { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
const { url } = server;
const newContext = () => browser.newContext({ serviceWorkers: 'block' });

const wasm = readFileSync(join(site, 'web_bg.wasm'));
const threadedWasm = readFileSync(join(site, 'mt', 'web_bg.wasm'));
const manifest = JSON.parse(readFileSync(join(site, 'model', 'manifest.json')));
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const brotli = (bytes) => brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
for (const [name, bytes] of [['wasm', wasm], ['threaded CPU wasm (mt/)', threadedWasm]]) {
  console.log(`${name}: ${mib(bytes.length)} raw, ${mib(gzipSync(bytes, { level: 9 }).length)} gzipped, ${mib(brotli(bytes))} brotli`);
}
console.log(`bundle: ${manifest.arch} ${manifest.precision}, ${manifest.preprocessing.crop} px, ` +
  `weights ${mib(statSync(join(site, 'model', manifest.weights.file)).size)}`);

const browser = await launchChromium();

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function classify(page, photo, count) {
  await page.setInputFiles('#picker', photo);
  await page.waitForFunction((n) => {
    const cards = document.querySelectorAll('.card');
    return cards.length === n && cards[0].dataset.state !== 'pending';
  }, count, { timeout: 0 });
  const card = await page.$eval('.card', (c) => ({ state: c.dataset.state, time: c.querySelector('.time')?.textContent, message: c.querySelector('.message')?.textContent }));
  if (card.state !== 'done') throw new Error(`${photo}: ${card.message}`);
  return Number(card.time.match(/^(\d+) ms/)[1]);
}

console.log('\n| path | model ready (s) | first prediction (s) | per image, median of later ones (ms) |');
console.log('|---|---|---|---|');
const paths = [['cpu', url], ['cpu', isolating.url], ...(cpuOnly ? [] : [['webgpu', isolating.url]])];
for (const [backend, site] of paths) {
  const context = await newContext();
  const page = await context.newPage();
  const start = Date.now();
  await page.goto(`${site}?backend=${backend}`);
  await page.waitForFunction(() => /Model ready|could not/.test(document.querySelector('#model-status').textContent), null, { timeout: 0 });
  const ready = (Date.now() - start) / 1000;
  const where = await page.textContent('#backend');
  await classify(page, photos[0], 1);
  const first = (Date.now() - start) / 1000;
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await classify(page, photos[(i + 1) % photos.length], i + 2));
  console.log(`| ${where} | ${ready.toFixed(1)} | ${first.toFixed(1)} | ${median(times)} (${times.join(', ')}) |`);
  const threads = Number(await page.getAttribute('#backend', 'data-threads')) || null;
  rows.push({ path: `page, ${backend}${threads ? `, ${threads} thread(s)` : ''}`, threads, ready_s: ready, first_s: first, ms: median(times), times });
  await context.close();
}

// ONNX Runtime Web with the page's thread counts (1, then what the threaded page took), the
// same input size, output read back to JavaScript.
const ort = JSON.parse(readFileSync(join(root, 'node_modules', 'onnxruntime-web', 'package.json')));
const pageThreads = Math.max(...rows.map((r) => r.threads ?? 1));
const ortRuns = [['wasm', 1], ...(pageThreads > 1 ? [['wasm', pageThreads]] : []), ...(cpuOnly ? [] : [['webgpu', 1]])];
for (const [provider, threads] of ortRuns) {
  const context = await newContext();
  const page = await context.newPage();
  const start = Date.now();
  await page.goto(`${isolating.url}ort/index.html`);
  const result = await page.evaluate(async ({ provider, threads, runs, crop }) => {
    const ort = await import('./ort.all.min.mjs');
    ort.env.wasm.numThreads = threads;
    const session = await ort.InferenceSession.create('model.onnx', { executionProviders: [provider] });
    const ready = performance.now();
    const input = () => new ort.Tensor('float32', Float32Array.from({ length: 3 * crop * crop }, Math.random), [1, 3, crop, crop]);
    const run = async () => {
      const feeds = { input: input() };
      const begin = performance.now();
      const { logits } = await session.run(feeds);
      await logits.getData();
      return performance.now() - begin;
    };
    await run();
    const first = performance.now();
    const times = [];
    for (let i = 0; i < runs; i++) times.push(Math.round(await run()));
    return { ready, first, times };
  }, { provider, threads, runs, crop: manifest.preprocessing.crop }).catch((error) => ({ error: error.message }));
  const label = `${ort.version}, ${provider}${provider === 'wasm' ? `, ${threads} thread(s)` : ''}`;
  if (result.error) {
    console.log(`| ONNX Runtime Web ${label} | failed: ${result.error.split('\n')[0]} | | |`);
  } else {
    const navigation = await page.evaluate(() => performance.timeOrigin);
    const since = (t) => ((navigation + t - start) / 1000).toFixed(1);
    console.log(`| ONNX Runtime Web ${label} | ${since(result.ready)} | ${since(result.first)} | ${median(result.times)} (${result.times.join(', ')}) |`);
    rows.push({ path: `ort ${label}`, threads, ready_s: Number(since(result.ready)), first_s: Number(since(result.first)), ms: median(result.times), times: result.times });
  }
  await context.close();
}
await browser.close();
server.close();
isolating.close();
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify({
    arch: manifest.arch, crop: manifest.preprocessing.crop, wasm_bytes: wasm.length,
    bundle_bytes: statSync(join(site, 'model', manifest.weights.file)).size, rows,
  }, null, 1));
}
