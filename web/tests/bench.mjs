// The page's numbers in headless Chromium: download sizes, time to the first prediction and
// per-image latency, on the WebGPU path and on the CPU path. Run by scripts/bench-web.sh,
// which makes the ResNet-50 bundle; results go into BENCHMARKS.md by hand.
//
// Usage: node web/tests/bench.mjs <bundle dir> <photo>... [--runs N]

import { cpSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { launchChromium, serveSite } from './harness.mjs';

const root = resolve(import.meta.dirname, '../..');
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 3;
const [bundle, ...photos] = args;
if (!bundle || photos.length === 0) throw new Error('usage: bench.mjs <bundle dir> <photo>... [--runs N]');

const site = join(root, 'target', 'bench-site');
rmSync(site, { recursive: true, force: true });
cpSync(join(root, 'dist'), site, { recursive: true });
cpSync(bundle, join(site, 'model'), { recursive: true });

const server = await serveSite(site);
const { url } = server;

const wasm = readFileSync(join(site, 'web_bg.wasm'));
const manifest = JSON.parse(readFileSync(join(site, 'model', 'manifest.json')));
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
console.log(`wasm: ${mib(wasm.length)} raw, ${mib(gzipSync(wasm, { level: 9 }).length)} gzipped`);
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
for (const backend of ['webgpu', 'cpu']) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const start = Date.now();
  await page.goto(`${url}?backend=${backend}`);
  await page.waitForFunction(() => /Model ready|could not/.test(document.querySelector('#model-status').textContent), null, { timeout: 0 });
  const ready = (Date.now() - start) / 1000;
  const where = await page.textContent('#backend');
  await classify(page, photos[0], 1);
  const first = (Date.now() - start) / 1000;
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await classify(page, photos[(i + 1) % photos.length], i + 2));
  console.log(`| ${where} | ${ready.toFixed(1)} | ${first.toFixed(1)} | ${median(times)} (${times.join(', ')}) |`);
  await context.close();
}
await browser.close();
server.close();
