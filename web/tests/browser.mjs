// The page in a real browser (Debian's chromium, driven by playwright-core), on the WebGPU
// path (SwiftShader) and on the CPU path: it must give the probabilities `trainer classify
// --json` gives for the same photos and bundle (of a ResNet, and of users' MobileNetV3-Small
// and ConvNeXt-Tiny bundles), a clear message for each bad file, load the
// model from the Cache API on the second visit, and refuse a damaged bundle. Then 50 photos
// dropped at once (the bad-input corpus among them), bundles too large to load, and a browser
// that gives the page too little memory for a big photo or bundle.
//
// Needs the site in dist/ (`trunk build --release`; scripts/test.sh builds it with the site-ci
// profile), the trainer binary and the fixtures example, which
// `cargo test --workspace` builds, in the target folder given or CARGO_TARGET_DIR or target/.
// Usage: node web/tests/browser.mjs [target dir]   (writes target/browser-test/ of this clone)

import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync, closeSync, cpSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { taskName } from '../www/dom.js';
import { launchChromium, serveSite } from './harness.mjs';

const root = resolve(import.meta.dirname, '../..');
const target = resolve(process.argv[2] ?? process.env.CARGO_TARGET_DIR ?? join(root, 'target'));
const work = join(root, 'target', 'browser-test');
const trainer = join(target, 'debug', 'trainer');
const TOLERANCE = 1e-3;

function log(message) {
  console.log(`[browser test] ${message}`);
}

// ---- fixtures: a small trained model, good photos, bad files ----------------------------

rmSync(work, { recursive: true, force: true });
const site = join(work, 'site');
cpSync(join(root, 'dist'), site, { recursive: true });
log('training the demo model (toy data, ResNet-18 at 64 px)');
execFileSync(trainer, ['demo', '--out', join(work, 'demo'), '--bundle', join(site, 'model'),
  '--per-class', '8', '--epochs', '1', '--device', 'cpu'], { stdio: ['ignore', 'ignore', 'inherit'] });

// One model of three tasks (a garment head besides), as a user's bundle, and a photo of each.
const MULTI_TASKS = ['skirt_length_labels', 'sleeve_length_labels', 'coat_length_labels'];
const multiBundle = join(work, 'multi-task-bundle');
execFileSync(trainer, ['demo', '--tasks', MULTI_TASKS.join(','), '--out', join(work, 'multi-demo'), '--bundle', multiBundle,
  '--per-class', '4', '--epochs', '1', '--device', 'cpu'], { stdio: ['ignore', 'ignore', 'inherit'] });
const multiPhotos = MULTI_TASKS.map((task) => join(work, 'multi-demo', 'data', 'Images', task, '0001.jpg'))
  .map((path, i) => {
    const copy = join(work, `${MULTI_TASKS[i]}-photo.jpg`);
    cpSync(path, copy);
    return copy;
  });

// Models of the other families, as users' bundles: MobileNetV3-Small (bilinear resize,
// depthwise convolutions, SE, Hardswish, a two-Linear head) and ConvNeXt-Tiny (LayerNorm,
// GELU, layer scale; no BatchNorm). MobileNetV3 starts from the Rust tests' narrow torchvision
// file (its Linears at PyTorch's scale): from torchvision's own initialisation, an epoch on the
// toy photos leaves logits that hardly depend on the photo, which would test little.
const ZOO = [
  ['mobilenet_v3_small', (bundle) => {
    const run = join(work, 'mobilenet_v3_small-run');
    execFileSync(trainer, ['prepare', '--data', join(work, 'demo', 'data'), '--out', run], { stdio: 'ignore' });
    execFileSync(trainer, ['train', '--run', run, '--arch', 'mobilenet_v3_small', '--width-mult', '0.25',
      '--pretrained', join(root, 'shared', 'tests', 'golden', 'mobilenet_v3_small_w25.pth'), '--input-size', '64',
      '--epochs', '1', '--batch-size', '8', '--device', 'cpu'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync(trainer, ['export', '--model', run, '--out', bundle, '--device', 'cpu'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }],
  ['convnext_tiny', (bundle) => {
    execFileSync(trainer, ['demo', '--arch', 'convnext_tiny', '--out', join(work, 'convnext_tiny-demo'), '--bundle', bundle,
      '--per-class', '4', '--epochs', '1', '--device', 'cpu'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }],
  // The demo's model exported with `--view pad`: the whole photo, letterboxed on the mean.
  ['resnet18', (bundle) => {
    execFileSync(trainer, ['export', '--model', join(work, 'demo', 'run'), '--out', bundle, '--view', 'pad',
      '--device', 'cpu'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }, 'pad'],
].map(([arch, make, view = 'crop']) => {
  const bundle = join(work, `${arch}-${view}-bundle`);
  log(`making a ${arch} bundle (${view} view)`);
  make(bundle);
  const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json')));
  assert.equal(manifest.preprocessing.view ?? 'crop', view, `${arch}: the manifest's view`);
  return { arch, view, bundle, manifest };
});

const toyPhotos = join(work, 'demo', 'data', 'Images', 'skirt_length_labels');
const photos = join(work, 'photos');
mkdirSync(photos);
for (const name of readdirSync(toyPhotos).sort().slice(0, 4)) cpSync(join(toyPhotos, name), join(photos, name));
execFileSync(join(target, 'debug', 'examples', 'browser_fixtures'), [join(photos, readdirSync(photos)[0]), photos],
  { stdio: 'inherit' });
const files = readdirSync(photos).sort().map((name) => join(photos, name));

// What each bad file must say on its card (and what `trainer classify` says too).
const BAD = {
  'notes.jpg': 'not a supported image',
  'empty.png': 'empty file',
  'damaged.jpg': 'cannot decode Jpeg image',
  'truncated.jpg': 'truncated JPEG',
};

// The command line's answers for the same photos and bundle.
const classifyAll = (model, paths) => new Map(JSON.parse(spawnSync(trainer,
  ['classify', '--model', model, '--json', '--device', 'cpu', ...paths], { encoding: 'utf8', maxBuffer: 2 ** 26 }).stdout)
  .map((a) => [a.image.split('/').pop(), a]));
const manifestPath = join(site, 'model', 'manifest.json');
const manifest = JSON.parse(readFileSync(manifestPath));
// `trainer export` calibrated the bundle. On this barely trained model its thresholds flag
// every photo alike, so the page's flags are checked against thresholds set between these
// photos' own values instead (in the widest gap between them): some on each side.
assert.ok(manifest.calibration.temperature > 0, JSON.stringify(manifest.calibration));
const exported = [...classifyAll(join(site, 'model'), files).values()].filter((a) => !a.error);
const middle = (values) => {
  const sorted = values.sort((x, y) => x - y);
  const gaps = sorted.slice(1).map((v, i) => v - sorted[i]);
  const widest = gaps.indexOf(Math.max(...gaps));
  return (sorted[widest] + sorted[widest + 1]) / 2;
};
const energy = (logits) => {
  const max = Math.max(...logits);
  return -(max + Math.log(logits.reduce((sum, l) => sum + Math.exp(l - max), 0)));
};
manifest.calibration.unsure_below = middle(exported.map((a) => Math.max(...a.probabilities)));
manifest.calibration.energy_above = middle(exported.map((a) => energy(a.logits)));
writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
const { calibration } = manifest;

const expected = classifyAll(join(site, 'model'), files);
for (const [name, message] of Object.entries(BAD)) {
  assert.ok(expected.get(name).error?.includes(message), `trainer classify on ${name}: ${expected.get(name).error}`);
}
const flagged = [...expected.values()].filter((a) => a.unsure).length;
assert.ok(flagged > 0 && flagged < exported.length, `${flagged} of ${exported.length} photos unsure`);

for (const zoo of ZOO) {
  zoo.expected = classifyAll(zoo.bundle, files);
  // The photos must get different answers, or matching them would say little about the network.
  const answers = new Set([...zoo.expected.values()].filter((a) => !a.error).map((a) => a.probabilities.map((p) => p.toFixed(3)).join()));
  assert.ok(answers.size > 1, `${zoo.arch}: every photo gets the same answer`);
}
const multiManifest = JSON.parse(readFileSync(join(multiBundle, 'manifest.json')));
assert.deepEqual(multiManifest.tasks.map((t) => t.name), MULTI_TASKS);
const multiExpected = classifyAll(multiBundle, multiPhotos);

// A bundle from before calibration: the same one, its manifest without the fitted fields.
const uncalibrated = join(work, 'uncalibrated-bundle');
cpSync(join(site, 'model'), uncalibrated, { recursive: true });
const oldManifest = JSON.parse(readFileSync(join(uncalibrated, 'manifest.json')));
delete oldManifest.calibration;
delete oldManifest.heatmap_scale;
writeFileSync(join(uncalibrated, 'manifest.json'), JSON.stringify(oldManifest, null, 2));
const uncalibratedAnswers = classifyAll(uncalibrated, [files[0]]);
assert.equal(uncalibratedAnswers.get(files[0].split('/').pop()).unsure, undefined);

// ---- the site, under a sub-path as on a project page of a static host -------------------

const server = await serveSite(site, '/shop/skirts/');
const { url, requests } = server;
const browser = await launchChromium();

async function openPage(context, backend, site = url) {
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && log(`console: ${m.text()}`));
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  await page.goto(`${site}?backend=${backend}`);
  await page.waitForFunction(() => /Model ready|could not/.test(document.querySelector('#model-status').textContent),
    null, { timeout: 120_000 });
  return page;
}

// The file picker that `action` (a key press, a click) opens; none within 10 s fails the test.
async function pickerFrom(page, action, what) {
  const opened = page.waitForEvent('filechooser', { timeout: 10_000 });
  await action();
  try {
    return await opened;
  } catch {
    throw new Error(`${what}: no file picker opened`);
  }
}

async function cardsDone(page, count) {
  await page.waitForFunction((n) => {
    const cards = [...document.querySelectorAll('.card')];
    return cards.length === n && cards.every((c) => c.dataset.state !== 'pending');
  }, count, { timeout: 600_000 });
  return page.$$eval('.card', (cards) => cards.map((c) => {
    // A model of one task's answer also as plain probabilities and flags.
    const answers = c.dataset.answers && JSON.parse(c.dataset.answers);
    const only = answers?.tasks.length === 1 ? answers.tasks[0] : null;
    return {
      name: c.querySelector('h2').textContent,
      state: c.dataset.state,
      answers,
      probabilities: only?.probabilities,
      flags: only && JSON.parse(JSON.stringify({ unsure: only.unsure, out_of_distribution: only.out_of_distribution })),
      message: c.querySelector('.message')?.textContent,
      garment: c.querySelector('.garment')?.textContent,
      answer: c.querySelector('.answer')?.textContent,
      time: c.querySelector('.time')?.textContent,
    };
  }));
}

// Where the page's message differs from the command line's: on wasm32 the png crate refuses
// an image whose pixels cannot fit the address space before the declared size can be read.
const PAGE_MESSAGES = { 'bomb.png': 'decoding would need more than 1024 MiB of memory' };
// Formats the classifier's decoder lacks (so `trainer classify` refuses them) that the page has
// the browser decode.
const BROWSER_DECODED = ['animated.gif'];

function checkCards(cards, backend, answers = expected) {
  for (const card of cards) {
    const want = answers.get(card.name);
    if (BROWSER_DECODED.includes(card.name.replace(/^\d+-/, ''))) {
      assert.ok(want.error.includes('not supported'), want.error);
      assert.equal(card.state, 'done', `${backend}: ${card.name}: ${card.message}`);
      assert.match(card.time, /decoded by this browser/);
      continue;
    }
    if (want.error) {
      const message = PAGE_MESSAGES[card.name.replace(/^\d+-/, '')] ?? want.error;
      assert.equal(card.state, 'error', `${backend}: ${card.name} should fail`);
      assert.ok(card.message.includes(message), `${backend}: ${card.name}: "${card.message}"`);
      continue;
    }
    assert.equal(card.state, 'done', `${backend}: ${card.name}: ${card.message}`);
    const worst = checkAnswer(card.answers.tasks[0], want, calibration, `${backend}: ${card.name}`);
    log(`${backend}: ${card.name}: ${card.answer}, ${card.time}, max |page - trainer| = ${worst.toExponential(1)}`);
  }
}

// One task's answer on a card against the command line's (`want`, with `calibration` its
// task's): the probabilities within the tolerance, and the calibration's flags ("not sure",
// "unlike the training photos") alike (a bundle without calibration has none on either side),
// unless the photo sits on a threshold, where float differences between the two may decide.
// Returns the largest difference.
function checkAnswer(got, want, calibration, what) {
  assert.equal(got.task, want.task, what);
  const worst = maxDifference(got.probabilities, want.probabilities);
  assert.ok(worst <= TOLERANCE, `${what}: page ${got.probabilities} vs trainer ${want.probabilities}`);
  const onEdge = want.unsure !== undefined && (Math.abs(Math.max(...want.probabilities) - calibration.unsure_below) < 1e-4 ||
    Math.abs(energy(want.logits) - calibration.energy_above) < 1e-3);
  if (!onEdge) {
    assert.deepEqual([got.unsure, got.out_of_distribution], [want.unsure, want.out_of_distribution], `${what}: flags`);
  }
  return worst;
}

const maxDifference = (page, trainer) => Math.max(...page.map((p, i) => Math.abs(p - trainer[i])));

// Cards of a model of several tasks against `trainer classify --json`: the garment head's
// probabilities, then each task's answer.
function checkMultiTaskCards(cards, backend) {
  for (const card of cards) {
    const want = multiExpected.get(card.name);
    const what = `${backend}, several tasks: ${card.name}`;
    assert.equal(card.state, 'done', `${what}: ${card.message}`);
    let worst = maxDifference(card.answers.garment, want.garment.probabilities);
    assert.ok(worst <= TOLERANCE, `${what}: garment ${card.answers.garment} vs ${want.garment.probabilities}`);
    assert.equal(card.answers.tasks.length, MULTI_TASKS.length);
    want.tasks.forEach((task, i) => {
      worst = Math.max(worst, checkAnswer(card.answers.tasks[i], task, multiManifest.tasks[i].calibration, `${what}: ${task.task}`));
    });
    // The garment it sees first, then that task's answer.
    const likely = taskName(want.garment.tasks[want.garment.top]);
    assert.ok(card.garment.startsWith(`Shows: ${likely}`), `${what}: ${card.garment}`);
    log(`${what}: ${card.garment}: ${card.answer}, max |page - trainer| = ${worst.toExponential(1)}`);
  }
}

// Keeps every text the element `selector` shows, from the start of each page of `context`,
// in the page's `window[name]`.
function recordTexts(context, selector, name) {
  return context.addInitScript(({ selector, name }) => {
    window[name] = [];
    document.addEventListener('DOMContentLoaded', () => {
      const element = document.querySelector(selector);
      new MutationObserver(() => window[name].push(element.textContent))
        .observe(element, { childList: true, characterData: true, subtree: true });
    });
  }, { selector, name });
}

// Drops files onto the page the way a user's drag and drop does.
async function dropFiles(page, paths) {
  const payload = paths.map((p) => ({ name: p.split('/').pop(), data: [...readFileSync(p)] }));
  await page.evaluate((items) => {
    const transfer = new DataTransfer();
    for (const { name, data } of items) transfer.items.add(new File([new Uint8Array(data)], name));
    window.resetStall?.(); // Building the files above is the test's work, not the page's.
    document.querySelector('#drop').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
  }, payload);
}

// Pastes a file the way Ctrl+V with an image on the clipboard does.
async function pasteFile(page, path) {
  const data = [...readFileSync(path)];
  await page.evaluate(({ name, data }) => {
    const clipboardData = new DataTransfer();
    clipboardData.items.add(new File([new Uint8Array(data)], name));
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData, bubbles: true }));
  }, { name: path.split('/').pop(), data });
}

// The CPU runs on the threaded module with min(cores, 8) threads, and the page says so.
async function checkThreads(page, note) {
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const threads = Math.min(cores, 8);
  assert.ok(threads > 1, `the browser reports ${cores} core(s): the threads cannot be tested`);
  assert.equal(await page.getAttribute('#backend', 'data-threads'), String(threads));
  const text = await page.textContent('#backend');
  assert.ok(text.startsWith(`Running on the CPU in WebAssembly, ${threads} threads`), text);
  assert.match(text, note);
}

let failed = false;
try {
  for (const backend of ['webgpu', 'cpu']) {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await openPage(context, backend);
    assert.match(await page.textContent('#model-status'), /Model ready \(downloaded\)/);
    assert.equal(await page.getAttribute('#backend', 'data-backend'), backend, await page.textContent('#backend'));
    log(`${backend}: ${await page.textContent('#backend')}`);
    // The service worker made the page cross-origin isolated (one reload on this first
    // visit): the CPU runs on threads, and WebGPU works as well under isolation.
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, `${backend}: not isolated`);
    if (backend === 'cpu') await checkThreads(page, /\(the page reloaded once to allow them\)/);

    await page.setInputFiles('#picker', files);
    const cards = await cardsDone(page, files.length);
    checkCards(cards, backend);
    await page.screenshot({ path: join(work, `page-${backend}.png`), fullPage: true });

    // The heatmap is drawn over the photo, and the switch takes it off.
    const pixels = () => page.$eval('.card[data-state="done"] canvas', (c) => c.toDataURL());
    const withHeatmap = await pixels();
    await page.uncheck('#show-cam');
    assert.notEqual(await pixels(), withHeatmap, 'switching the heatmap off changed nothing');
    await page.check('#show-cam');
    assert.equal(await pixels(), withHeatmap);
    // Any class's heatmap, chosen from its bar, on the model's one scale.
    const firstDone = '.card[data-state="done"]';
    assert.match(await page.textContent(`${firstDone} .legend`), /evidence for .*, on the same scale for every photo/);
    await page.click(`${firstDone} .bar:not(.top)`);
    assert.notEqual(await pixels(), withHeatmap, 'choosing another class changed nothing');
    assert.equal(await page.getAttribute(`${firstDone} .bar:not(.top)`, 'aria-pressed'), 'true');
    await page.click(`${firstDone} .bar.top`);
    assert.equal(await pixels(), withHeatmap);

    // Second visit: the weights come from the Cache API, not the network.
    requests.length = 0;
    await page.reload();
    await page.waitForFunction(() => /Model ready/.test(document.querySelector('#model-status').textContent));
    assert.match(await page.textContent('#model-status'), /from the browser cache/);
    assert.ok(!requests.some((r) => r.endsWith('.safetensors')), `weights downloaded again: ${requests}`);

    // A user's bundle whose weights do not match its checksum is refused; the page keeps working.
    const damaged = join(work, 'damaged-bundle');
    cpSync(join(site, 'model'), damaged, { recursive: true });
    const weights = readFileSync(join(damaged, 'model.safetensors'));
    weights[weights.length - 1] ^= 0x40;
    writeFileSync(join(damaged, 'model.safetensors'), weights);
    await dropFiles(page, [join(damaged, 'manifest.json'), join(damaged, 'model.safetensors')]);
    await page.waitForFunction(() => /could not be used/.test(document.querySelector('#model-status').textContent));
    const message = await page.textContent('#model-status');
    assert.match(message, /model\.safetensors: checksum mismatch/);
    log(`${backend}: damaged bundle: ${message}`);
    // Then a photo pasted from the clipboard is classified with the model that stayed.
    await pasteFile(page, files[0]);
    const [after] = await cardsDone(page, 1);
    assert.equal(after.state, 'done', `after the damaged bundle: ${after.message}`);

    // A good bundle of the user's replaces the model, and the photos on the page are redone.
    // It was exported before calibration existed: it loads, and its answers carry no flags,
    // as on the command line; its heatmap is scaled to each photo.
    await dropFiles(page, [join(uncalibrated, 'manifest.json'), join(uncalibrated, 'model.safetensors')]);
    await page.waitForFunction(() => /your bundle/.test(document.querySelector('#model-status').textContent));
    assert.match(await page.textContent('#model-info'), /your bundle \(model\.safetensors\)/);
    const [redone] = await cardsDone(page, 1);
    checkCards([redone], `${backend}, user's bundle without calibration`, uncalibratedAnswers);
    assert.deepEqual(redone.flags, {});
    assert.match(await page.textContent('.card .legend'), /relative to this photo's strongest/);

    // A model of several tasks: each card says which garment it sees and that task's answer,
    // the others on demand, each class with its heatmap; every number as on the command line.
    await dropFiles(page, [join(multiBundle, 'manifest.json'), join(multiBundle, 'model.safetensors')]);
    await page.waitForFunction(() => /for 3 attributes/.test(document.querySelector('#model-info').textContent));
    assert.match(await page.textContent('#model-info'), /for 3 attributes \(skirt length, sleeve length, coat length\)/);
    assert.equal(await page.textContent('h1'), 'Garment attribute classifier');
    assert.equal(await page.title(), 'Garment attribute classifier');
    await page.click('#clear');
    await page.setInputFiles('#picker', multiPhotos);
    checkMultiTaskCards(await cardsDone(page, multiPhotos.length), backend);
    const card = '.card[data-state="done"]';
    assert.equal(await page.isVisible(`${card} .others .bar`), false, 'the other attributes are shown unasked');
    await page.click(`${card} .others summary`);
    assert.match(await page.textContent(`${card} .others summary`), /Other attributes \(2\)/);
    const before = await page.$eval(`${card} canvas`, (c) => c.toDataURL());
    await page.click(`${card} .others .bar >> nth=0`);
    assert.notEqual(await page.$eval(`${card} canvas`, (c) => c.toDataURL()), before, 'another attribute\'s heatmap changed nothing');
    assert.match(await page.textContent(`${card} .legend`), /evidence for .* \((sleeve|coat|skirt) length\)/);
    await page.screenshot({ path: join(work, `page-${backend}-multi-task.png`), fullPage: true });
    // The results out: the garment and its probabilities, then each task's columns.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    const [header, ...rows] = readFileSync(await download.path(), 'utf8').trim().split('\r\n').map((line) => line.split(','));
    const skirt = multiManifest.tasks[0];
    assert.deepEqual(header.slice(0, 7 + skirt.classes.length), ['file', 'status', 'garment',
      ...MULTI_TASKS.map((t) => `p_garment.${t}`), `${skirt.name}.predicted`, ...skirt.classes.map((c) => `p_${skirt.name}.${c}`)]);
    for (const row of rows) {
      const want = multiExpected.get(row[0]);
      assert.equal(row[2], want.garment.tasks[want.garment.top], row[0]);
      assert.equal(row[6], skirt.classes[want.tasks[0].top], row[0]);
    }

    // The other families' bundles: the same probabilities as the command line's, each photo
    // resized as the architecture's manifest says.
    for (const { arch, view, bundle, manifest: zooManifest, expected: answers } of ZOO) {
      await dropFiles(page, [join(bundle, 'manifest.json'), join(bundle, 'model.safetensors')]);
      const shows = view === 'pad' ? 'the whole photo padded' : 'the centre crop';
      await page.waitForFunction(([a, s]) => {
        const info = document.querySelector('#model-info').textContent;
        return info.includes(`Model: ${a} `) && info.includes(s);
      }, [arch, shows]);
      await page.click('#clear');
      await page.setInputFiles('#picker', files);
      for (const card of await cardsDone(page, files.length)) {
        const want = answers.get(card.name);
        if (want.error) continue; // the bad files, checked above with the published model
        assert.equal(card.state, 'done', `${backend}, ${arch}: ${card.name}: ${card.message}`);
        const got = card.answers.tasks[0];
        const worst = checkAnswer(got, want, zooManifest.calibration, `${backend}, ${arch}: ${card.name}`);
        // The logits too: where a network answers a photo near-uniformly, they still differ.
        const logitError = maxDifference(got.logits, want.logits);
        assert.ok(logitError <= 1e-5 * Math.max(1, ...want.logits.map(Math.abs)),
          `${backend}, ${arch}: ${card.name}: logits ${got.logits} vs trainer ${want.logits}`);
        log(`${backend}, ${arch}: ${card.name}: ${card.answer}, ${card.time}, max |page - trainer| = ${worst.toExponential(1)}`);
      }
      await page.screenshot({ path: join(work, `page-${backend}-${arch}.png`), fullPage: true });
    }
    await context.close();
  }

  // Cross-origin isolation without the service worker: a host that sends COOP and COEP itself
  // gets threads on the first load, without a reload; where neither isolates the page, the
  // CPU runs on one thread. Both give the command line's answers.
  {
    const good = files.filter((f) => !expected.get(f.split('/').pop()).error).slice(0, 3);
    const isolating = await serveSite(site, '/', 0,
      { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    for (const [what, address] of [['host headers', isolating.url], ['no isolation', url]]) {
      const context = await browser.newContext({ serviceWorkers: 'block' });
      const page = await openPage(context, 'cpu', address);
      const text = await page.textContent('#backend');
      log(`cpu, ${what}: ${text}`);
      if (what === 'host headers') {
        await checkThreads(page, /threads\.$/);
      } else {
        assert.equal(await page.getAttribute('#backend', 'data-threads'), '1', text);
        assert.match(text, /^Running on the CPU in WebAssembly, 1 thread \(the page is not cross-origin isolated\)/);
      }
      await page.setInputFiles('#picker', good);
      checkCards(await cardsDone(page, good.length), `cpu, ${what}`);
      await context.close();
    }
    isolating.close();
  }

  // 50 photos dropped at once, the bad-input corpus among them: each gets its answer or its
  // own error, the page answering all the while.
  {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await openPage(context, 'cpu');
    const many = join(work, 'many');
    mkdirSync(many);
    const corpus = join(root, 'trainer', 'tests', 'bad_inputs');
    const sources = [...files, ...readdirSync(corpus).filter((n) => /\.(jpg|png|gif|webp)$/.test(n)).map((n) => join(corpus, n))];
    const dropped = Array.from({ length: 50 }, (_, i) => {
      const source = sources[i % sources.length];
      const copy = join(many, `${String(i).padStart(2, '0')}-${source.split('/').pop()}`);
      cpSync(source, copy);
      return copy;
    });
    const manyExpected = classifyAll(join(site, 'model'), dropped);
    await page.evaluate(() => {
      // The longest the main thread went without running a timer: a frozen tab shows here.
      let last;
      window.resetStall = () => {
        window.longestStall = 0;
        last = performance.now();
      };
      window.resetStall();
      setInterval(() => {
        const now = performance.now();
        window.longestStall = Math.max(window.longestStall, now - last);
        last = now;
      }, 20);
    });
    await dropFiles(page, dropped);
    // While photos are still waiting, the controls answer.
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="pending"]').length >= 10);
    await page.uncheck('#show-cam');
    assert.equal(await page.isChecked('#show-cam'), false);
    await page.check('#show-cam');
    const pendingThen = await page.$$eval('.card[data-state="pending"]', (c) => c.length);
    const done = await cardsDone(page, 50);
    await page.screenshot({ path: join(work, 'page-50-photos.png'), fullPage: true });
    checkCards(done, 'cpu, 50 photos', manyExpected);
    const failedCards = done.filter((c) => c.state === 'error').length;
    const stall = await page.evaluate(() => window.longestStall);
    log(`50 dropped photos: ${50 - failedCards} classified, ${failedCards} refused with their message; ` +
      `controls used with ${pendingThen} still waiting; longest main-thread stall ${stall.toFixed(0)} ms`);
    assert.ok(failedCards > 0 && failedCards < 50);
    assert.ok(stall < 1000, `the page froze for ${stall} ms`);

    // A bundle larger than the page can hold is refused at once, and the model stays. The
    // weights file is sparse: 5 GiB on paper, nothing on disk.
    const huge = join(work, 'huge-bundle');
    mkdirSync(huge);
    cpSync(join(site, 'model', 'manifest.json'), join(huge, 'manifest.json'));
    const fd = openSync(join(huge, 'model.safetensors'), 'w');
    ftruncateSync(fd, 5 * 2 ** 30);
    closeSync(fd);
    await page.setInputFiles('#picker', [join(huge, 'manifest.json'), join(huge, 'model.safetensors')]);
    await page.waitForFunction(() => /could not be used/.test(document.querySelector('#model-status').textContent));
    const refusal = await page.textContent('#model-status');
    assert.match(refusal, /model\.safetensors is 5\.0 GiB; this page loads weights of up to 1 GiB/);
    log(`huge bundle: ${refusal}`);
    rmSync(huge, { recursive: true });
    await pasteFile(page, files[0]);
    await page.waitForFunction(() => document.querySelector('.card').dataset.state !== 'pending');
    assert.equal(await page.getAttribute('.card', 'data-state'), 'done');
    await context.close();

    // The same for a published bundle whose manifest promises more than that: no download.
    // (Requests a service worker answers would bypass the route.)
    const published = await browser.newContext({ serviceWorkers: 'block' });
    const manifest = JSON.parse(readFileSync(join(site, 'model', 'manifest.json')));
    manifest.weights.bytes = 8 * 2 ** 30;
    await published.route('**/model/manifest.json', (route) => route.fulfill({ json: manifest }));
    requests.length = 0;
    const hugePage = await openPage(published, 'cpu');
    assert.match(await hugePage.textContent('#model-status'),
      /could not be loaded: .*model\.safetensors is 8\.0 GiB; this page loads weights of up to 1 GiB/);
    assert.ok(!requests.some((r) => r.endsWith('.safetensors')), `weights requested: ${requests}`);
    await published.close();
  }

  // A browser that gives the page little memory (WebAssembly capped at 64 MiB, as a phone or
  // a crowded tab might): a photo or a bundle too big for it is refused in words, before the
  // allocation that would abort the worker, and the page goes on with the model it has.
  {
    const small = await launchChromium(['--js-flags=--wasm-max-mem-pages=1024']);
    const page = await openPage(await small.newContext(), 'cpu');
    assert.match(await page.textContent('#model-status'), /Model ready/);
    const camera = files.find((f) => f.endsWith('camera-50mp.jpg'));
    await page.setInputFiles('#picker', [camera, files[0]]);
    const done = await cardsDone(page, 2);
    const [big, good] = ['camera-50mp.jpg', files[0].split('/').pop()].map((n) => done.find((c) => c.name === n));
    assert.equal(big.state, 'error');
    assert.match(big.message, /image is 8700x5800 pixels; decoding it takes about 434 MiB of memory, more than is available/);
    checkCards([good], 'cpu, 64 MiB');
    log(`64 MiB of memory: ${big.name}: ${big.message}`);

    const heavy = join(work, 'heavy-bundle');
    mkdirSync(heavy);
    cpSync(join(site, 'model', 'manifest.json'), join(heavy, 'manifest.json'));
    writeFileSync(join(heavy, 'model.safetensors'), Buffer.alloc(48 * 2 ** 20));
    await page.setInputFiles('#picker', [join(heavy, 'manifest.json'), join(heavy, 'model.safetensors')]);
    await page.waitForFunction(() => /could not be used/.test(document.querySelector('#model-status').textContent));
    const refusal = await page.textContent('#model-status');
    assert.match(refusal, /model\.safetensors: loading these 48 MiB of weights takes about 144 MiB of memory, more than this browser gives the page/);
    log(`64 MiB of memory: ${refusal}`);
    rmSync(heavy, { recursive: true });
    await pasteFile(page, files[0]);
    const [pasted] = await cardsDone(page, 3); // The newest card comes first.
    checkCards([pasted], 'cpu, 64 MiB, after the refused bundle');
    await small.close();
  }

  // A worker whose wasm cannot load says so, instead of "Starting…" for ever.
  {
    const broken = join(work, 'broken-site');
    cpSync(site, broken, { recursive: true });
    writeFileSync(join(broken, 'web_bg.wasm'), 'not wasm');
    const brokenServer = await serveSite(broken);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(brokenServer.url);
    await page.waitForFunction(() => /could not start/.test(document.querySelector('#model-status').textContent),
      null, { timeout: 60_000 });
    const status = await page.textContent('#model-status');
    assert.match(status, /The classifier could not start: its WebAssembly module did not load .*Reload the page/);
    log(`broken wasm: ${status}`);
    await context.close();
    brokenServer.close();
  }

  // A Cache API that fails (storage full, private browsing): the downloaded model is used
  // anyway, with a note. The model is named in people's words, and the classifier's own
  // download (the wasm) showed its progress.
  {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      CacheStorage.prototype.open = () => Promise.reject(new DOMException('the quota is exceeded', 'QuotaExceededError'));
    });
    await recordTexts(context, '#model-status', 'statuses');
    const page = await openPage(context, 'cpu');
    const status = await page.textContent('#model-status');
    assert.match(status, /Model ready \(downloaded; the browser did not keep it for next time: the quota is exceeded\)/);
    const info = await page.textContent('#model-info');
    assert.ok(info.includes('for skirt length,') && !info.includes('_labels'), info);
    assert.equal(await page.textContent('h1'), 'Skirt length classifier');
    assert.equal(await page.title(), 'Skirt length classifier');
    log(`failing cache: ${status}`);
    const statuses = await page.evaluate(() => window.statuses);
    assert.ok(statuses.some((s) => /^Downloading the classifier: [\d.]+ MiB of [\d.]+ MiB…$/.test(s)), statuses.join(' | '));
    await context.close();
  }

  // While the published model is still downloading, the user drops a bundle in two drops (the
  // weights named in capitals) and changes "Run on" while it loads: their bundle stays once the
  // download ends, on the backend they chose.
  {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    let release;
    const released = new Promise((done) => { release = done; });
    await context.route('**/model/model.safetensors', async (route) => {
      await released;
      await route.continue();
    });
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${url}?backend=webgpu`);
    await page.waitForFunction(() => document.querySelector('#model-info').textContent !== '');
    await dropFiles(page, [join(site, 'model', 'manifest.json')]);
    assert.match(await page.textContent('#model-status'), /Got manifest\.json; now drop the model's weights/);
    const capitals = join(work, 'MODEL.SAFETENSORS');
    cpSync(join(site, 'model', 'model.safetensors'), capitals);
    await dropFiles(page, [capitals]);
    await page.waitForFunction(() => /Starting the model on the GPU/.test(document.querySelector('#model-status').textContent));
    await page.selectOption('#backend-choice', 'cpu');
    await page.waitForFunction(() => /Model ready/.test(document.querySelector('#model-status').textContent));
    // Now the published download runs to its end, quietly.
    const downloaded = page.waitForEvent('requestfinished', (r) => r.url().endsWith('/model/model.safetensors'));
    release();
    await downloaded;
    await page.waitForTimeout(500);
    assert.equal(await page.isHidden('#model-progress'), true);
    assert.match(await page.textContent('#model-info'), /your bundle \(MODEL\.SAFETENSORS\)/);
    assert.match(await page.textContent('#model-status'), /Model ready/);
    assert.equal(await page.getAttribute('#backend', 'data-backend'), 'cpu', await page.textContent('#backend'));
    await pasteFile(page, files[0]);
    checkCards(await cardsDone(page, 1), 'cpu, dropped during the download');
    assert.deepEqual(pageErrors, []);
    log('a bundle dropped in two drops during the download, and "Run on" changed while it loaded: kept, on the CPU');
    await context.close();
  }

  // The page as people use it, on a phone-sized screen with touch: the keyboard, the camera,
  // an image dragged from another site, the results out as CSV and JSON, removing photos,
  // stopping a long queue, what a screen reader is told, and axe-core's accessibility rules.
  {
    const phone = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
    const context = await phone.newContext({
      viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
      permissions: ['camera', 'clipboard-read', 'clipboard-write'],
    });
    await recordTexts(context, '#announcer', 'announcements');
    const page = await openPage(context, 'cpu');
    assert.match(await page.textContent('#model-timing'), /^Loaded in [\d.]+ s, then a first run to warm it up in [\d.]+ s/);
    log(`phone: ${await page.textContent('#model-timing')}`);

    // Keyboard: the drop zone takes the focus, and Enter opens the file picker. (The listener
    // keeps the driver intercepting pickers all along, rather than only while one is awaited.)
    page.on('filechooser', () => {});
    await page.focus('#drop');
    const chooser = await pickerFrom(page, () => page.keyboard.press('Enter'), 'Enter on the drop zone');
    const good = files.filter((f) => !(f.split('/').pop() in BAD) && !f.endsWith('camera-50mp.jpg'));
    await chooser.setFiles(good.slice(0, 2));
    await cardsDone(page, 2);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'take-photo', 'Tab after the drop zone');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'drop', 'Shift+Tab back to the drop zone');
    const bySpace = await pickerFrom(page, () => page.keyboard.press(' '), 'Space on the drop zone');
    await bySpace.setFiles([]);

    // "Take a photo": an image-only picker that asks phones for the rear camera.
    assert.equal(await page.getAttribute('#capture', 'capture'), 'environment');
    assert.equal(await page.getAttribute('#capture', 'accept'), 'image/*');
    const camera = await pickerFrom(page, () => page.click('#take-photo'), '"Take a photo"');
    assert.equal(camera.isMultiple(), false);
    await camera.setFiles(good[2]);
    // The live camera (Chromium's fake one): its preview, then a picture from the shutter.
    await page.click('#open-camera');
    await page.waitForFunction(() => document.querySelector('#camera-video').videoWidth > 0);
    await page.click('#shutter');
    const afterCamera = await cardsDone(page, 4);
    const shot = afterCamera.find((c) => /^camera-[\d-]+\.jpg$/.test(c.name));
    assert.equal(shot?.state, 'done', JSON.stringify(afterCamera.map((c) => c.name)));
    await page.click('#close-camera');
    assert.equal(await page.isHidden('#camera'), true);
    log(`phone: camera picture ${shot.name}: ${shot.answer}`);

    // Images dragged from other pages arrive as addresses: this site's is fetched; a site that
    // does not share its images (no CORS headers) gets a card saying what to do.
    cpSync(good[0], join(site, 'dragged.jpg'));
    const otherSite = join(work, 'other-site');
    mkdirSync(otherSite);
    cpSync(good[1], join(otherSite, 'from-another-site.jpg'));
    const elsewhere = await serveSite(otherSite);
    const dropUrl = (address) => page.evaluate((href) => {
      const transfer = new DataTransfer();
      transfer.setData('text/uri-list', href);
      document.querySelector('#drop').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
    }, address);
    await dropUrl(`${url}dragged.jpg`);
    await dropUrl(`${elsewhere.url}from-another-site.jpg`);
    const afterUrls = await cardsDone(page, 6);
    elsewhere.close();
    const dragged = afterUrls.find((c) => c.name === 'dragged.jpg');
    checkCards([{ ...dragged, name: good[0].split('/').pop() }], 'cpu, a dragged address');
    const refused = afterUrls.find((c) => c.name === 'from-another-site.jpg');
    assert.equal(refused.state, 'error');
    assert.match(refused.message, /could not be fetched: its site does not let other pages read it .*drop the saved file here/);
    log(`phone: an image from a site without CORS: ${refused.message}`);

    // What a screen reader hears: the model once, then each photo once, with its answer.
    const said = await page.evaluate(() => window.announcements);
    assert.ok(said.some((s) => /^Model ready/.test(s)) && !said.some((s) => /Downloading/.test(s)), said.join(' | '));
    for (const card of afterUrls) {
      const times = said.filter((s) => s.startsWith(`${card.name}`)).length;
      assert.equal(times, 1, `${card.name} announced ${times} times: ${said.join(' | ')}`);
    }

    // No horizontal scrolling on the phone, every control within reach, and the rules of axe-core.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at 390 px`);
    const outside = await page.$$eval('button:not([hidden]), select, input:not([hidden]), #drop', (controls) =>
      controls.filter((c) => c.offsetParent).map((c) => [c.id || c.className, c.getBoundingClientRect()])
        .filter(([, box]) => box.left < 0 || box.right > window.innerWidth).map(([name]) => name));
    assert.deepEqual(outside, [], 'controls outside the screen');
    await page.screenshot({ path: join(work, 'page-phone.png'), fullPage: true });
    await page.addScriptTag({ path: join(root, 'node_modules', 'axe-core', 'axe.min.js') });
    const { violations } = await page.evaluate(() => window.axe.run());
    const byImpact = {};
    for (const v of violations) byImpact[v.impact] = (byImpact[v.impact] ?? 0) + v.nodes.length;
    log(`phone: axe-core: ${JSON.stringify(byImpact)} (${violations.map((v) => v.id).join(', ') || 'no violations'})`);
    const grave = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(grave.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`), []);

    // The results out: a CSV row per photo with each class's probability, the same as JSON.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    assert.equal(download.suggestedFilename(), 'skirt-photos.csv');
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\r\n').map((line) => line.split(','));
    const classes = JSON.parse(readFileSync(join(site, 'model', 'manifest.json'))).classes;
    assert.deepEqual(csv[0], ['file', 'status', 'predicted', ...classes.map((c) => `p_${c}`), 'unsure',
      'out_of_distribution', 'backend', 'ms', 'error']);
    assert.equal(csv.length, 1 + afterUrls.length);
    for (const card of afterUrls.filter((c) => c.state === 'done')) {
      const row = csv.find((r) => r[0] === card.name);
      assert.deepEqual(row.slice(3, 3 + classes.length).map(Number), card.probabilities, card.name);
      assert.equal(row[2], card.answer.replace(/ \(.*/, ''));
      assert.deepEqual(row.slice(3 + classes.length, 3 + classes.length + 3),
        [String(card.flags.unsure), String(card.flags.out_of_distribution), 'cpu']);
    }
    await page.click('#copy-json');
    const json = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
    assert.equal(json.length, afterUrls.length);
    assert.equal(json.find((r) => r.file === refused.name).error, refused.message);
    assert.deepEqual(Object.values(json.find((r) => r.file === dragged.name).probabilities), dragged.probabilities);

    // Removing one photo, then all of them.
    await page.click(`.card[aria-label="${refused.name}"] .remove`);
    assert.equal(await page.$$eval('.card', (c) => c.length), afterUrls.length - 1);
    await page.click('#clear');
    assert.equal(await page.$$eval('.card', (c) => c.length), 0);
    assert.equal(await page.isDisabled('#download-csv'), true);

    // A long queue stopped: the photo being classified finishes, the waiting ones stay
    // unclassified with a button each, and that button classifies its photo.
    const big = files.find((f) => f.endsWith('camera-50mp.jpg'));
    const queue = Array.from({ length: 8 }, (_, i) => {
      const copy = join(work, `queued-${i}.jpg`);
      cpSync(big, copy);
      return copy;
    });
    await page.setInputFiles('#picker', queue);
    await page.click('#stop');
    const stopped = await cardsDone(page, 8);
    const states = stopped.map((c) => c.state);
    assert.ok(states.every((s) => s === 'done' || s === 'stopped') && states.includes('stopped'), states.join());
    assert.equal(await page.isHidden('#stop'), true);
    const first = stopped.find((c) => c.state === 'stopped');
    await page.click(`.card[aria-label="${first.name}"] .retry`);
    const redone = (await cardsDone(page, 8)).find((c) => c.name === first.name);
    assert.equal(redone.state, 'done');
    log(`phone: 8 big photos, stopped at once: ${states.filter((s) => s === 'stopped').length} left waiting; ` +
      'one classified from its button afterwards');
    await phone.close();
  }

  // After one visit the page loads and classifies offline (its own server gone, the browser
  // offline); a second visit downloads neither the wasm nor the model; the page is installable;
  // and a new deploy is used as a whole, never mixed with the version a page started with:
  // in a page opened alone after it was downloaded, or at once after "Use it now".
  {
    const offlineSite = join(work, 'offline-site');
    cpSync(site, offlineSite, { recursive: true });
    let host = await serveSite(offlineSite, '/app/');
    const context = await browser.newContext();
    let page = await openPage(context, 'cpu', host.url);
    const shellCached = () => page.evaluate(async () => Boolean(navigator.serviceWorker.controller) &&
      (await caches.keys()).some((k) => k.startsWith('skirt-classifier-shell-')));
    for (let i = 0; !(await shellCached()); i++) {
      assert.ok(i < 600, 'the service worker did not keep the page');
      await page.waitForTimeout(100);
    }
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito'), []);

    host.close();
    await context.setOffline(true);
    const start = Date.now();
    await page.reload();
    await page.waitForFunction(() => /Model ready|could not/.test(document.querySelector('#model-status').textContent));
    assert.match(await page.textContent('#model-status'), /Model ready \(from the browser cache\)/);
    await page.setInputFiles('#picker', [files[0]]);
    checkCards(await cardsDone(page, 1), 'cpu, offline');
    log(`offline: the reload after the first visit was ready in ${Date.now() - start} ms and classified a photo`);

    host = await serveSite(offlineSite, '/app/', host.port);
    await context.setOffline(false);
    const second = await openPage(context, 'cpu', host.url);
    assert.match(await second.textContent('#model-status'), /from the browser cache/);
    const fetched = [...host.bytes.values()].reduce((a, b) => a + b, 0);
    const heavy = ['web_bg.wasm', 'model/model.safetensors'].map((f) => host.bytes.get(`/app/${f}`) ?? 0);
    assert.deepEqual(heavy, [0, 0], `a second visit downloaded ${JSON.stringify([...host.bytes])}`);
    log(`offline: a second visit fetched ${fetched} bytes (${[...host.bytes.keys()].join(', ')}), none of the wasm or the weights`);
    await second.close();

    // A new deploy changes two of the page's files; the open page keeps the version it has.
    const deployed = (marker) => page.evaluate((text) => Promise.all(['app.js', 'worker.js']
      .map((file) => fetch(file).then((r) => r.text()).then((body) => body.includes(text)))), marker);
    const deploy = async (marker) => {
      for (const file of ['app.js', 'worker.js']) appendFileSync(join(offlineSite, file), `\n// ${marker}\n`);
      await page.reload();
      await page.waitForSelector('#update:not([hidden])', { timeout: 60_000 });
      assert.deepEqual(await deployed(marker), [false, false], `${marker}: the page must keep the version it started with`);
    };
    await deploy('deploy 2');
    // Opened again with no other tab of it: all of the new version.
    await page.close();
    page = await openPage(context, 'cpu', host.url);
    assert.deepEqual(await deployed('deploy 2'), [true, true], 'a page opened alone gets the new version whole');
    await deploy('deploy 3');
    const reloaded = page.waitForNavigation();
    await page.click('#use-update');
    await reloaded;
    await page.waitForFunction(() => /Model ready/.test(document.querySelector('#model-status').textContent));
    assert.deepEqual(await deployed('deploy 3'), [true, true], 'after "Use it now", all of the new version');
    log('offline: two deploys announced and kept apart, then used whole (a page opened alone, "Use it now")');
    await context.close();
    host.close();
  }

  // A camera the user refuses, or a device without one: said in words.
  {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    });
    const page = await openPage(context, 'cpu');
    await page.click('#open-camera');
    assert.match(await page.textContent('#camera-message'), /The camera was not allowed/);
    assert.equal(await page.isHidden('#camera'), true);
    await context.close();
  }

  // By default, a software-only WebGPU adapter (SwiftShader here) loses to the CPU path.
  const context = await browser.newContext();
  const page = await openPage(context, 'auto');
  assert.equal(await page.getAttribute('#backend', 'data-backend'), 'cpu', await page.textContent('#backend'));
  await context.close();
  log('passed');
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
