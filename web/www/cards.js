// One card per photo: its state while the worker classifies it, then the answer, the class
// bars and the crop the network saw with its class-activation map.
import { $, readFile } from './dom.js';

/** @typedef {{ file: File, element: HTMLElement, prediction: import('./protocol.js').Prediction | null }} Card */

export class Cards {
  /**
   * @param {import('./worker-client.js').WorkerClient} client
   * @param {import('./model.js').Model} model
   */
  constructor(client, model) {
    this.client = client;
    this.model = model;
    /** @type {Card[]} */
    this.cards = [];
    // Photos are read and handed to the worker two at a time (it classifies one at a time
    // anyway), so that dropping hundreds of large photos does not hold all their bytes at once.
    this.turnsFree = 2;
    /** @type {(() => void)[]} */
    this.waitingForTurn = [];
  }

  /** A new card for `file`, classified as soon as the model is ready. */
  add(file) {
    const element = document.createElement('article');
    element.className = 'card';
    element.innerHTML = '<h3></h3><canvas width="1" height="1" hidden></canvas><div class="body"></div>';
    element.querySelector('h3').textContent = file.name || 'pasted image';
    $('#results').prepend(element);
    const card = { file, element, prediction: null };
    this.cards.push(card);
    this.classify(card);
  }

  classifyAll() {
    for (const card of this.cards) this.classify(card);
  }

  drawAll() {
    for (const card of this.cards) draw(card);
  }

  /** @param {Card} card */
  async classify(card) {
    const { element } = card;
    const body = element.querySelector('.body');
    element.dataset.state = 'pending';
    element.classList.remove('error');
    body.innerHTML = '<div class="spinner" role="status" aria-label="working"></div>';
    try {
      this.client.revive();
      const { ready } = this.model;
      if (!ready) throw new Error('no model is loaded');
      await ready.catch(() => { throw new Error('no model is loaded'); });
      card.prediction = await this.inTurn(async () => {
        const { buffer } = await readFile(card.file);
        return this.client.ask({ type: 'classify', bytes: buffer }, [buffer]);
      });
      this.show(card);
    } catch (error) {
      element.classList.add('error');
      element.dataset.state = 'error';
      element.querySelector('canvas').hidden = true;
      body.innerHTML = '<p class="message"></p>';
      body.querySelector('.message').textContent = error.message;
    }
  }

  async inTurn(task) {
    if (this.turnsFree > 0) this.turnsFree--;
    else await new Promise((go) => this.waitingForTurn.push(go));
    try {
      return await task();
    } finally {
      const next = this.waitingForTurn.shift();
      if (next) next();
      else this.turnsFree++;
    }
  }

  /** @param {Card} card */
  show(card) {
    const { element, prediction: p } = card;
    const classes = this.model.bundle.manifest.classes;
    const body = element.querySelector('.body');
    body.innerHTML = '<p class="answer"></p><div class="bars"></div><p class="time"></p>';
    body.querySelector('.answer').textContent =
      `${classes[p.top]} (${(100 * p.probabilities[p.top]).toFixed(1)}%)`;
    const bars = body.querySelector('.bars');
    classes.forEach((name, i) => {
      const row = document.createElement('div');
      row.className = i === p.top ? 'bar top' : 'bar';
      row.innerHTML = '<span class="name"></span><span><div class="fill"></div></span><span class="value"></span>';
      row.querySelector('.name').textContent = name;
      row.querySelector('.fill').style.width = `${100 * p.probabilities[i]}%`;
      row.querySelector('.value').textContent = `${(100 * p.probabilities[i]).toFixed(1)}%`;
      bars.append(row);
    });
    body.querySelector('.time').textContent =
      `${Math.round(p.ms)} ms on the ${this.model.backend === 'webgpu' ? 'GPU' : 'CPU'}`;
    element.dataset.probabilities = JSON.stringify(Array.from(p.probabilities));
    element.dataset.state = 'done';
    draw(card);
  }
}

// The crop the network saw, with the class-activation map upsampled over it.
function draw(card) {
  const p = card.prediction;
  if (!p) return;
  const canvas = card.element.querySelector('canvas');
  canvas.hidden = false;
  canvas.width = canvas.height = p.viewSize;
  const context = canvas.getContext('2d');
  context.putImageData(new ImageData(new Uint8ClampedArray(p.view), p.viewSize), 0, 0);
  if (!$('#show-cam').checked) return;
  const heat = new OffscreenCanvas(p.camSize, p.camSize);
  const pixels = new ImageData(p.camSize, p.camSize);
  p.cam.forEach((v, i) => pixels.data.set([...colormap(v), 120], 4 * i));
  heat.getContext('2d').putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(heat, 0, 0, p.viewSize, p.viewSize);
}

// Blue (no evidence) through green and yellow to red (strongest evidence).
function colormap(v) {
  const clamp = (x) => Math.max(0, Math.min(255, Math.round(255 * x)));
  return [clamp(1.5 - Math.abs(4 * v - 3)), clamp(1.5 - Math.abs(4 * v - 2)), clamp(1.5 - Math.abs(4 * v - 1))];
}
