// The service worker: the page loads and classifies offline after one visit, a deploy never
// mixes with the version a page started with, and the page is cross-origin isolated (the
// CPU path's threads need it) on hosts that cannot send the headers for that themselves.
//
// The app shell (page, scripts, wasm) is kept as one set, in a cache named for its content,
// and pages are served from the current set: a second visit downloads none of it. After each
// visit the worker asks the server (HEAD requests: no bodies) whether any shell file changed;
// a changed deploy is downloaded whole into a new set, kept only if the server described every
// file the same before and after the download (no deploy landed in between). The new set
// becomes current when the page is opened (a new tab or window) with no other tab of it open,
// or when the user accepts the page's "Use it now" (every tab then reloads): no running page,
// nor its Web Worker, ever gets files from two deploys. The published model's manifest is
// kept too (model.js keeps the weights).

const SHELL = [
  './', 'app.js', 'camera.js', 'cards.js', 'dom.js', 'isolation.js', 'model.js', 'protocol.js',
  'worker-client.js', 'worker.js', 'web.js', 'web_bg.wasm', 'mt/web.js', 'mt/web_bg.wasm', 'mt/pool.js',
  'style.css', 'app.webmanifest', 'icon-192.png', 'icon-512.png',
];
const MODEL_MANIFEST = 'model/manifest.json';
const PREFIX = 'skirt-classifier-shell-';
const STATE = 'skirt-classifier-state';
const MODEL = 'skirt-classifier-model-manifest';
/** The entry a set gets last: a set without it was cut short and is not used. */
const COMPLETE = '__complete__';

const url = (path) => new URL(path, self.registration.scope).href;

// Every read-modify-write of the state runs in this one chain, never two at once.
let chain = Promise.resolve();
const serially = (task) => {
  const run = chain.then(task);
  chain = run.catch(() => {});
  return run;
};

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    // A first visit keeps the model's manifest too, so that it works offline from then on.
    await networkFirst(new Request(url(MODEL_MANIFEST))).catch(() => {});
    await serially(async () => {
      const found = await look();
      const name = await download(found);
      const known = await state();
      // A new version of this file: its set waits like any new deploy.
      if (!known.current || !(await complete(known.current))) await writeState({ current: name, looks: found });
      else if (name !== known.current) await writeState({ ...known, next: name, nextLooks: found });
    });
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  if (event.data?.type === 'use-update') event.waitUntil(useUpdate());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const address = new URL(request.url);
  const path = address.origin + address.pathname;
  if (path === url(MODEL_MANIFEST)) return event.respondWith(networkFirst(request));
  // The page itself is the scope's address (or its index.html); other addresses in the
  // scope (a file opened in a tab, a missing page) go to the server.
  const page = request.mode === 'navigate';
  if (page && path !== url('./') && path !== url('index.html')) return;
  const key = page ? url('./') : path;
  if (!SHELL.some((file) => url(file) === key)) return;
  event.respondWith(fromShell(event, key));
});

async function fromShell(event, key) {
  if (event.request.mode === 'navigate') {
    await serially(() => promoteIfAlone(event.resultingClientId));
    event.waitUntil(checkForUpdate(event.resultingClientId).catch(() => {}));
  }
  const { current } = await state();
  const cached = current && (await complete(current)) && (await (await caches.open(current)).match(key));
  return isolated(cached || (await fetch(event.request)));
}

/**
 * `response` with the headers that make the page cross-origin isolated (COOP and COEP, as
 * coi-serviceworker adds them): the page, its worker and the rest of the shell. Under them,
 * files from other origins load only with CORS, which the page's fetches use anyway.
 * Redirects and opaque responses pass as they are.
 */
function isolated(response) {
  if (response.status === 0 || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// The model's manifest from the network (a new export shows at once), else the last one seen.
async function networkFirst(request) {
  const cache = await caches.open(MODEL);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request.url, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request.url);
    if (cached) return cached;
    throw error;
  }
}

// ---- the sets; the state is { current, looks, next?, nextLooks? } -------------------------

async function state() {
  const response = await (await caches.open(STATE)).match('state');
  return response ? response.json() : {};
}

async function writeState(value) {
  await (await caches.open(STATE)).put('state', new Response(JSON.stringify(value)));
  // Sets neither current nor next are not needed any more.
  for (const name of await caches.keys()) {
    if (name.startsWith(PREFIX) && name !== value.current && name !== value.next) await caches.delete(name);
  }
}

async function complete(name) {
  return Boolean(await (await caches.open(name)).match(url(COMPLETE)));
}

/** How the server describes the shell's files now (validators and sizes), without bodies. */
async function look() {
  const parts = await Promise.all(SHELL.map(async (file) => {
    const response = await fetch(url(file), { method: 'HEAD', cache: 'no-store' });
    if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
    return ['etag', 'last-modified', 'content-length'].map((h) => response.headers.get(h) ?? '').join(' ');
  }));
  return parts.join('\n');
}

/**
 * Every shell file as the server has it now, stored whole as a set named for its content;
 * the set's name. `found` is what `look` said before: a server that says otherwise after the
 * download was deployed to meanwhile, and the download is done again.
 */
async function download(found) {
  for (let attempt = 1; ; attempt++) {
    const responses = await Promise.all(SHELL.map(async (file) => {
      const response = await fetch(url(file), { cache: 'no-cache' });
      if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
      return response;
    }));
    if ((await look()) !== found) {
      if (attempt === 3) throw new Error('the site changed during each of 3 downloads');
      found = await look();
      continue;
    }
    const bodies = await Promise.all(responses.map((r) => r.clone().arrayBuffer()));
    const name = PREFIX + (await digest(bodies));
    if (!(await complete(name))) {
      const cache = await caches.open(name);
      await Promise.all(SHELL.map((file, i) => cache.put(url(file), responses[i])));
      await cache.put(url(COMPLETE), new Response('')); // last: the set is whole
    }
    return name;
  }
}

async function digest(bodies) {
  const hashes = await Promise.all(bodies.map((body) => crypto.subtle.digest('SHA-256', body)));
  const all = await crypto.subtle.digest('SHA-256', new Uint8Array(hashes.flatMap((h) => [...new Uint8Array(h)])));
  return [...new Uint8Array(all).slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// After a visit: a changed deploy becomes the next set, and the open pages are told (the
// page just opened too, if a next set was already waiting).
let checking = null;
function checkForUpdate(visitor) {
  checking ??= serially(async () => {
    const found = await look();
    const known = await state();
    if (found === known.looks) return;
    if (found === known.nextLooks) return tell(visitor);
    const name = await download(found);
    if (name === known.current) {
      // Back to the version in use (a rollback): nothing waits any more.
      await writeState({ current: known.current, looks: found });
      return;
    }
    await writeState({ ...known, next: name, nextLooks: found });
    await tell();
  }).finally(() => { checking = null; });
  return checking;
}

/** Tells `visitor` (or every open page) that a new version is ready. */
async function tell(visitor) {
  for (const client of await self.clients.matchAll({ type: 'window' })) {
    if (!visitor || client.id === visitor) client.postMessage({ update: true });
  }
}

// The next set becomes current when the navigating page is the only one.
async function promoteIfAlone(navigating) {
  const { next, nextLooks } = await state();
  if (!next || !(await complete(next))) return;
  const windows = await self.clients.matchAll({ type: 'window' });
  if (windows.some((client) => client.id !== navigating)) return;
  await writeState({ current: next, looks: nextLooks });
}

// The user chose the new version: it becomes current and every open page reloads into it.
async function useUpdate() {
  await serially(async () => {
    const { next, nextLooks } = await state();
    if (next && (await complete(next))) await writeState({ current: next, looks: nextLooks });
  });
  for (const client of await self.clients.matchAll({ type: 'window' })) await client.navigate(client.url);
}
