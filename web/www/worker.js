// The Web Worker that owns the wasm module: decoding, preprocessing and inference run here, so
// the page stays responsive. Requests are answered one at a time, in order.
import init, { classify, load_model, read_manifest } from './web.js';

const ready = init();
let queue = Promise.resolve();

self.onmessage = (event) => {
  queue = queue.then(() => answer(event.data));
};

async function answer(request) {
  const { id } = request;
  try {
    await ready;
    const [result, transfer] = await handle(request);
    self.postMessage({ id, result }, transfer);
  } catch (error) {
    // A Rust panic leaves the wasm instance unusable: the page then starts a new worker.
    const fatal = error instanceof WebAssembly.RuntimeError || !(error instanceof Error);
    self.postMessage({ id, error: error?.message ?? String(error), fatal });
  }
}

async function handle(request) {
  switch (request.type) {
    case 'probe':
      return [await probeWebGpu(), []];
    case 'manifest':
      return [JSON.parse(read_manifest(request.file, new Uint8Array(request.bytes))), []];
    case 'load':
      await load_model(request.manifestFile, new Uint8Array(request.manifest),
        request.weightsFile, new Uint8Array(request.weights), request.backend);
      return [null, []];
    case 'classify': {
      const start = performance.now();
      const p = await classify(new Uint8Array(request.bytes));
      const result = {
        probabilities: p.probabilities, logits: p.logits, top: p.top,
        cam: p.cam, camSize: p.cam_size, view: p.view, viewSize: p.view_size,
        ms: performance.now() - start,
      };
      p.free();
      return [result, [result.cam.buffer, result.view.buffer]];
    }
    default:
      throw new Error(`unknown request ${request.type}`);
  }
}

// What WebGPU offers here: an adapter, and whether it is a software fallback (SwiftShader).
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
