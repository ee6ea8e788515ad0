// The package in a context that has web-platform APIs only: no `require`, no `process`, no
// Node module: `fetch`, `AbortController`, timers, `crypto`, `URL`, `TextEncoder`/`TextDecoder`
// and `WebAssembly`, as a browser or a Worker runtime gives. It loads the module, resolves
// against the real control plane and fetches from a loopback origin, so the core path uses
// nothing Node-specific. (node:vm's SourceTextModule: run with --experimental-vm-modules.)
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { here, wasmBytes, origin, cp, setConfig } from './helpers.mjs';

test('resolve and fetch in a web-APIs-only context', async () => {
  const cdn = await origin('cdn');
  try {
    const git = 'http://127.0.0.1:9/git/';
    const version = await setConfig({ type: 'cdn', gitUrl: git, cdnUrl: cdn.url, healthCheckEnabled: false });
    const context = vm.createContext({
      fetch, Headers, Request, Response, AbortController, AbortSignal,
      setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask,
      crypto: globalThis.crypto, URL, TextEncoder, TextDecoder, WebAssembly, console,
    });
    const cache = new Map();
    const linker = async (specifier, referencing) => {
      const file = path.resolve(path.dirname(referencing.identifier), specifier);
      if (!cache.has(file)) {
        cache.set(file, new vm.SourceTextModule(fs.readFileSync(file, 'utf8'), {
          identifier: file, context, initializeImportMeta: (m) => { m.url = `file://${file}`; },
        }));
      }
      return cache.get(file);
    };
    const entry = path.join(here, '..', 'index.js');
    const probe = new vm.SourceTextModule(`
      import { load, MarketplaceSourceResolver } from ${JSON.stringify(entry)};
      export async function run(bytes, base) {
        const nodeish = [typeof require, typeof process, typeof Buffer, typeof module];
        await load(bytes);
        const r = await MarketplaceSourceResolver.create({
          defaultGitUrl: 'http://127.0.0.1:9/default/', installId: 'web-1',
          provider: { type: 'controlPlane', url: base }, storage: null,
        });
        const url = await r.resolveUrl('community-plugins.json');
        const got = await r.fetch('community-plugins.json');
        const stats = r.getStats();
        r.close();
        return { nodeish, url, origin: got.origin, body: new TextDecoder().decode(got.body), version: stats.config.version };
      }`, { identifier: path.join(here, 'probe.mjs'), context });
    await probe.link(linker);
    await probe.evaluate();
    const out = await probe.namespace.run(new Uint8Array(wasmBytes()), cp.base);
    // (Values from the other context: compared as text, their prototypes differ.)
    assert.equal(out.nodeish.join(','), 'undefined,undefined,undefined,undefined');
    assert.equal(out.version, version);
    assert.equal(out.url, `${cdn.url}community-plugins.json`);
    assert.equal(out.origin, 'cdn');
    assert.equal(JSON.parse(out.body).origin, 'cdn');
  } finally {
    await cdn.close();
  }
});
