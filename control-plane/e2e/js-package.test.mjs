// @sourcegate/resolver (bindings/js) in Chromium: a page served from one loopback origin loads
// the package (ES module + WebAssembly) and resolves against the control plane on another
// origin (so every read and the SSE stream cross origins: CORS), then follows an admin's flip
// over the browser's own EventSource without reloading. The package must be built first
// (bindings/js/build.sh; run.sh does it when pkg/ is missing).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const pkgDir = join(repo, 'bindings', 'js');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');
const BIN = process.env.SOURCEGATE_CP_BIN || join(targetDir, 'debug', 'sourcegate-control-plane');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SECRET = randomBytes(32).toString('hex');

let tmp; let cp; let base; let site; let siteUrl; let origins; let browser; let admin;
const env = () => ({ ...process.env, SOURCEGATE_JWT_SECRET: SECRET, RUST_LOG: 'warn' });

function listen(server) {
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${server.address().port}`)));
}

async function put(document, reason) {
  const r = await fetch(`${base}/v1/configs/marketplace_source`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({ value: document, reason, force: true }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text).version;
}

before(async () => {
  assert.ok(existsSync(join(pkgDir, 'pkg', 'sourcegate_wasm_bg.wasm')), 'bindings/js/pkg is built (bindings/js/build.sh)');
  tmp = mkdtempSync(join(tmpdir(), 'sg-js-e2e-'));
  cp = spawn(BIN, ['--listen', '127.0.0.1:0', '--data-dir', join(tmp, 'cp'), '--allow-private-origins',
    '--origin-probes', 'false', '--embedded-unsafe-fast'], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
  base = await new Promise((ok, fail) => {
    let log = '';
    const t = setTimeout(() => fail(new Error(`control plane not up in 90 s:\n${log}`)), 90_000);
    cp.stderr.setEncoding('utf8');
    cp.stderr.on('data', (c) => {
      log += c;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(log);
      if (m) { clearTimeout(t); ok(m[1]); }
    });
    cp.on('exit', (code) => fail(new Error(`control plane exited ${code}:\n${log}`)));
  });
  const r = spawnSync(BIN, ['--data-dir', join(tmp, 'cp'), 'mint-token', '--role', 'authenticated', '--admin', '--sub',
    '6f1c0c2e-5a8b-4c5e-9d7a-1b2c3d4e5f60'], { env: env(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  admin = r.stdout.trim();
  // The registry origins the documents name (not fetched here: the page only resolves).
  origins = { git: 'http://127.0.0.1:9/git/', cdn: 'http://127.0.0.1:9/cdn/' };
  // The page's origin: bindings/js as static files, another port than the control plane's.
  site = createServer((req, res) => {
    const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><title>sourcegate js</title><p id="status">loading</p>');
      return;
    }
    const file = normalize(join(pkgDir, decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    if (!file.startsWith(pkgDir) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  siteUrl = await listen(site);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  site?.close();
  cp?.kill();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the package resolves from another origin and follows a flip over EventSource', async () => {
  const v1 = await put({ type: 'git', gitUrl: origins.git, cdnUrl: origins.cdn, healthCheckEnabled: false }, 'js e2e: git');
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${siteUrl}/`);
  assert.notEqual(new URL(siteUrl).port, new URL(base).port, 'page and control plane are different origins');
  const first = await page.evaluate(async (cpBase) => {
    const m = await import('/index.js');
    await m.load(); // fetches pkg/sourcegate_wasm_bg.wasm beside index.js
    window.changes = [];
    window.resolver = await m.MarketplaceSourceResolver.create({
      defaultGitUrl: 'http://127.0.0.1:9/default/',
      provider: { type: 'controlPlane', url: cpBase },
    });
    window.resolver.subscribe((c) => window.changes.push(c));
    return {
      url: await window.resolver.resolveUrl('community-plugins.json'),
      version: window.resolver.getStats().config.version,
      installId: window.resolver.installId,
      stored: localStorage.getItem('sourcegate.installId'),
      hasEventSource: typeof EventSource,
    };
  }, base);
  assert.deepEqual(errors, []);
  assert.equal(first.url, `${origins.git}community-plugins.json`);
  assert.equal(first.version, v1);
  assert.equal(first.stored, first.installId, 'the install id is kept in localStorage');
  assert.equal(first.hasEventSource, 'function');

  const v2 = await put({ type: 'cdn', gitUrl: origins.git, cdnUrl: origins.cdn, healthCheckEnabled: false }, 'js e2e: flip');
  await page.waitForFunction((v) => window.changes.some((c) => c.version === v), v2, { timeout: 15_000 });
  const after = await page.evaluate(async () => ({
    url: await window.resolver.resolveUrl('community-plugins.json'),
    lkg: JSON.parse(localStorage.getItem('sourcegate.lastKnownGood')).version,
  }));
  assert.equal(after.url, `${origins.cdn}community-plugins.json`);
  assert.equal(after.lkg, v2, 'the new document is the last-known-good copy');
  assert.deepEqual(errors, []);
  await page.close();
});
