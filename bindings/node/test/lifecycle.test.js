'use strict';
// node --test: the app lifecycle of the binding (pause, resume, waitReady, close, offline)
// against a counting control-plane stand-in (config GETs, telemetry reports) and a counting
// CDN, both a Node HTTP server on loopback.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');

const { Resolver, SourcegateError } = require('..');

const REGISTRY = JSON.stringify([{ id: 'dataview', name: 'Dataview', author: 'M', description: 'Q', repo: 'b/d' }]);

let server;
let base;
const seen = { configGets: 0, cdn: 0, reports: [], other: 0 };

test.before(async () => {
  server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/v1/configs/marketplace_source') {
        seen.configGets++;
        const version = seen.configGets === 1 ? 4 : 5;
        const value = { type: 'cdn', cdnUrl: `${base}/cdn/`, gitUrl: `${base}/cdn/`, healthCheckEnabled: false, version };
        res.writeHead(200, { 'content-type': 'application/json', etag: `"v${version}"` })
          .end(JSON.stringify({ key: 'marketplace_source', version, value }));
      } else if (req.method === 'POST' && req.url === '/v1/telemetry') {
        seen.reports.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(204).end();
      } else if (req.url === '/cdn/community-plugins.json') {
        seen.cdn++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(REGISTRY);
      } else {
        seen.other++;
        res.writeHead(404).end();
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});

test.after(() => new Promise((r) => server.close(r)));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, cond) {
  for (let i = 0; i < 1000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

test('pause: no config request while paused; resume revalidates once; close sends the last report', async () => {
  const before = { ...seen, reports: seen.reports.length };
  const r = new Resolver({
    controlPlaneUrl: base, installId: 'node-lifecycle', push: false, healthChecks: false,
    cacheTtlMs: 10, httpCache: false, telemetry: { intervalMs: 3600000 },
  });
  assert.equal(await r.waitReady(5000), true);
  assert.equal(seen.configGets, before.configGets + 1);
  r.pause();
  r.pause();
  // 300 ms of resolves, each past the 10 ms TTL: an unpaused resolver would refresh on each.
  for (let i = 0; i < 30; i++) {
    await sleep(10);
    assert.equal(r.resolve('community-plugins.json').configVersion, 4);
  }
  // The app's own fetches still work while paused.
  for (let i = 0; i < 2; i++) assert.equal((await r.fetch('community-plugins.json')).origin, 'cdn');
  assert.equal(seen.configGets, before.configGets + 1, 'config request while paused');
  r.resume();
  r.resume();
  await until('the revalidation', () => seen.configGets === before.configGets + 2);
  // getStats, unlike resolve, never starts a TTL refresh.
  await until('version 5', () => r.getStats().config.version === 5);
  assert.equal(seen.reports.length, before.reports);
  await r.close();
  assert.equal(seen.reports.length, before.reports + 1, 'close sends one report');
  const last = seen.reports[seen.reports.length - 1];
  assert.equal(last.origins.cdn.requests, 2);
  assert.equal(last.configVersion, 5);
  assert.equal(seen.configGets, before.configGets + 2);
  assert.equal(seen.cdn, before.cdn + 2);
  await r.close();
  assert.throws(() => r.pause(), /closed/);
  await assert.rejects(r.waitReady(1), /closed/);
});

test('waitReady: true with a static document, false when nothing can arrive in time', async () => {
  const s = new Resolver({ staticConfig: { type: 'cdn', cdnUrl: `${base}/cdn/`, gitUrl: `${base}/cdn/`, version: 1 }, healthChecks: false });
  try {
    assert.equal(await s.waitReady(5000), true);
  } finally {
    await s.close();
  }
  const none = new Resolver({ offline: true, controlPlaneUrl: base });
  try {
    assert.equal(await none.waitReady(100), false);
    assert.equal(await none.waitReady(0), false);
    await assert.rejects(none.waitReady(-1), (e) => e instanceof SourcegateError && e.status === 106);
  } finally {
    await none.close();
  }
});

test('offline: no request of any kind; fetch rejects with SG_STATUS_OFFLINE', async () => {
  const before = { ...seen, reports: seen.reports.length };
  const r = new Resolver({
    offline: true, controlPlaneUrl: base, installId: 'node-offline',
    staticConfig: { type: 'cdn', cdnUrl: `${base}/cdn/`, gitUrl: `${base}/cdn/`, version: 2, healthCheckEnabled: true },
    telemetry: { intervalMs: 10 },
  });
  try {
    assert.equal(await r.waitReady(5000), true);
    assert.equal(r.resolve('community-plugins.json').configVersion, 2);
    await assert.rejects(r.fetch('community-plugins.json'), (e) => e.code === 'SG_STATUS_OFFLINE');
    await sleep(200);
  } finally {
    await r.close();
  }
  assert.equal(seen.configGets, before.configGets);
  assert.equal(seen.cdn, before.cdn);
  assert.equal(seen.reports.length, before.reports);
  assert.equal(seen.other, before.other);
});

test('unknown options are refused naming the field', () => {
  for (const [opts, message] of [
    [{ telemtry: { enabled: false } }, /unknown field `telemtry`/],
    [{ telemetry: { enable: false } }, /telemetry: unknown field `enable`/],
  ]) {
    assert.throws(() => new Resolver(opts), (e) => {
      assert.ok(e instanceof SourcegateError);
      assert.equal(e.code, 'SG_STATUS_INVALID_OPTIONS');
      assert.match(e.message, message);
      return true;
    });
  }
});
