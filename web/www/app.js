// The page's entry point: wires the drop zone, the file picker, paste, the camera and the
// settings to the modules: worker-client.js (the worker that computes), model.js (the bundle
// in use), cards.js (one card per photo) and camera.js. protocol.js defines what page and
// worker say to each other.
import { Camera } from './camera.js';
import { Cards } from './cards.js';
import { $, announce } from './dom.js';
import { isolateByReloading } from './isolation.js';
import { Model } from './model.js';
import { WorkerClient } from './worker-client.js';

const client = new WorkerClient(() => model.reload(), (notice) => model.showStartup(notice));
const model = new Model(client, () => cards.classifyAll());
const cards = new Cards(client, model);
const camera = new Camera((file) => cards.add(file));

function addFiles(fileList) {
  const files = [...fileList];
  const bundleFiles = files.filter((f) => /\.(json|safetensors)$/i.test(f.name));
  if (bundleFiles.length) model.loadDropped(bundleFiles);
  for (const file of files) if (!bundleFiles.includes(file)) cards.add(file);
}

// An image dragged from another page arrives as its address: fetched where its site allows
// other pages to read it (CORS), otherwise its card says what to do instead.
async function addUrl(address) {
  let url;
  try {
    url = new URL(address, location.href);
  } catch {
    return;
  }
  const name = addressName(url);
  let blob;
  try {
    const response = await fetch(url, { mode: 'cors', credentials: 'omit' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    blob = await response.blob();
  } catch (error) {
    cards.addFailed(name, `${url.href} could not be fetched: its site does not let other pages read it ` +
      `(${error.message}). Save the image to your device, then drop the saved file here.`);
    return;
  }
  cards.add(new File([blob], name, { type: blob.type }));
}

/** A short name for a dragged address's card. */
function addressName(url) {
  if (!/^https?:$/.test(url.protocol)) return 'dragged image';
  const last = url.pathname.split('/').pop() || url.hostname;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

function drop(transfer) {
  if (transfer.files.length) return addFiles(transfer.files);
  // `text/uri-list` may hold comments (#) and several addresses.
  const urls = (transfer.getData('text/uri-list') || transfer.getData('text/plain'))
    .split(/\r?\n/).map((line) => line.trim()).filter((line) => /^(https?|data|blob):/i.test(line));
  for (const url of urls) addUrl(url);
}

async function copyJson() {
  try {
    await navigator.clipboard.writeText(JSON.stringify(cards.results(), null, 2));
    announce(`The results of ${cards.cards.length} photos were copied as JSON.`);
  } catch (error) {
    announce(`The results could not be copied: ${error.message}. Use "Download CSV" instead.`);
  }
}

function downloadCsv() {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([cards.csv()], { type: 'text/csv' }));
  link.download = 'skirt-photos.csv';
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

function wire() {
  const zone = $('#drop');
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add('over'); });
  }
  for (const type of ['dragleave', 'drop']) {
    zone.addEventListener(type, () => zone.classList.remove('over'));
  }
  // Files dropped anywhere on the page count (and never make the browser navigate away).
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => { e.preventDefault(); drop(e.dataTransfer); });
  // The drop zone is a button too: a click, Enter or Space opens the file picker (on the key's
  // release: Chromium opens no file picker from a keydown). Only a key pressed on the zone
  // counts, not the release of one that moved the focus here (removing a card).
  const activates = (e) => e.key === 'Enter' || e.key === ' ';
  let pressed = false;
  zone.addEventListener('click', () => $('#picker').click());
  zone.addEventListener('keydown', (e) => {
    if (!activates(e)) return;
    e.preventDefault();
    pressed = true;
  });
  zone.addEventListener('keyup', (e) => {
    if (activates(e) && pressed) $('#picker').click();
    pressed = false;
  });
  zone.addEventListener('blur', () => { pressed = false; });
  $('#picker').addEventListener('change', (e) => { addFiles(e.target.files); e.target.value = ''; });
  document.addEventListener('paste', (e) => addFiles(e.clipboardData.files));
  $('#show-cam').addEventListener('change', () => cards.drawAll());
  $('#backend-choice').addEventListener('change', () => model.switchBackend());
  $('#stop').addEventListener('click', () => cards.stop());
  $('#download-csv').addEventListener('click', downloadCsv);
  $('#copy-json').addEventListener('click', copyJson);
  $('#clear').addEventListener('click', () => cards.clear());
  camera.wire();
}

// The service worker (sw.js) keeps the page and the model for offline use, and says when a
// new deploy is ready. Pages opened from a file or without the API work as before.
// Resolves with its registration, or null.
function offline() {
  if (!navigator.serviceWorker) return Promise.resolve(null);
  const registration = navigator.serviceWorker.register('sw.js').catch(() => null);
  navigator.serviceWorker.addEventListener('message', ({ data }) => {
    if (!data?.update || !$('#update').hidden) return;
    $('#update').hidden = false;
    announce('A new version of this page is ready: "Use it now" reloads it.');
  });
  navigator.serviceWorker.startMessages(); // what arrived before this listener, too
  $('#use-update').addEventListener('click', async () => {
    (await navigator.serviceWorker.ready).active?.postMessage({ type: 'use-update' });
  });
  return registration;
}

const requested = new URLSearchParams(location.search).get('backend');
if (['auto', 'webgpu', 'cpu'].includes(requested)) $('#backend-choice').value = requested;
wire();
if (!(await isolateByReloading(offline()))) model.start();
