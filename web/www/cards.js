// One card per photo: its state while the worker classifies it, then the answer, the class
// bars and the crop the network saw with its class-activation map; and the photos' results
// as a whole (stop, remove, clear, CSV and JSON). A model of several tasks gets the garment it
// sees first, then the likely task's answer; the other tasks' answers open on demand.
import { $, announce, readFile, taskName } from './dom.js';

/**
 * A photo on the page. `run` counts its classifications: an answer for an older run (the
 * model changed meanwhile) is dropped.
 * `shown` is the output (a task's class) whose heatmap is drawn.
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
    for (const card of this.cards) if (card.prediction) draw(card);
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
      const first = prediction.tasks[likelyTasks(prediction)[0]];
      const answer = prediction.garment ? `${taskName(first.task)}: ${answerText(first)}` : answerText(first);
      announce([`${card.name}: ${answer}`, ...flagTexts(first)].join('; ') + '.');
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
    const [likely, ...others] = likelyTasks(p);
    const first = p.tasks[likely];
    card.shown = first.offset + first.top;
    const body = element.querySelector('.body');
    body.innerHTML = '<p class="garment"></p><div class="first"></div>' +
      '<details class="others"><summary></summary></details><p class="legend"></p><p class="time"></p>';
    const garment = body.querySelector('.garment');
    const details = body.querySelector('.others');
    if (p.garment) {
      garment.textContent = `Shows: ${taskName(first.task)} (${percent(p.garment.probabilities[likely])})`;
      details.querySelector('summary').textContent = `Other attributes (${others.length})`;
      for (const task of others) {
        details.append(this.taskSection(card, p.tasks[task], `${percent(p.garment.probabilities[task])} likely`));
      }
    } else {
      garment.remove();
      details.remove();
    }
    body.querySelector('.first').replaceWith(this.taskSection(card, first, null));
    body.querySelector('.time').textContent =
      `${Math.round(p.ms)} ms on the ${card.backend === 'webgpu' ? 'GPU' : 'CPU'}` +
      (p.decodedByBrowser ? '; decoded by this browser (a format the classifier\'s own decoder lacks)' : '');
    element.dataset.answers = JSON.stringify({
      garment: p.garment?.probabilities ?? null,
      tasks: p.tasks.map((t) => ({
        task: t.task, probabilities: t.probabilities, logits: t.logits, unsure: t.unsure, out_of_distribution: t.out_of_distribution,
      })),
    });
    element.dataset.state = 'done';
    draw(card);
  }

  /**
   * One task's answer: its top class, the calibration's flags and a bar per class, each a
   * button that shows that class's heatmap. For a model of several tasks, one of the other
   * tasks is headed by its name and `likely`, the garment head's probability of it.
   * @param {Card} card
   * @param {import('./protocol.js').TaskAnswer} answer
   * @param {string | null} likely
   */
  taskSection(card, answer, likely) {
    const section = document.createElement('section');
    section.className = 'task';
    section.innerHTML = '<h3></h3><p class="answer"></p><p class="flags"></p><div class="bars" role="group"></div>';
    const heading = section.querySelector('h3');
    // The likely task's name is in the card's "Shows:" line already.
    if (card.prediction.garment) section.setAttribute('aria-label', taskName(answer.task));
    if (card.prediction.garment && likely) heading.textContent = `${taskName(answer.task)} (${likely})`;
    else heading.remove();
    section.querySelector('.answer').textContent = answerText(answer);
    const flags = section.querySelector('.flags');
    for (const text of flagTexts(answer)) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = text;
      flags.append(badge);
    }
    const bars = section.querySelector('.bars');
    const choose = 'choose one to see its heatmap';
    bars.setAttribute('aria-label', card.prediction.garment ? `${taskName(answer.task)}: classes; ${choose}` : `Classes; ${choose}`);
    answer.classes.forEach((name, i) => {
      const row = document.createElement('button');
      row.type = 'button';
      row.className = i === answer.top ? 'bar top' : 'bar';
      row.dataset.output = String(answer.offset + i);
      row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
      row.querySelector('.name').textContent = name;
      row.querySelector('.fill').style.width = `${100 * answer.probabilities[i]}%`;
      row.querySelector('.value').textContent = percent(answer.probabilities[i]);
      row.addEventListener('click', () => {
        card.shown = answer.offset + i;
        draw(card);
      });
      bars.append(row);
    });
    return section;
  }

  /** The buttons that act on all photos, enabled when they have something to act on. */
  update() {
    const waiting = this.cards.filter((c) => c.element.dataset.state === 'pending').length;
    const stop = $('#stop');
    stop.hidden = waiting === 0;
    stop.textContent = `Stop (${waiting} waiting)`;
    for (const id of ['#download-csv', '#copy-json', '#clear']) $(id).disabled = this.cards.length === 0;
  }

  /** The tasks of the model in use, with their classes; [] before any. */
  tasks() {
    const manifest = this.model.bundle?.manifest;
    if (!manifest) return [];
    return manifest.tasks?.length ? manifest.tasks : [{ name: manifest.task, classes: manifest.classes }];
  }

  /**
   * Every card's result, in the order the photos were added: for a model of one task its
   * answer; for a model of several the garment and every task's answer.
   */
  results() {
    const tasks = this.tasks();
    const several = tasks.length > 1;
    const probabilities = (names, values) => Object.fromEntries(names.map((name, i) => [name, values[i]]));
    const answer = (a) => ({
      predicted: a.classes[a.top],
      probabilities: probabilities(a.classes, a.probabilities),
      unsure: a.unsure ?? null,
      out_of_distribution: a.out_of_distribution ?? null,
    });
    const none = { predicted: null, probabilities: null, unsure: null, out_of_distribution: null };
    return this.cards.map((card) => {
      const p = card.prediction;
      const answers = several
        ? {
          garment: p ? p.garment.tasks[p.garment.top] : null,
          garment_probabilities: p ? probabilities(p.garment.tasks, p.garment.probabilities) : null,
          tasks: p ? Object.fromEntries(p.tasks.map((t) => [t.task, answer(t)])) : null,
        }
        : (p ? answer(p.tasks[0]) : none);
      return {
        file: card.name,
        status: card.element.dataset.state,
        ...answers,
        backend: p ? card.backend : null,
        ms: p ? Math.round(p.ms) : null,
        error: card.error,
      };
    });
  }

  /**
   * The results as CSV, one row per photo: the predicted class and each class's probability,
   * and the flags; for a model of several tasks, the garment and its probabilities, then
   * those columns for each task, named after it.
   */
  csv() {
    const tasks = this.tasks();
    const several = tasks.length > 1;
    const columns = (task, prefix) => [`${prefix}predicted`, ...task.classes.map((c) => `p_${prefix}${c}`),
      `${prefix}unsure`, `${prefix}out_of_distribution`];
    const values = (task, answer) => [answer?.predicted, ...task.classes.map((c) => answer?.probabilities?.[c]),
      answer?.unsure, answer?.out_of_distribution];
    const names = tasks.map((t) => t.name);
    const header = ['file', 'status',
      ...(several ? ['garment', ...names.map((t) => `p_garment.${t}`), ...tasks.flatMap((t) => columns(t, `${t.name}.`))]
        : columns(tasks[0] ?? { classes: [] }, '')),
      'backend', 'ms', 'error'];
    const rows = this.results().map((r) => [r.file, r.status,
      ...(several ? [r.garment, ...names.map((t) => r.garment_probabilities?.[t]), ...tasks.flatMap((t) => values(t, r.tasks?.[t.name]))]
        : values(tasks[0] ?? { classes: [] }, r)),
      r.backend, r.ms, r.error]);
    return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
  }
}

/** The tasks in the order a card shows them: the garment head's most likely first. */
function likelyTasks(p) {
  const order = p.tasks.map((_, i) => i);
  return p.garment ? order.sort((a, b) => p.garment.probabilities[b] - p.garment.probabilities[a]) : order;
}

/** @param {import('./protocol.js').TaskAnswer} answer */
function answerText(answer) {
  return `${answer.classes[answer.top]} (${percent(answer.probabilities[answer.top])})`;
}

/** A calibrated model's warnings about a task's answer, in words. */
function flagTexts(answer) {
  const texts = [];
  if (answer.unsure) texts.push('not sure');
  if (answer.out_of_distribution) texts.push('unlike the photos the model learned from');
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

// The crop the network saw with the chosen output's activation map upsampled over it, the
// chosen bar pressed, and the legend of the colours.
function draw(card) {
  const { prediction: p, shown, element } = card;
  const canvas = element.querySelector('canvas');
  canvas.hidden = false;
  canvas.width = canvas.height = p.viewSize;
  const context = canvas.getContext('2d');
  context.putImageData(new ImageData(new Uint8ClampedArray(p.view), p.viewSize), 0, 0);
  element.querySelectorAll('.bar').forEach((bar) => bar.setAttribute('aria-pressed', String(Number(bar.dataset.output) === shown)));
  const task = p.tasks.find((t) => shown >= t.offset && shown < t.offset + t.classes.length);
  const evidence = task.classes[shown - task.offset] + (p.garment ? ` (${taskName(task.task)})` : '');
  const heatmap = $('#show-cam').checked;
  const legend = element.querySelector('.legend');
  legend.hidden = !heatmap;
  canvas.setAttribute('aria-label', `The part of the photo the model saw${heatmap
    ? `, with a heatmap of where it found evidence for ${evidence}` : ''}`);
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
  legend.querySelector('.note').textContent = `Heatmap: evidence for ${evidence}, ` +
    (p.camScaleFixed ? 'on the same scale for every photo.' : 'relative to this photo\'s strongest.');
}

// -1 (strong evidence against) blue, 0 clear, 1 (strong evidence for) red, as RGBA.
function colormap(v) {
  const alpha = Math.round(200 * Math.abs(v));
  return v >= 0 ? [220, 30, 30, alpha] : [30, 90, 220, alpha];
}
