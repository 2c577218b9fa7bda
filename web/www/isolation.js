// Cross-origin isolation, which the CPU path's threads need (SharedArrayBuffer). A host that
// sends the COOP and COEP headers isolates the page at once; elsewhere the service worker adds
// them (sw.js), but only to the pages it serves: the first visit waits for it to take over
// (it downloads the page's files meanwhile, which the visit needs anyway), then reloads once.
// A browser or host that still refuses keeps the CPU on one thread for this session.
import { $ } from './dom.js';

const RELOADED = 'reloaded-for-threads';
/** How long the first visit waits for the service worker before it goes on without threads. */
const WAIT_MS = 20_000;

/**
 * Reloads the page once where that makes it isolated; true when it does (the page then stops
 * here). `registration` is the service worker's, or null where it could not register.
 * @param {Promise<ServiceWorkerRegistration | null>} registration
 */
export async function isolateByReloading(registration) {
  if (!('crossOriginIsolated' in self) || self.crossOriginIsolated) return false;
  if ((navigator.hardwareConcurrency ?? 1) < 2 || remembered()) return false;
  if (!navigator.serviceWorker.controller) {
    $('#model-status').textContent = 'Setting the page up for offline use and for several CPU threads…';
    if (!(await takenOver(registration))) return false;
  }
  try {
    sessionStorage.setItem(RELOADED, '1');
  } catch {
    return false; // Without the note, a browser that refuses isolation would reload in a loop.
  }
  location.reload();
  return true;
}

/** Whether this session's page was reloaded for threads (the page says so once it has them). */
export function remembered() {
  try {
    return sessionStorage.getItem(RELOADED) !== null;
  } catch {
    return false;
  }
}

/**
 * Resolves true when the service worker controls the page; false if it cannot register, fails
 * to install or takes too long.
 * @param {Promise<ServiceWorkerRegistration | null>} registration
 */
function takenOver(registration) {
  return new Promise((resolve) => {
    navigator.serviceWorker.addEventListener('controllerchange', () => resolve(true), { once: true });
    registration.then((worker) => {
      if (!worker) return resolve(false);
      // Active already, yet not in control: a reload that bypassed it (Shift+reload); a plain
      // reload is served by it.
      if (worker.active && !worker.installing && !worker.waiting) return resolve(true);
      worker.installing?.addEventListener('statechange', (event) => {
        if (event.target.state === 'redundant') resolve(false);
      });
    });
    setTimeout(() => resolve(false), WAIT_MS);
  });
}
