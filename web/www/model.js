// The model: the bundle published with the page (downloaded with progress, kept in the Cache
// API) or one the user drops, checked and loaded by the worker on the chosen backend.
import { $, announce, mib, readFile, taskName } from './dom.js';
import { remembered } from './isolation.js';
import { ErrorCode } from './protocol.js';

const MODEL_DIR = 'model/';
const MANIFEST = 'manifest.json';
const CACHE = 'skirt-classifier-model';

// The largest weights file the page takes on: a WebAssembly module has at most 4 GiB of
// memory, and loading takes about three times the weights (`LOADING_TAKES` in web/src/lib.rs).
// Checked before anything is read, so a huge bundle is refused at once instead of stalling.
const MAX_WEIGHTS = 2 ** 30;

/**
 * A bundle's file, kept on the page (for a backend switch or a new worker).
 * @typedef {{ name: string, bytes: Uint8Array }} BundleFile
 */

/**
 * A bundle in use: its checked manifest, its two files, and where it came from (for people).
 * @typedef {{ manifest: import('./protocol.js').Manifest, manifestFile: BundleFile,
 *             weightsFile: BundleFile, source: string }} Bundle
 */

export class Model {
  /**
   * @param {import('./worker-client.js').WorkerClient} client
   * @param {() => void} onChange runs when another model is ready (the photos are classified again)
   */
  constructor(client, onChange) {
    this.client = client;
    this.onChange = onChange;
    /** @type {Bundle | null} the bundle in use */
    this.bundle = null;
    /** @type {Promise<void> | null} settles when the bundle in use is loaded in the worker */
    this.ready = null;
    /** @type {import('./protocol.js').WebGpuInfo | null} */
    this.webgpu = null;
    /** @type {import('./protocol.js').Backend | null} where the bundle runs */
    this.backend = null;
    /** The "Run on" choice the bundle was last loaded for. */
    this.loadedFor = null;
    /** Counts the user's and the page's choices of a bundle: the latest one wins. */
    this.choices = 0;
    /** @type {{ manifest?: File, weights?: File }} a dropped bundle's file waiting for the other */
    this.dropped = {};
  }

  /** The classifier's own download, before any model. */
  showStartup({ progress: { loaded, total } }) {
    showProgress(loaded, total);
    setStatus(`Downloading the classifier: ${mib(loaded)}${total ? ` of ${mib(total)}` : ''}…`);
  }

  /** Probes WebGPU, then loads the published bundle. */
  async start() {
    try {
      this.webgpu = await this.client.ask({ type: 'probe' });
    } catch (error) {
      setStatus(`The classifier could not start: ${error.message}. Reload the page; if this ` +
        'happens again, try an up-to-date Chrome, Edge, Firefox or Safari.', true, true);
      return;
    }
    await this.loadPublished().catch(showError);
  }

  async loadPublished() {
    const choice = ++this.choices;
    setStatus('Loading the model…');
    const response = await fetch(MODEL_DIR + MANIFEST, { cache: 'no-cache' });
    if (!response.ok) {
      throw new Error(`no model is published with this page (${MODEL_DIR}${MANIFEST}: HTTP ${response.status}); ` +
        'drop a model\'s manifest.json and model.safetensors onto the page to use it');
    }
    const manifestFile = { name: MODEL_DIR + MANIFEST, bytes: new Uint8Array(await response.arrayBuffer()) };
    const manifest = await this.checkManifest(manifestFile);
    const source = 'published with this page';
    showInfo(manifest, source);
    // A bundle the user drops meanwhile stays, and this download goes on quietly.
    const current = () => choice === this.choices;
    const progress = (received, total) => {
      if (!current()) return;
      showProgress(received, total);
      setStatus(`Downloading the model: ${mib(received)} of ${mib(total)}…`);
    };
    let weights = await fetchWeights(manifest, progress);
    if (!current()) return;
    const weightsFile = { name: MODEL_DIR + manifest.weights.file, bytes: weights.bytes };
    const bundle = { manifest, manifestFile, weightsFile, source };
    const how = weights.cached ? 'from the browser cache'
      : weights.uncached ? `downloaded; the browser did not keep it for next time: ${weights.uncached}`
        : 'downloaded';
    try {
      await this.use(bundle, how);
    } catch (error) {
      if (!weights.cached) throw error;
      // A damaged cache entry: forget it and download once more.
      await weights.cache.delete(weights.key);
      weights = await fetchWeights(manifest, progress);
      await this.use({ ...bundle, weightsFile: { ...weightsFile, bytes: weights.bytes } }, 'downloaded');
    }
  }

  /**
   * Files of a bundle dropped by the user: its manifest and its weights, together or in two
   * drops (the latest of each kind counts).
   * @param {File[]} files
   */
  async loadDropped(files) {
    for (const file of files) {
      const name = file.name.toLowerCase();
      if (name.endsWith('.json')) this.dropped.manifest = file;
      if (name.endsWith('.safetensors')) this.dropped.weights = file;
    }
    const { manifest, weights } = this.dropped;
    if (!manifest || !weights) {
      setStatus(`Got ${(manifest ?? weights).name}; now drop the model's ` +
        `${manifest ? 'weights (.safetensors)' : 'manifest (.json)'} too.`);
      return;
    }
    this.dropped = {};
    this.choices++;
    try {
      setStatus(`Loading ${manifest.name} and ${weights.name}…`);
      checkWeightsSize(weights.name, weights.size);
      const manifestFile = { name: manifest.name, bytes: await readFile(manifest) };
      const checked = await this.checkManifest(manifestFile);
      const weightsFile = { name: weights.name, bytes: await readFile(weights) };
      const source = `your bundle (${weights.name})`;
      await this.use({ manifest: checked, manifestFile, weightsFile, source }, 'your bundle');
    } catch (error) {
      setStatus(`Your bundle could not be used: ${error.message}`, true, true);
    }
  }

  /** @param {BundleFile} file */
  checkManifest(file) {
    return this.client.ask({ type: 'manifest', manifest: { name: file.name, bytes: file.bytes.slice().buffer } });
  }

  /** Switches to `bundle`; if it cannot be loaded, the model in use stays. */
  async use(bundle, how) {
    const previous = this.ready;
    const loading = this.loadOnBackend(bundle).then(() => { this.bundle = bundle; });
    this.ready = loading;
    try {
      await loading;
    } catch (error) {
      if (this.bundle) this.ready = previous;
      throw error;
    }
    showInfo(bundle.manifest, bundle.source);
    setStatus(`Model ready (${how}).`, false, true);
    // "Run on" changed while the model was loading: load it where it was asked for.
    if ($('#backend-choice').value !== this.loadedFor) return this.use(bundle, 'switched');
    this.onChange();
  }

  /** The bundle in use on the backend now chosen (or, while one loads, once it is loaded). */
  switchBackend() {
    if (this.bundle && this.ready) {
      this.ready.then(() => {
        if ($('#backend-choice').value !== this.loadedFor) return this.use(this.bundle, 'switched');
      }, () => {}).catch(showError);
    }
  }

  /** Loads the bundle in use again, in a new worker. */
  reload() {
    if (this.bundle) this.ready = this.loadOnBackend(this.bundle);
  }

  // Loads `bundle` on the chosen backend; WebGPU failing to start means the CPU takes over.
  async loadOnBackend(bundle) {
    this.loadedFor = $('#backend-choice').value;
    let backend = this.chooseBackend();
    setStatus(`Starting the model on the ${backend === 'webgpu' ? 'GPU' : 'CPU'}…`);
    // The worker gets copies, transferred rather than cloned a second time.
    const load = (on) => {
      const manifest = { name: bundle.manifestFile.name, bytes: bundle.manifestFile.bytes.slice().buffer };
      const weights = { name: bundle.weightsFile.name, bytes: bundle.weightsFile.bytes.slice().buffer };
      return this.client.ask({ type: 'load', backend: on, manifest, weights }, [manifest.bytes, weights.bytes]);
    };
    let note = '';
    /** @type {import('./protocol.js').Loaded} */
    let loaded;
    try {
      loaded = await load(backend);
    } catch (error) {
      if (backend !== 'webgpu' || error.code !== ErrorCode.WEBGPU_UNAVAILABLE) throw error;
      note = ` (${error.message})`;
      backend = 'cpu';
      loaded = await load(backend);
    }
    this.backend = backend;
    const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
    $('#model-timing').textContent = `Loaded in ${seconds(loaded.loadMs)}, then a first run to ` +
      `warm it up in ${seconds(loaded.warmUpMs)}, so the photos' times are the model's own.`;
    const where = $('#backend');
    where.dataset.backend = backend;
    where.dataset.threads = loaded.threads ?? '';
    const threads = `${loaded.threads} thread${loaded.threads === 1 ? '' : 's'}`;
    where.textContent = backend === 'webgpu'
      ? `Running on the GPU through WebGPU: ${this.webgpu.name}${this.webgpu.fallback ? ' (a software fallback)' : ''}.`
      : `Running on the CPU in WebAssembly, ${threads}${loaded.why ? ` (${loaded.why})` : ''}` +
        `${loaded.threads > 1 && remembered() ? ' (the page reloaded once to allow them)' : ''}` +
        `${note || (this.webgpu.available ? '' : ` (${this.webgpu.reason})`)}.`;
  }

  // `auto` takes a real GPU; a software-only WebGPU adapter (SwiftShader) is slower than the
  // wasm CPU path (see BENCHMARKS.md), so it runs on the CPU.
  chooseBackend() {
    const choice = $('#backend-choice').value;
    if (choice === 'cpu' || !this.webgpu.available) return 'cpu';
    if (choice === 'webgpu') return 'webgpu';
    return this.webgpu.fallback ? 'cpu' : 'webgpu';
  }
}

/** The model's status line; `say` also tells screen readers (the outcomes, not every step). */
function setStatus(text, error = false, say = false) {
  const status = $('#model-status');
  status.textContent = text;
  status.classList.toggle('error', error);
  if (say) announce(text);
}

/** The progress bar at `loaded` of `total` bytes; hidden when done, indefinite without a total. */
function showProgress(loaded, total) {
  const progress = $('#model-progress');
  progress.hidden = total !== null && loaded >= total;
  if (total) progress.value = loaded / total;
  else progress.removeAttribute('value');
}

function showError(error) {
  setStatus(`The model could not be loaded: ${error.message}`, true, true);
  $('#model-progress').hidden = true;
}

function showInfo(manifest, source) {
  // The heading names what this model answers, whichever model it is.
  const subject = manifest.tasks?.length ? 'garment attribute' : taskName(manifest.task);
  const title = `${subject[0].toUpperCase()}${subject.slice(1)} classifier`;
  document.title = title;
  $('h1').textContent = title;
  const size = manifest.preprocessing.crop;
  const answers = manifest.tasks?.length
    ? `${manifest.tasks.length} attributes (${manifest.tasks.map((t) => taskName(t.name)).join(', ')})`
    : `${taskName(manifest.task)}, ${manifest.classes.length} classes`;
  // `pad`: the whole photo, letterboxed; otherwise the centre square.
  const view = manifest.preprocessing.view === 'pad' ? 'the whole photo padded to' : 'the centre crop at';
  $('#model-info').textContent = `Model: ${manifest.arch} (${manifest.precision}) for ${answers}, ` +
    `${view} ${size}×${size}; ${source}.`;
}

function checkWeightsSize(name, bytes) {
  if (bytes > MAX_WEIGHTS) {
    throw new Error(`${name} is ${(bytes / 2 ** 30).toFixed(1)} GiB; this page loads weights of up to ` +
      `${MAX_WEIGHTS / 2 ** 30} GiB (WebAssembly has 4 GiB of memory, and loading takes about three times the weights)`);
  }
}

// The weights, from the Cache API when this exact file (by checksum) was downloaded before.
// A cache that fails (storage full, private browsing) costs the next visit a download, not
// this one: `uncached` says why. `progress(received, total)` follows a download.
async function fetchWeights(manifest, progress) {
  const url = new URL(MODEL_DIR + manifest.weights.file, location.href);
  checkWeightsSize(url.pathname, manifest.weights.bytes);
  const key = `${url.href}?sha256=${manifest.weights.sha256}`;
  let cache = null;
  let uncached = self.caches ? '' : 'this page has no Cache API here';
  try {
    cache = self.caches ? await caches.open(CACHE) : null;
    const cached = cache && (await cache.match(key));
    if (cached) return { bytes: new Uint8Array(await cached.arrayBuffer()), cached: true, key, cache };
  } catch (error) {
    cache = null;
    uncached = error.message;
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  const bytes = await readWithProgress(response, manifest.weights.bytes, progress);
  if (cache) {
    try {
      // Older versions of the same file are dropped, so the cache holds one model.
      for (const old of await cache.keys()) if (old.url.startsWith(url.href)) await cache.delete(old);
      await cache.put(key, new Response(bytes));
    } catch (error) {
      uncached = error.message;
    }
  }
  return { bytes, cached: false, uncached, key, cache };
}

// Reads a response body, reporting progress against the size the manifest promises.
async function readWithProgress(response, total, progress) {
  const reader = response.body.getReader();
  const bytes = new Uint8Array(total);
  let received = 0;
  progress(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > total) throw new Error(`the weights are larger than the manifest's ${total} bytes`);
    bytes.set(value, received);
    received += value.length;
    progress(received, total);
  }
  if (received !== total) throw new Error(`the weights are ${received} bytes, the manifest says ${total}`);
  return bytes;
}
