// One card per photo: its state while the worker classifies it, then the answer, the class
// bars and the crop the network saw with its class-activation map; and the photos' results
// as a whole (stop, remove, clear, CSV and JSON).
import { $, announce, readFile } from './dom.js';

/**
 * A photo on the page. `run` counts its classifications: an answer for an older run (the
 * model changed meanwhile) is dropped.
 * `shown` is the class whose heatmap is drawn.
 * @typedef {{ file: File | null, name: string, element: HTMLElement, run: number, removed: boolean,
 *             prediction: import('./protocol.js').Prediction | null, backend: string | null,
 *             error: string | null, shown: number }} Card
 */

/** The reason a waiting photo is not classified: the user stopped, removed it, or a newer run took over. */
class Skipped extends Error {}

export class Cards {
  /**
   * @param {import('./worker-client.js').WorkerClient} client
   * @param {import('./model.js').Model} model
   */
  constructor(client, model) {
    this.client = client;
    this.model = model;
    /** @type {Card[]} in the order they were added (the page shows the newest first) */
    this.cards = [];
    // Photos are read and handed to the worker two at a time (it classifies one at a time
    // anyway), so that dropping hundreds of large photos does not hold all their bytes at once.
    this.turnsFree = 2;
    /** @type {(() => void)[]} */
    this.waitingForTurn = [];
    /** Counts the user's "Stop" presses: a photo waiting since before the last one is not classified. */
    this.stops = 0;
  }

  /** A new card for `file`, classified as soon as the model is ready. */
  add(file) {
    const card = this.create(file.name || 'pasted image', file);
    this.classify(card);
  }

  /** A card for something that could not become a photo (a URL the site does not share). */
  addFailed(name, message) {
    this.fail(this.create(name, null), message);
    this.update();
    announce(`${name}: ${message}`);
  }

  create(name, file) {
    const element = document.createElement('article');
    element.className = 'card';
    element.setAttribute('aria-label', name);
    element.innerHTML = '<div class="head"><h2></h2><button type="button" class="remove">×</button></div>' +
      '<canvas width="1" height="1" role="img" hidden></canvas><div class="body"></div>';
    element.querySelector('h2').textContent = name;
    const remove = element.querySelector('.remove');
    remove.setAttribute('aria-label', `Remove ${name}`);
    /** @type {Card} */
    const card = { file, name, element, run: 0, removed: false, prediction: null, backend: null, error: null, shown: 0 };
    remove.addEventListener('click', () => this.remove(card));
    $('#results').prepend(element);
    this.cards.push(card);
    return card;
  }

  classifyAll() {
    for (const card of this.cards) if (card.file) this.classify(card);
  }

  drawAll() {
    for (const card of this.cards) if (card.prediction) draw(card, this.classes());
  }

  /** Photos still waiting for their turn are left unclassified, each with a button to do it. */
  stop() {
    this.stops++;
    for (const go of this.waitingForTurn.splice(0)) go(false);
  }

  /** @param {Card} card */
  remove(card) {
    card.removed = true;
    card.element.remove();
    this.cards.splice(this.cards.indexOf(card), 1);
    this.update();
    $('#drop').focus();
  }

  clear() {
    for (const card of [...this.cards]) this.remove(card);
    announce('All photos removed.');
  }

  /** @param {Card} card */
  async classify(card) {
    const run = ++card.run;
    const stops = this.stops;
    const { element } = card;
    const body = element.querySelector('.body');
    element.dataset.state = 'pending';
    element.classList.remove('error');
    card.prediction = null;
    card.error = null;
    body.innerHTML = '<div class="spinner" role="status" aria-label="working"></div>';
    this.update();
    try {
      this.client.revive();
      const { ready } = this.model;
      if (!ready) throw new Error('no model is loaded');
      await ready.catch(() => { throw new Error('no model is loaded'); });
      const prediction = await this.inTurn(async () => {
        if (card.removed || run !== card.run || stops !== this.stops) throw new Skipped();
        const { buffer } = await readFile(card.file);
        return this.client.ask({ type: 'classify', bytes: buffer }, [buffer]);
      });
      if (run !== card.run || card.removed) return;
      card.prediction = prediction;
      card.backend = this.model.backend;
      this.show(card);
      announce([`${card.name}: ${answerText(this.classes(), prediction)}`, ...flagTexts(prediction)].join('; ') + '.');
    } catch (error) {
      if (run !== card.run || card.removed) return;
      if (error instanceof Skipped) this.showStopped(card);
      else {
        this.fail(card, error.message);
        announce(`${card.name} could not be classified: ${error.message}`);
      }
    }
    this.update();
  }

  // Runs `task` when one of the turns is free; a waiting task that `stop` sends away gets none.
  async inTurn(task) {
    if (this.turnsFree > 0) this.turnsFree--;
    else if (!(await new Promise((go) => this.waitingForTurn.push(go)))) throw new Skipped();
    try {
      return await task();
    } finally {
      const next = this.waitingForTurn.shift();
      if (next) next(true);
      else this.turnsFree++;
    }
  }

  classes() {
    return this.model.bundle.manifest.classes;
  }

  /** @param {Card} card */
  fail(card, message) {
    const { element } = card;
    card.error = message;
    element.classList.add('error');
    element.dataset.state = 'error';
    element.querySelector('canvas').hidden = true;
    const body = element.querySelector('.body');
    body.innerHTML = '<p class="message"></p>';
    body.querySelector('.message').textContent = message;
  }

  /** @param {Card} card */
  showStopped(card) {
    card.element.dataset.state = 'stopped';
    card.element.querySelector('canvas').hidden = true;
    const body = card.element.querySelector('.body');
    body.innerHTML = '<p class="message">Stopped before it was classified.</p>' +
      '<button type="button" class="retry">Classify</button>';
    body.querySelector('.retry').addEventListener('click', () => {
      this.classify(card);
      card.element.querySelector('.remove').focus(); // the button itself is gone
    });
  }

  /** @param {Card} card */
  show(card) {
    const { element, prediction: p } = card;
    const classes = this.classes();
    card.shown = p.top;
    const body = element.querySelector('.body');
    body.innerHTML = '<p class="answer"></p><p class="flags"></p><p class="legend"></p>' +
      '<div class="bars" role="group"></div><p class="time"></p>';
    body.querySelector('.answer').textContent = answerText(classes, p);
    const flags = body.querySelector('.flags');
    for (const text of flagTexts(p)) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = text;
      flags.append(badge);
    }
    // Each class's bar is a button that shows that class's heatmap.
    const bars = body.querySelector('.bars');
    bars.setAttribute('aria-label', 'Classes; choose one to see its heatmap');
    classes.forEach((name, i) => {
      const row = document.createElement('button');
      row.type = 'button';
      row.className = i === p.top ? 'bar top' : 'bar';
      row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
      row.querySelector('.name').textContent = name;
      row.querySelector('.fill').style.width = `${100 * p.probabilities[i]}%`;
      row.querySelector('.value').textContent = percent(p.probabilities[i]);
      row.addEventListener('click', () => {
        card.shown = i;
        draw(card, classes);
      });
      bars.append(row);
    });
    body.querySelector('.time').textContent =
      `${Math.round(p.ms)} ms on the ${card.backend === 'webgpu' ? 'GPU' : 'CPU'}` +
      (p.decodedByBrowser ? '; decoded by this browser (a format the classifier\'s own decoder lacks)' : '');
    element.dataset.probabilities = JSON.stringify(Array.from(p.probabilities));
    element.dataset.flags = JSON.stringify({ unsure: p.unsure, out_of_distribution: p.outOfDistribution });
    element.dataset.state = 'done';
    draw(card, classes);
  }

  /** The buttons that act on all photos, enabled when they have something to act on. */
  update() {
    const waiting = this.cards.filter((c) => c.element.dataset.state === 'pending').length;
    const stop = $('#stop');
    stop.hidden = waiting === 0;
    stop.textContent = `Stop (${waiting} waiting)`;
    for (const id of ['#download-csv', '#copy-json', '#clear']) $(id).disabled = this.cards.length === 0;
  }

  /** Every card's result, in the order the photos were added. */
  results() {
    const classes = this.model.bundle?.manifest.classes ?? [];
    return this.cards.map((card) => {
      const p = card.prediction;
      return {
        file: card.name,
        status: card.element.dataset.state,
        predicted: p ? classes[p.top] : null,
        probabilities: p ? Object.fromEntries(classes.map((name, i) => [name, p.probabilities[i]])) : null,
        unsure: p?.unsure ?? null,
        out_of_distribution: p?.outOfDistribution ?? null,
        backend: p ? card.backend : null,
        ms: p ? Math.round(p.ms) : null,
        error: card.error,
      };
    });
  }

  /** The results as CSV: one row per photo, one probability column per class. */
  csv() {
    const classes = this.model.bundle?.manifest.classes ?? [];
    const header = ['file', 'status', 'predicted', ...classes.map((c) => `p_${c}`), 'unsure',
      'out_of_distribution', 'backend', 'ms', 'error'];
    const rows = this.results().map((r) => [r.file, r.status, r.predicted,
      ...classes.map((c) => r.probabilities?.[c]), r.unsure, r.out_of_distribution, r.backend, r.ms, r.error]);
    return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
  }
}

function answerText(classes, p) {
  return `${classes[p.top]} (${percent(p.probabilities[p.top])})`;
}

/** A calibrated model's warnings about an answer, in words. */
function flagTexts(p) {
  const texts = [];
  if (p.unsure) texts.push('not sure');
  if (p.outOfDistribution) texts.push('unlike the photos the model learned from');
  return texts;
}

const percent = (p) => `${(100 * p).toFixed(1)}%`;

// RFC 4180 quoting; text that a spreadsheet would run as a formula (a file named "=cmd…")
// is kept as text.
function csvField(value) {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// The crop the network saw with the chosen class's activation map upsampled over it, the
// chosen bar pressed, and the legend of the colours.
function draw(card, classes) {
  const { prediction: p, shown, element } = card;
  const canvas = element.querySelector('canvas');
  canvas.hidden = false;
  canvas.width = canvas.height = p.viewSize;
  const context = canvas.getContext('2d');
  context.putImageData(new ImageData(new Uint8ClampedArray(p.view), p.viewSize), 0, 0);
  element.querySelectorAll('.bar').forEach((bar, i) => bar.setAttribute('aria-pressed', String(i === shown)));
  const heatmap = $('#show-cam').checked;
  const legend = element.querySelector('.legend');
  legend.hidden = !heatmap;
  canvas.setAttribute('aria-label', `The part of the photo the model saw${heatmap
    ? `, with a heatmap of where it found evidence for ${classes[shown]}` : ''}`);
  if (!heatmap) return;
  // Red where the photo speaks for the class, blue where against, clear where neither; on the
  // model's scale (or, for a bundle without one, this photo's strongest evidence), so weak
  // evidence looks weak.
  const cells = p.camSize * p.camSize;
  const map = p.cams.subarray(shown * cells, (shown + 1) * cells);
  const heat = new OffscreenCanvas(p.camSize, p.camSize);
  const pixels = new ImageData(p.camSize, p.camSize);
  map.forEach((v, i) => pixels.data.set(colormap(Math.max(-1, Math.min(1, v / p.camScale))), 4 * i));
  heat.getContext('2d').putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(heat, 0, 0, p.viewSize, p.viewSize);
  legend.innerHTML = '<span>against</span><span class="ramp"></span><span>for</span><span class="note"></span>';
  legend.querySelector('.note').textContent = `Heatmap: evidence for ${classes[shown]}, ` +
    (p.camScaleFixed ? 'on the same scale for every photo.' : 'relative to this photo\'s strongest.');
}

// -1 (strong evidence against) blue, 0 clear, 1 (strong evidence for) red, as RGBA.
function colormap(v) {
  const alpha = Math.round(200 * Math.abs(v));
  return v >= 0 ? [220, 30, 30, alpha] : [30, 90, 220, alpha];
}
