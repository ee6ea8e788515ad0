// Shared by the tests: the WebAssembly bytes, the repository's test data, loopback origins.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.join(here, '..', '..', '..');
export const wasmBytes = () => fs.readFileSync(path.join(here, '..', 'pkg', 'sourcegate_wasm_bg.wasm'));
export const testData = (name) => JSON.parse(fs.readFileSync(path.join(root, 'test-data', name), 'utf8'));

/**
 * An origin on 127.0.0.1: answers `body` with 200 unless `script` (a list of
 * `{status, headers}`, consumed one per request) says otherwise. Counts requests.
 */
export async function origin(name, body = `{"origin":"${name}"}`) {
  const o = { name, requests: 0, script: [], paths: [] };
  o.server = http.createServer((req, res) => {
    o.requests += 1;
    o.paths.push(req.url);
    const next = o.script.shift();
    if (next) {
      res.writeHead(next.status, next.headers ?? {});
      res.end(next.body ?? '');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise((r) => o.server.listen(0, '127.0.0.1', r));
  o.url = `http://127.0.0.1:${o.server.address().port}/${name}/`;
  o.close = () => new Promise((r) => { o.server.closeAllConnections?.(); o.server.close(r); });
  return o;
}

/** The control plane started by run-tests.sh (embedded PostgreSQL, private origins allowed). */
export const cp = {
  base: process.env.SG_BASE_URL,
  admin: process.env.SG_ADMIN_TOKEN,
};

/** Sets the marketplace_source document as the admin; returns the new version. */
export async function setConfig(document, reason = 'js test') {
  const r = await fetch(`${cp.base}/v1/configs/marketplace_source`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${cp.admin}` },
    body: JSON.stringify({ value: document, reason, force: true }),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`PUT ${r.status}: ${text}`);
  return JSON.parse(text).version;
}

/** Polls `f` until it returns a truthy value (at most `ms`). */
export async function until(what, f, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
