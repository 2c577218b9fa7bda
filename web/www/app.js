// The page: model loading (with progress and the Cache API), the drop zone, and one card per
// photo. All computation happens in worker.js; this file only talks to it and draws.

const MODEL_DIR = 'model/';
const MANIFEST = 'manifest.json';
const CACHE = 'skirt-classifier-model';

const $ = (selector) => document.querySelector(selector);
const status = $('#model-status');
const progress = $('#model-progress');
const cards = [];

// ---- the worker -------------------------------------------------------------------------

let worker;
let nextId = 0;
const pending = new Map();

function startWorker() {
  worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => {
    const request = pending.get(data.id);
    pending.delete(data.id);
    if (data.error === undefined) return request.resolve(data.result);
    request.reject(new Error(data.error));
    if (data.fatal) stopWorker('the classifier crashed');
  };
  worker.onerror = (event) => {
    event.preventDefault();
    stopWorker(`the classifier stopped: ${event.message || 'it could not start'}`);
  };
}

// A Rust panic leaves the wasm instance unusable: the worker goes, and the next photo starts a
// new one with the same model (on demand, so a model that crashes cannot loop).
function stopWorker(message) {
  worker.terminate();
  worker = null;
  for (const request of pending.values()) request.reject(new Error(message));
  pending.clear();
}

function reviveWorker() {
  if (worker) return;
  startWorker();
  if (model) modelReady = loadOnBackend(model);
}

function ask(request, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ ...request, id }, transfer);
  });
}

// ---- the model --------------------------------------------------------------------------

// The bundle in use: { manifest, manifestBytes, weights, files, source }.
let model = null;
let modelReady = null;
let webgpu = null;

function setStatus(text, error = false) {
  status.textContent = text;
  status.classList.toggle('error', error);
}

function showModelError(error) {
  setStatus(`The model could not be loaded: ${error.message}`, true);
  progress.hidden = true;
  throw error;
}

// Reads a response body, reporting progress against the size the manifest promises.
async function readWithProgress(response, total) {
  const reader = response.body.getReader();
  const bytes = new Uint8Array(total);
  let received = 0;
  progress.hidden = false;
  progress.value = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > total) throw new Error(`the weights are larger than the manifest's ${total} bytes`);
    bytes.set(value, received);
    received += value.length;
    progress.value = received / total;
    setStatus(`Downloading the model: ${mib(received)} of ${mib(total)}…`);
  }
  progress.hidden = true;
  if (received !== total) throw new Error(`the weights are ${received} bytes, the manifest says ${total}`);
  return bytes;
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

// The largest weights file the page takes on: a WebAssembly module has at most 4 GiB of
// memory, and loading takes about three times the weights (`LOADING_TAKES` in web/src/lib.rs).
// Checked before anything is read, so a huge bundle is refused at once instead of stalling.
const MAX_WEIGHTS = 2 ** 30;

function checkWeightsSize(name, bytes) {
  if (bytes > MAX_WEIGHTS) {
    throw new Error(`${name} is ${(bytes / 2 ** 30).toFixed(1)} GiB; this page loads weights of up to ` +
      `${MAX_WEIGHTS / 2 ** 30} GiB (WebAssembly has 4 GiB of memory, and loading takes about three times the weights)`);
  }
}

// Reads a user's file into memory, naming it if the browser cannot.
async function readFile(file) {
  try {
    return new Uint8Array(await file.arrayBuffer());
  } catch (error) {
    throw new Error(`${file.name || 'the image'} could not be read into memory (${error.message})`);
  }
}

// The weights, from the Cache API when this exact file (by checksum) was downloaded before.
async function fetchWeights(manifest) {
  const url = new URL(MODEL_DIR + manifest.weights.file, location.href);
  checkWeightsSize(url.pathname, manifest.weights.bytes);
  const key = `${url.href}?sha256=${manifest.weights.sha256}`;
  const cache = self.caches ? await caches.open(CACHE) : null;
  const cached = cache && (await cache.match(key));
  if (cached) return { bytes: new Uint8Array(await cached.arrayBuffer()), cached: true, key, cache };
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  const bytes = await readWithProgress(response, manifest.weights.bytes);
  if (cache) {
    // Older versions of the same file are dropped, so the cache holds one model.
    for (const old of await cache.keys()) if (old.url.startsWith(url.href)) await cache.delete(old);
    await cache.put(key, new Response(bytes));
  }
  return { bytes, cached: false, key, cache };
}

async function loadPublishedModel() {
  setStatus('Loading the model…');
  const response = await fetch(MODEL_DIR + MANIFEST, { cache: 'no-cache' });
  if (!response.ok) {
    throw new Error(`no model at ${MODEL_DIR}${MANIFEST} (HTTP ${response.status}); ` +
      'put a bundle from `trainer export` there, or drop one onto this page');
  }
  const manifestBytes = new Uint8Array(await response.arrayBuffer());
  const manifest = await ask({ type: 'manifest', file: MODEL_DIR + MANIFEST, bytes: manifestBytes.slice().buffer });
  const source = 'published with this page';
  showModelInfo(manifest, source);
  let weights = await fetchWeights(manifest);
  const files = [MODEL_DIR + MANIFEST, MODEL_DIR + manifest.weights.file];
  const bundle = { manifest, manifestBytes, weights: weights.bytes, files, source };
  try {
    await useModel(bundle, weights.cached ? 'from the browser cache' : 'downloaded');
  } catch (error) {
    if (!weights.cached) throw error;
    // A damaged cache entry: forget it and download once more.
    await weights.cache.delete(weights.key);
    weights = await fetchWeights(manifest);
    await useModel({ ...bundle, weights: weights.bytes }, 'downloaded');
  }
}

function showModelInfo(manifest, source) {
  const size = manifest.preprocessing.crop;
  $('#model-info').textContent = `Model: ${manifest.arch} (${manifest.precision}) for ` +
    `“${manifest.task}”, ${manifest.classes.length} classes, ${size}×${size} input; ${source}.`;
}

// Switches to `bundle`; if it cannot be loaded, the model in use stays.
async function useModel(bundle, how) {
  const previous = modelReady;
  const loading = loadOnBackend(bundle).then(() => { model = bundle; });
  modelReady = loading;
  try {
    await loading;
  } catch (error) {
    if (model) modelReady = previous;
    throw error;
  }
  showModelInfo(bundle.manifest, bundle.source);
  setStatus(`Model ready (${how}).`);
  for (const card of cards) classifyCard(card);
}

// Loads the bundle on the chosen backend; WebGPU falling over means the CPU takes over.
async function loadOnBackend(bundle) {
  let backend = chooseBackend();
  setStatus(`Starting the model on the ${backend === 'webgpu' ? 'GPU' : 'CPU'}…`);
  // The bundle stays here (for a later backend switch or worker restart): the worker gets a
  // copy, transferred rather than cloned a second time.
  const load = (on) => {
    const manifest = bundle.manifestBytes.slice().buffer;
    const weights = bundle.weights.slice().buffer;
    return ask({
      type: 'load', backend: on, manifestFile: bundle.files[0], manifest, weightsFile: bundle.files[1], weights,
    }, [manifest, weights]);
  };
  let note = '';
  try {
    await load(backend);
  } catch (error) {
    if (backend !== 'webgpu' || !/WebGPU/.test(error.message)) throw error;
    note = ` (${error.message})`;
    backend = 'cpu';
    await load(backend);
  }
  const where = $('#backend');
  where.dataset.backend = backend;
  where.textContent = backend === 'webgpu'
    ? `Running on the GPU through WebGPU: ${webgpu.name}${webgpu.fallback ? ' (a software fallback)' : ''}.`
    : `Running on the CPU in WebAssembly${note || (webgpu.available ? '' : ` (${webgpu.reason})`)}.`;
}

// `auto` takes a real GPU; a software-only WebGPU adapter (SwiftShader) is slower than the
// wasm CPU path (see BENCHMARKS.md), so it runs on the CPU.
function chooseBackend() {
  const choice = $('#backend-choice').value;
  if (choice === 'cpu' || !webgpu.available) return 'cpu';
  if (choice === 'webgpu') return 'webgpu';
  return webgpu.fallback ? 'cpu' : 'webgpu';
}

// A bundle dropped by the user: its manifest and weights files.
async function loadDroppedBundle(files) {
  const manifestFile = files.find((f) => f.name.endsWith('.json'));
  const weightsFile = files.find((f) => f.name.endsWith('.safetensors'));
  if (!manifestFile || !weightsFile) {
    setStatus('To use your own model, drop its manifest.json and model.safetensors together.', true);
    return;
  }
  try {
    setStatus(`Loading ${manifestFile.name} and ${weightsFile.name}…`);
    checkWeightsSize(weightsFile.name, weightsFile.size);
    const manifestBytes = await readFile(manifestFile);
    const manifest = await ask({ type: 'manifest', file: manifestFile.name, bytes: manifestBytes.slice().buffer });
    const weights = await readFile(weightsFile);
    const files = [manifestFile.name, weightsFile.name];
    await useModel({ manifest, manifestBytes, weights, files, source: `your bundle (${weightsFile.name})` }, 'your bundle');
  } catch (error) {
    setStatus(`Your bundle could not be used: ${error.message}`, true);
  }
}

// ---- photos -----------------------------------------------------------------------------

function addFiles(fileList) {
  const files = [...fileList];
  const bundleFiles = files.filter((f) => /\.(json|safetensors)$/i.test(f.name));
  if (bundleFiles.length) loadDroppedBundle(bundleFiles);
  for (const file of files) {
    if (bundleFiles.includes(file)) continue;
    const card = newCard(file);
    cards.push(card);
    classifyCard(card);
  }
}

// Photos are read and handed to the worker two at a time (it classifies one at a time
// anyway), so that dropping hundreds of large photos does not hold all their bytes at once.
let turnsFree = 2;
const waitingForTurn = [];

async function inTurn(task) {
  if (turnsFree > 0) turnsFree--;
  else await new Promise((go) => waitingForTurn.push(go));
  try {
    return await task();
  } finally {
    const next = waitingForTurn.shift();
    if (next) next();
    else turnsFree++;
  }
}

function newCard(file) {
  const element = document.createElement('article');
  element.className = 'card';
  element.innerHTML = '<h3></h3><canvas width="1" height="1" hidden></canvas><div class="body"></div>';
  element.querySelector('h3').textContent = file.name || 'pasted image';
  $('#results').prepend(element);
  return { file, element, prediction: null };
}

async function classifyCard(card) {
  const { element } = card;
  const body = element.querySelector('.body');
  element.dataset.state = 'pending';
  element.classList.remove('error');
  body.innerHTML = '<div class="spinner" role="status" aria-label="working"></div>';
  try {
    reviveWorker();
    if (!modelReady) throw new Error('no model is loaded');
    await modelReady.catch(() => { throw new Error('no model is loaded'); });
    card.prediction = await inTurn(async () => {
      const { buffer } = await readFile(card.file);
      return ask({ type: 'classify', bytes: buffer }, [buffer]);
    });
    showPrediction(card);
  } catch (error) {
    element.classList.add('error');
    element.dataset.state = 'error';
    element.querySelector('canvas').hidden = true;
    body.innerHTML = '<p class="message"></p>';
    body.querySelector('.message').textContent = error.message;
  }
}

function showPrediction(card) {
  const { element, prediction: p } = card;
  const classes = model.manifest.classes;
  const body = element.querySelector('.body');
  body.innerHTML = '<p class="answer"></p><div class="bars"></div><p class="time"></p>';
  body.querySelector('.answer').textContent =
    `${classes[p.top]} (${(100 * p.probabilities[p.top]).toFixed(1)}%)`;
  const bars = body.querySelector('.bars');
  classes.forEach((name, i) => {
    const row = document.createElement('div');
    row.className = i === p.top ? 'bar top' : 'bar';
    row.innerHTML = '<span class="name"></span><span><div class="fill"></div></span><span class="value"></span>';
    row.querySelector('.name').textContent = name;
    row.querySelector('.fill').style.width = `${100 * p.probabilities[i]}%`;
    row.querySelector('.value').textContent = `${(100 * p.probabilities[i]).toFixed(1)}%`;
    bars.append(row);
  });
  body.querySelector('.time').textContent =
    `${Math.round(p.ms)} ms on the ${$('#backend').dataset.backend === 'webgpu' ? 'GPU' : 'CPU'}`;
  element.dataset.probabilities = JSON.stringify(Array.from(p.probabilities));
  element.dataset.state = 'done';
  draw(card);
}

// The crop the network saw, with the class-activation map upsampled over it.
function draw(card) {
  const p = card.prediction;
  if (!p) return;
  const canvas = card.element.querySelector('canvas');
  canvas.hidden = false;
  canvas.width = canvas.height = p.viewSize;
  const context = canvas.getContext('2d');
  context.putImageData(new ImageData(new Uint8ClampedArray(p.view), p.viewSize), 0, 0);
  if (!$('#show-cam').checked) return;
  const heat = new OffscreenCanvas(p.camSize, p.camSize);
  const pixels = new ImageData(p.camSize, p.camSize);
  p.cam.forEach((v, i) => pixels.data.set([...colormap(v), 120], 4 * i));
  heat.getContext('2d').putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(heat, 0, 0, p.viewSize, p.viewSize);
}

// Blue (no evidence) through green and yellow to red (strongest evidence).
function colormap(v) {
  const clamp = (x) => Math.max(0, Math.min(255, Math.round(255 * x)));
  return [clamp(1.5 - Math.abs(4 * v - 3)), clamp(1.5 - Math.abs(4 * v - 2)), clamp(1.5 - Math.abs(4 * v - 1))];
}

// ---- wiring -----------------------------------------------------------------------------

function wire() {
  const drop = $('#drop');
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add('over'); });
  }
  for (const type of ['dragleave', 'drop']) {
    drop.addEventListener(type, () => drop.classList.remove('over'));
  }
  // Files dropped anywhere on the page count (and never make the browser navigate away).
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => { e.preventDefault(); addFiles(e.dataTransfer.files); });
  $('#picker').addEventListener('change', (e) => { addFiles(e.target.files); e.target.value = ''; });
  document.addEventListener('paste', (e) => addFiles(e.clipboardData.files));
  $('#show-cam').addEventListener('change', () => cards.forEach(draw));
  $('#backend-choice').addEventListener('change', () => {
    if (model) useModel(model, 'switched').catch(showModelError);
  });
}

async function main() {
  const requested = new URLSearchParams(location.search).get('backend');
  if (['auto', 'webgpu', 'cpu'].includes(requested)) $('#backend-choice').value = requested;
  wire();
  startWorker();
  webgpu = await ask({ type: 'probe' });
  await loadPublishedModel().catch(showModelError);
}

main().catch(() => {});
