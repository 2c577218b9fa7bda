// Small helpers for the page's modules.

/** The page's element for `selector`. */
export const $ = (selector) => document.querySelector(selector);

export const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** A FashionAI task as people say it: `skirt_length_labels` is "skirt length". */
export const taskName = (task) => task.replace(/_labels$/, '').replaceAll('_', ' ');

/** A user's file in memory, naming it if the browser cannot read it. */
export async function readFile(file) {
  try {
    return new Uint8Array(await file.arrayBuffer());
  } catch (error) {
    throw new Error(`${file.name || 'the image'} could not be read into memory (${error.message})`);
  }
}

/** Says `text` to screen readers once (the page's one live region). */
export function announce(text) {
  $('#announcer').textContent = text;
}
