// The package in a real Worker runtime: Cloudflare's workerd (npm `workerd`, pinned in
// package.json), the runtime of the seed's CDN Worker. A Worker module imports index.js and
// the .wasm as a module (Workers may not compile WebAssembly from bytes at run time), builds a
// MarketplaceSourceResolver per request against the control plane started by run-tests.sh and
// fetches from loopback origins. workerd has no EventSource, so the resolver reads the config
// with a conditional GET. Outbound requests go through a workerd network service that allows
// loopback addresses only for this test.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { here, origin, cp, setConfig, until } from './helpers.mjs';

const pkg = path.join(here, '..');
const workerdBin = path.join(pkg, 'node_modules', '.bin', 'workerd');

const WORKER = `
import wasm from './pkg/sourcegate_wasm_bg.wasm';
import { load, MarketplaceSourceResolver } from './index.js';

export default {
  async fetch(request) {
    const q = new URL(request.url).searchParams;
    await load(wasm);
    const r = await MarketplaceSourceResolver.create({
      defaultGitUrl: q.get('git'),
      installId: q.get('install'),
      provider: { type: 'controlPlane', url: q.get('cp') },
      storage: null,
    });
    try {
      const url = await r.resolveUrl('community-plugins.json');
      const got = await r.fetch('community-plugins.json');
      return Response.json({
        url, origin: got.origin, fallback: got.fallback,
        body: new TextDecoder().decode(got.body),
        stats: r.getStats(), runtime: navigator.userAgent,
      });
    } catch (e) {
      return Response.json({ error: String(e.code ?? e.message) }, { status: 500 });
    } finally {
      r.close();
    }
  },
};
`;

const config = (port) => `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    (name = "loopback", network = (allow = ["private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const mainWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "index.js", esModule = embed "index.js"),
    (name = "pkg/sourcegate_wasm.js", esModule = embed "pkg/sourcegate_wasm.js"),
    (name = "pkg/sourcegate_wasm_bg.wasm", wasm = embed "pkg/sourcegate_wasm_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  globalOutbound = "loopback",
);
`;

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

test('in workerd: resolves from the control plane, fetches, fails over', async () => {
  assert.ok(fs.existsSync(workerdBin), 'workerd is a devDependency: npm ci installs it');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-workerd-'));
  fs.mkdirSync(path.join(dir, 'pkg'));
  fs.copyFileSync(path.join(pkg, 'index.js'), path.join(dir, 'index.js'));
  for (const f of ['sourcegate_wasm.js', 'sourcegate_wasm_bg.wasm']) {
    fs.copyFileSync(path.join(pkg, 'pkg', f), path.join(dir, 'pkg', f));
  }
  fs.writeFileSync(path.join(dir, 'worker.js'), WORKER);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'config.capnp'), config(port));
  const git = await origin('git');
  const cdn = await origin('cdn');
  const wd = spawn(workerdBin, ['serve', 'config.capnp'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  wd.stdout.on('data', (d) => { log += d; });
  wd.stderr.on('data', (d) => { log += d; });
  try {
    const ask = async (install) => {
      const q = new URLSearchParams({ git: 'http://127.0.0.1:9/default/', cp: cp.base, install });
      const r = await fetch(`http://127.0.0.1:${port}/?${q}`);
      return { status: r.status, body: await r.json() };
    };
    await until(`workerd listening (${log})`, async () => {
      try { return (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null)) !== null; } catch { return false; }
    }, 20000);
    const version = await setConfig({ type: 'cdn', gitUrl: git.url, cdnUrl: cdn.url, healthCheckEnabled: false }, 'js: workerd');
    const a = await ask('worker-1');
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.body.runtime, 'Cloudflare-Workers');
    assert.equal(a.body.url, `${cdn.url}community-plugins.json`);
    assert.equal(a.body.origin, 'cdn');
    assert.equal(JSON.parse(a.body.body).origin, 'cdn');
    assert.equal(a.body.stats.config.version, version);
    assert.equal(a.body.stats.cloudflareRequests, 1);
    // The CDN fails: the Worker's resolver fails over to Git.
    cdn.script.push({ status: 503 });
    const b = await ask('worker-2');
    assert.equal(b.status, 200, JSON.stringify(b.body));
    assert.equal(b.body.origin, 'git');
    assert.equal(b.body.fallback, true);
    assert.equal(b.body.stats.fallbacks, 1);
  } finally {
    wd.kill('SIGTERM');
    await Promise.all([git.close(), cdn.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
