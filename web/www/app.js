// The page's entry point: wires the drop zone, the file picker, paste and the settings to the
// modules: worker-client.js (the worker that computes), model.js (the bundle in use) and
// cards.js (one card per photo). protocol.js defines what page and worker say to each other.
import { Cards } from './cards.js';
import { $ } from './dom.js';
import { Model } from './model.js';
import { WorkerClient } from './worker-client.js';

const client = new WorkerClient(() => model.reload(), (notice) => model.showStartup(notice));
const model = new Model(client, () => cards.classifyAll());
const cards = new Cards(client, model);

function addFiles(fileList) {
  const files = [...fileList];
  const bundleFiles = files.filter((f) => /\.(json|safetensors)$/i.test(f.name));
  if (bundleFiles.length) model.loadDropped(bundleFiles);
  for (const file of files) if (!bundleFiles.includes(file)) cards.add(file);
}

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
  $('#show-cam').addEventListener('change', () => cards.drawAll());
  $('#backend-choice').addEventListener('change', () => model.switchBackend());
}

const requested = new URLSearchParams(location.search).get('backend');
if (['auto', 'webgpu', 'cpu'].includes(requested)) $('#backend-choice').value = requested;
wire();
model.start();
