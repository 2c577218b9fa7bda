// The service worker: the page loads and classifies offline after one visit, and a deploy
// never mixes with the version a page started with.
//
// The app shell (page, scripts, wasm) is kept as one set, in a cache named for its content,
// and pages are served from the current set: a second visit downloads none of it. After each
// navigation the worker asks the server (HEAD requests: no bodies) whether any shell file
// changed; a changed deploy is downloaded whole into a new set. That set becomes current when
// a page is opened with no other tab of the site open, or when the user accepts the page's
// "use it now" (every tab then reloads): no running page, nor its Web Worker, ever gets files
// from two deploys. The published model's manifest is kept too (model.js keeps the weights).

const SHELL = [
  './', 'app.js', 'camera.js', 'cards.js', 'dom.js', 'model.js', 'protocol.js', 'worker-client.js',
  'worker.js', 'web.js', 'web_bg.wasm', 'style.css', 'app.webmanifest', 'icon-192.png', 'icon-512.png',
];
const MODEL_MANIFEST = 'model/manifest.json';
const PREFIX = 'skirt-classifier-shell-';
const STATE = 'skirt-classifier-state';
const MODEL = 'skirt-classifier-model-manifest';

const url = (path) => new URL(path, self.registration.scope).href;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    if (!(await currentSet())) {
      const found = await look();
      await makeCurrent(await download(), found);
    }
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
  if (address.href === url(MODEL_MANIFEST)) return event.respondWith(networkFirst(request));
  const key = request.mode === 'navigate' ? url('./') : address.origin + address.pathname;
  if (!SHELL.some((file) => url(file) === key)) return;
  event.respondWith(fromShell(event, key));
});

async function fromShell(event, key) {
  if (event.request.mode === 'navigate') {
    await promoteIfAlone(event.resultingClientId);
    event.waitUntil(checkForUpdate().catch(() => {}));
  }
  const name = await currentSet();
  const cached = name && (await (await caches.open(name)).match(key));
  return cached ?? fetch(event.request);
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

// ---- the sets: { current, looks, next?, nextLooks? } ------------------------------------

async function state() {
  const response = await (await caches.open(STATE)).match('state');
  return response ? response.json() : {};
}

async function writeState(value) {
  await (await caches.open(STATE)).put('state', new Response(JSON.stringify(value)));
}

async function currentSet() {
  const { current } = await state();
  return current && (await caches.has(current)) ? current : null;
}

/** `name` (with how the server described it, `looks`) becomes the set pages are served from. */
async function makeCurrent(name, looks) {
  await writeState({ current: name, looks });
  for (const old of await caches.keys()) if (old.startsWith(PREFIX) && old !== name) await caches.delete(old);
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

/** Every shell file as the server has it now, stored whole as a set named for its content. */
async function download() {
  const responses = await Promise.all(SHELL.map(async (file) => {
    const response = await fetch(url(file), { cache: 'no-cache' });
    if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
    return response;
  }));
  const bodies = await Promise.all(responses.map((r) => r.clone().arrayBuffer()));
  const name = PREFIX + (await digest(bodies));
  if (!(await caches.has(name))) {
    // Filled under a temporary name and copied once complete: a set under its final name is
    // always whole.
    const partial = await caches.open(`${name}-partial`);
    await Promise.all(SHELL.map((file, i) => partial.put(url(file), responses[i])));
    const complete = await caches.open(name);
    for (const request of await partial.keys()) await complete.put(request, await partial.match(request));
    await caches.delete(`${name}-partial`);
  }
  return name;
}

async function digest(bodies) {
  const hashes = await Promise.all(bodies.map((body) => crypto.subtle.digest('SHA-256', body)));
  const all = await crypto.subtle.digest('SHA-256', new Uint8Array(hashes.flatMap((h) => [...new Uint8Array(h)])));
  return [...new Uint8Array(all).slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// A changed deploy becomes the next set, and the open pages are told.
async function checkForUpdate() {
  const found = await look();
  const known = await state();
  if (found === known.looks || found === known.nextLooks) return;
  const name = await download();
  if (name === known.current) return writeState({ ...known, looks: found });
  await writeState({ ...known, next: name, nextLooks: found });
  for (const client of await self.clients.matchAll({ type: 'window' })) client.postMessage({ update: true });
}

// The next set becomes current when the navigating page is the only one.
async function promoteIfAlone(navigating) {
  const { next, nextLooks } = await state();
  if (!next || !(await caches.has(next))) return;
  const windows = await self.clients.matchAll({ type: 'window' });
  if (windows.some((client) => client.id !== navigating)) return;
  await makeCurrent(next, nextLooks);
}

// The user chose the new version: it becomes current and every open page reloads into it.
async function useUpdate() {
  const { next, nextLooks } = await state();
  if (!next || !(await caches.has(next))) return;
  await makeCurrent(next, nextLooks);
  for (const client of await self.clients.matchAll({ type: 'window' })) await client.navigate(client.url);
}
