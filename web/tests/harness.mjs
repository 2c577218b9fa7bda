// What the browser test and the page benchmark share: a static server for a built site and
// Debian's headless Chromium with WebGPU through SwiftShader.

import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.webmanifest': 'application/manifest+json', '.png': 'image/png',
};

// Serves `site` under `prefix` on 127.0.0.1 as static hosts do (with Last-Modified);
// `requests` collects the paths asked for, `bytes` the body bytes sent per path.
// `port` 0 picks a free one; the same port again is the same origin (its service worker).
// `headers` go with every file (a host's own, such as COOP and COEP).
export async function serveSite(site, prefix = '/', port = 0, headers = {}) {
  const requests = [];
  const bytes = new Map();
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    requests.push(path);
    if (!path.startsWith(prefix)) return response.writeHead(404).end();
    const relative = path.slice(prefix.length);
    const file = join(site, relative === '' ? 'index.html' : relative);
    try {
      const body = readFileSync(file);
      response.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': body.length,
        'last-modified': statSync(file).mtime.toUTCString(),
        ...headers,
      });
      if (request.method !== 'HEAD') bytes.set(path, (bytes.get(path) ?? 0) + body.length);
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((done) => server.listen(port, '127.0.0.1', done));
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  return { url: `http://127.0.0.1:${server.address().port}${prefix}`, port: server.address().port, requests, bytes, close };
}

// `extraArgs`: more command-line switches for this browser.
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
      '--use-webgpu-adapter=swiftshader', '--no-sandbox', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', ...extraArgs],
  });
}
