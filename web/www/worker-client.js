// The page's side of the worker (worker.js): requests as promises, and a new worker after the
// wasm side crashed.
import { CodedError, ErrorCode } from './protocol.js';

/** @typedef {import('./protocol.js').Request} Request */
/** @typedef {import('./protocol.js').Answer} Answer */

export class WorkerClient {
  /**
   * @param {() => void} onRestart runs when a new worker replaces a crashed one (to load the model again)
   * @param {(notice: import('./protocol.js').Notice) => void} onNotice runs for what the worker says unasked
   */
  constructor(onRestart, onNotice) {
    this.onRestart = onRestart;
    this.onNotice = onNotice;
    /** @type {Worker | null} */
    this.worker = null;
    this.nextId = 0;
    /** @type {Map<number, { resolve: (result: any) => void, reject: (error: Error) => void }>} */
    this.pending = new Map();
    this.start();
  }

  start() {
    this.worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = ({ data }) => this.settle(data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.stop(`the classifier stopped: ${event.message || 'it could not start'}`);
    };
  }

  /** @param {Answer | import('./protocol.js').Notice} answer */
  settle(answer) {
    if (!('id' in answer)) return this.onNotice(answer);
    const request = this.pending.get(answer.id);
    this.pending.delete(answer.id);
    if (!('error' in answer)) return request.resolve(answer.result);
    const { code, message } = answer.error;
    request.reject(new CodedError(code, message));
    if (code === ErrorCode.CRASHED) this.stop('the classifier crashed');
  }

  // A crashed worker goes, and `revive` starts a new one when the next photo needs it (on
  // demand, so that a model that crashes cannot loop).
  stop(message) {
    this.worker.terminate();
    this.worker = null;
    for (const request of this.pending.values()) request.reject(new CodedError(ErrorCode.CRASHED, message));
    this.pending.clear();
  }

  revive() {
    if (this.worker) return;
    this.start();
    this.onRestart();
  }

  /**
   * Sends `request`; resolves with its result, rejects with a CodedError.
   * @param {Request} request
   * @param {Transferable[]} transfer buffers moved to the worker instead of copied
   */
  ask(request, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }
}
