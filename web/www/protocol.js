// The page <-> worker protocol, written down once: worker.js answers these requests,
// worker-client.js sends them, and both take the types and codes from here.

/**
 * A file's bytes with the name that messages give it.
 * @typedef {{ name: string, bytes: ArrayBuffer }} NamedBytes
 */

/**
 * Where the network runs.
 * @typedef {'webgpu' | 'cpu'} Backend
 */

/**
 * What WebGPU offers in this browser.
 * @typedef {{ available: false, reason: string }
 *         | { available: true, fallback: boolean, name: string }} WebGpuInfo
 */

/**
 * A bundle's manifest (`shared::bundle::Manifest`), checked by the worker: a model of one task
 * (`task`, `classes`) or of several (`tasks`, each with its classes).
 * @typedef {{ arch: string, task: string, classes: string[], tasks?: { name: string, classes: string[] }[],
 *             precision: string, preprocessing: { crop: number, view?: 'crop' | 'pad' },
 *             weights: { file: string, bytes: number, sha256: string } }} Manifest
 */

/**
 * One task's answer for a photo: its classes' probabilities (calibrated where the bundle is)
 * and logits, the top class, the calibration's flags (undefined without one), and `offset`,
 * where its outputs start among the model's (its classes' heatmaps).
 * @typedef {{ task: string, classes: string[], probabilities: number[], logits: number[], top: number,
 *             unsure: boolean | undefined, out_of_distribution: boolean | undefined, offset: number }} TaskAnswer
 */

/**
 * A model of several tasks: which task's garment the photo shows (each task's probability).
 * @typedef {{ tasks: string[], probabilities: number[], logits: number[], top: number }} Garment
 */

/**
 * One photo's answer: every task's (one for a model of one task) and, for a model of several,
 * the garment; every output's activation map (outputs x camSize x camSize, in logit units)
 * with the value drawn at full colour (the bundle's for all photos when `camScaleFixed`, else
 * this photo's strongest), the RGBA crop the network saw, and whether the browser decoded the
 * photo (a format the classifier's own decoder lacks).
 * @typedef {{ tasks: TaskAnswer[], garment: Garment | null,
 *             cams: Float32Array, camSize: number, camScale: number, camScaleFixed: boolean,
 *             view: Uint8Array, viewSize: number, decodedByBrowser: boolean, ms: number }} Prediction
 */

/**
 * How long a model took to load, and its first run (the warm-up) after that; on the CPU, how
 * many threads it runs on, and why only one where that is so (null on the GPU).
 * @typedef {{ loadMs: number, warmUpMs: number, threads: number | null, why: string | null }} Loaded
 */

/**
 * The requests, each with the result it is answered with:
 * - `probe` -> WebGpuInfo
 * - `manifest` (checks a manifest) -> Manifest
 * - `load` (replaces the worker's model, then warms it up) -> Loaded
 * - `classify` (one photo's encoded bytes) -> Prediction
 * @typedef {{ type: 'probe' }
 *         | { type: 'manifest', manifest: NamedBytes }
 *         | { type: 'load', backend: Backend, manifest: NamedBytes, weights: NamedBytes }
 *         | { type: 'classify', bytes: ArrayBuffer }} Request
 */

/**
 * The worker's message for request `id`: its result, or an error.
 * @typedef {{ id: number, result: any } | { id: number, error: { code: ErrorCode, message: string } }} Answer
 */

/**
 * What the worker says unasked: how much of its wasm module has arrived (`total` is null when
 * the server does not say).
 * @typedef {{ progress: { loaded: number, total: number | null } }} Notice
 */

/**
 * What went wrong, for the page's decisions (never the wording of a message). All but the
 * last three come from the wasm side (web/src/error.rs).
 * @readonly
 * @enum {string}
 */
export const ErrorCode = Object.freeze({
  BAD_REQUEST: 'bad-request',
  BAD_BUNDLE: 'bad-bundle',
  BAD_IMAGE: 'bad-image',
  /** A format the classifier's decoder lacks: the worker lets the browser decode it. */
  UNSUPPORTED_IMAGE: 'unsupported-image',
  NO_MODEL: 'no-model',
  OUT_OF_MEMORY: 'out-of-memory',
  /** WebGPU could not start: the page runs the model on the CPU instead. */
  WEBGPU_UNAVAILABLE: 'webgpu-unavailable',
  DEVICE_FAILED: 'device-failed',
  /** The worker's wasm module could not be fetched or compiled. */
  NOT_STARTED: 'not-started',
  /** The wasm instance panicked and is unusable: the page starts a new worker. */
  CRASHED: 'crashed',
  /** Anything else that was thrown. */
  UNKNOWN: 'unknown',
});

/** An Error carrying its ErrorCode. */
export class CodedError extends Error {
  /** @param {ErrorCode} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
