// The Web Worker that owns the wasm module: decoding, preprocessing and inference run here, so
// the page stays responsive. Requests (protocol.js) are answered one at a time, in order.
//
// Two builds of the module: the default one (web.js: WebGPU, and the CPU on this one thread)
// and, for the CPU where the page is cross-origin isolated, the threaded one (mt/web.js, built
// by scripts/build-threads.sh), whose rayon pool runs on Web Workers of its own.
import * as single from './web.js';
import { CodedError, ErrorCode } from './protocol.js';

/** The most threads the CPU path uses: beyond this, more workers cost memory for little. */
const MAX_THREADS = 8;

// Every request waits for the default module; one that cannot be fetched or compiled answers
// each of them with that.
const ready = download(new URL('web_bg.wasm', import.meta.url)).then(single.default).catch((error) => {
  throw new CodedError(ErrorCode.NOT_STARTED, `its WebAssembly module did not load (${error.message})`);
});
ready.catch(() => {}); // Reported with the requests, not as an unhandled rejection.
let queue = Promise.resolve();
/** The module that holds the model: the default one, or the threaded one for the CPU. */
let active = single;
/** @type {Promise<{ module: any, threads: number, why?: string }> | null} the CPU's module, once asked for */
let cpu = null;

self.onmessage = (event) => {
  queue = queue.then(() => answer(event.data));
};

/**
 * The module for the CPU path: the threaded one with a pool of min(cores, MAX_THREADS)
 * threads where the page is cross-origin isolated, else the default one on this thread, with
 * the reason.
 */
function cpuModule() {
  cpu ??= (async () => {
    const cores = navigator.hardwareConcurrency ?? 1;
    if (!self.crossOriginIsolated) return { module: single, threads: 1, why: 'the page is not cross-origin isolated' };
    if (cores < 2) return { module: single, threads: 1, why: 'the browser reports one core' };
    const threaded = await import('./mt/web.js');
    await threaded.default(await download(new URL('mt/web_bg.wasm', import.meta.url)));
    const threads = Math.min(cores, MAX_THREADS);
    await threaded.initThreadPool(threads);
    return { module: threaded, threads };
  })().catch((error) => ({ module: single, threads: 1, why: `the threaded module did not start (${error.message})` }));
  return cpu;
}

/**
 * The wasm module, downloaded with progress notices (it is the page's largest file after the
 * weights), as a response the browser compiles.
 * @param {URL} url
 */
async function download(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  const total = Number(response.headers.get('content-length')) || null;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    /** @type {import('./protocol.js').Notice} */
    const notice = { progress: { loaded, total } };
    self.postMessage(notice);
  }
  return { module_or_path: new Response(new Blob(chunks), { headers: { 'content-type': 'application/wasm' } }) };
}

/** @param {import('./protocol.js').Request & { id: number }} request */
async function answer(request) {
  const { id } = request;
  try {
    await ready;
    const [result, transfer] = await handle(request);
    self.postMessage({ id, result }, transfer);
  } catch (error) {
    self.postMessage({ id, error: { code: codeOf(error), message: error?.message ?? String(error) } });
  }
}

// The wasm side's errors carry their code; a Rust panic surfaces as a RuntimeError (or a
// non-Error) and leaves the instance unusable.
function codeOf(error) {
  if (error instanceof WebAssembly.RuntimeError || !(error instanceof Error)) return ErrorCode.CRASHED;
  return Object.values(ErrorCode).includes(error.code) ? error.code : ErrorCode.UNKNOWN;
}

async function handle(request) {
  switch (request.type) {
    case 'probe':
      return [await probeWebGpu(), []];
    case 'manifest': {
      const { name, bytes } = request.manifest;
      return [JSON.parse(single.read_manifest(name, new Uint8Array(bytes))), []];
    }
    case 'load': {
      const { manifest, weights, backend } = request;
      const { module, threads, why } = backend === 'cpu' ? await cpuModule() : { module: single, threads: null };
      const start = performance.now();
      await module.load_model(manifest.name, new Uint8Array(manifest.bytes), weights.name,
        new Uint8Array(weights.bytes), backend);
      active = module;
      const loaded = performance.now();
      await warmUp();
      /** @type {import('./protocol.js').Loaded} */
      const result = { loadMs: loaded - start, warmUpMs: performance.now() - loaded, threads, why: why ?? null };
      return [result, []];
    }
    case 'classify': {
      const start = performance.now();
      let p;
      let decodedByBrowser = false;
      try {
        p = await active.classify(new Uint8Array(request.bytes));
      } catch (error) {
        // A format the classifier's decoder lacks (HEIC, AVIF, GIF...): the browser may know it.
        if (error.code !== ErrorCode.UNSUPPORTED_IMAGE) throw error;
        const bitmap = await createImageBitmap(new Blob([request.bytes])).catch(() => null);
        if (!bitmap) throw error;
        const pixels = browserPixels(bitmap);
        p = await active.classify_pixels(pixels.rgba, pixels.width, pixels.height);
        decodedByBrowser = true;
      }
      /** @type {import('./protocol.js').Prediction} */
      const result = {
        ...answersOf(JSON.parse(p.answers)),
        cams: p.cams, camSize: p.cam_size, camScale: p.cam_scale, camScaleFixed: p.cam_scale_fixed,
        view: p.view, viewSize: p.view_size, decodedByBrowser, ms: performance.now() - start,
      };
      p.free();
      return [result, [result.cams.buffer, result.view.buffer]];
    }
    default:
      throw new CodedError(ErrorCode.BAD_REQUEST, `unknown request ${request.type}`);
  }
}

/**
 * A photo's answers (`trainer classify --json`'s shape: one task's flat, or the garment and
 * the tasks') in one shape for the page, each task with where its outputs start (its
 * classes' heatmaps).
 * @returns {{ tasks: import('./protocol.js').TaskAnswer[], garment: import('./protocol.js').Garment | null }}
 */
function answersOf(answers) {
  const tasks = answers.tasks ?? [answers];
  let offset = 0;
  for (const task of tasks) {
    task.offset = offset;
    offset += task.classes.length;
  }
  return { tasks, garment: answers.garment ?? null };
}

/**
 * The upright RGBA pixels of a picture the browser decoded, once its size is within limits.
 * @param {ImageBitmap} bitmap
 */
function browserPixels(bitmap) {
  try {
    const { width, height } = bitmap;
    active.check_image_size(width, height);
    const context = new OffscreenCanvas(width, height).getContext('2d');
    context.drawImage(bitmap, 0, 0);
    return { rgba: new Uint8Array(context.getImageData(0, 0, width, height).data.buffer), width, height };
  } finally {
    bitmap.close();
  }
}

/**
 * One classification of a plain grey picture right after loading: the first run compiles the
 * GPU's kernels and grows memory, which would otherwise be counted in the first photo's time.
 */
async function warmUp() {
  const canvas = new OffscreenCanvas(64, 64);
  const context = canvas.getContext('2d');
  context.fillStyle = '#808080';
  context.fillRect(0, 0, 64, 64);
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  (await active.classify(new Uint8Array(await blob.arrayBuffer()))).free();
}

/** What WebGPU offers here: an adapter, and whether it is a software fallback (SwiftShader). */
async function probeWebGpu() {
  if (!navigator.gpu) return { available: false, reason: 'this browser has no WebGPU' };
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { available: false, reason: 'WebGPU found no graphics adapter' };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
  return {
    available: true,
    fallback: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
    name: name || 'unnamed adapter',
  };
}
