// Active health checks of MarketplaceSourceResolver: HEAD probes of each origin at the
// document's interval, their verdicts through the core's thresholds (an unhealthy CDN is routed
// around, a healthy one comes back), rate-limit answers that only cool an origin down, and no
// probe once closed or with `healthChecks: false`. Loopback origins, a static document.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { load, MarketplaceSourceResolver } from '../index.js';
import { wasmBytes, until } from './helpers.mjs';

await load(wasmBytes());

/** An origin whose HEAD answers `o.status` (with `o.headers`); counts HEADs and GETs. */
async function probed(name) {
  const o = { heads: 0, gets: 0, status: 200, headers: {} };
  o.server = http.createServer((req, res) => {
    if (req.method === 'HEAD') o.heads += 1; else o.gets += 1;
    res.writeHead(req.method === 'HEAD' ? o.status : 200, { 'content-type': 'application/json', ...o.headers });
    res.end(req.method === 'HEAD' ? undefined : `{"origin":"${name}"}`);
  });
  await new Promise((r) => o.server.listen(0, '127.0.0.1', r));
  o.url = `http://127.0.0.1:${o.server.address().port}/${name}/`;
  o.close = () => new Promise((r) => { o.server.closeAllConnections?.(); o.server.close(r); });
  return o;
}

const P = 'community-plugins.json';
// The shortest interval a document may ask for (5 s): the first probe comes within its first
// 10 %, the next 4.5-5.5 s later. One failure flips the verdict, one success flips it back.
const document = (git, cdn) => ({
  type: 'hybrid', priority: ['cdn', 'git'], gitUrl: git.url, cdnUrl: cdn.url,
  healthCheckEnabled: true, fallbackOnError: true,
  healthCheck: { intervalSecs: 5, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 1, path: P },
});
const make = (doc, extra = {}) => MarketplaceSourceResolver.create({
  defaultGitUrl: 'http://127.0.0.1:9/default/',
  installId: 'probe-install',
  provider: { type: 'static', document: doc },
  storage: null,
  ...extra,
});
const cdnHealth = (r) => r.getStats().health.find((h) => h.origin === 'cdn');

test('an unhealthy CDN is routed around until a probe finds it healthy again', async () => {
  const [git, cdn] = [await probed('git'), await probed('cdn')];
  cdn.status = 503;
  const r = await make(document(git, cdn));
  try {
    // Both origins are probed, each at its own random time within the first 0.5 s.
    await until('both probed, the CDN unhealthy', () => git.heads > 0 && cdn.heads > 0 && !cdnHealth(r).healthy, 3000);
    assert.equal(await r.resolveUrl(P), git.url + P);
    assert.match(String(cdnHealth(r).lastError), /503/);
    cdn.status = 200;
    await until('the CDN probed healthy again', () => cdnHealth(r).healthy, 8000);
    assert.equal(await r.resolveUrl(P), cdn.url + P);
    assert.ok(cdn.heads >= 2);
    assert.equal(cdn.gets + git.gets, 0, 'probes are HEAD requests');
  } finally {
    r.close();
    await Promise.all([git.close(), cdn.close()]);
  }
});

test('a rate-limited probe cools the origin down without making it unhealthy', async () => {
  const [git, cdn] = [await probed('git'), await probed('cdn')];
  cdn.status = 429;
  cdn.headers = { 'retry-after': '120' };
  const r = await make(document(git, cdn));
  try {
    await until('the CDN probed', () => cdn.heads > 0 && cdnHealth(r).rateLimited, 3000);
    const h = cdnHealth(r);
    assert.equal(h.healthy, true, JSON.stringify(h));
    assert.ok(h.rateLimitedForSecs > 60, JSON.stringify(h));
    // Cooling down: requests go to Git first.
    assert.equal(await r.resolveUrl(P), git.url + P);
  } finally {
    r.close();
    await Promise.all([git.close(), cdn.close()]);
  }
});

test('no probe after close, none with healthChecks: false or a document without them', async () => {
  const [git, cdn] = [await probed('git'), await probed('cdn')];
  try {
    const off = await make(document(git, cdn), { healthChecks: false });
    const quiet = await make({ ...document(git, cdn), healthCheckEnabled: false });
    const on = await make(document(git, cdn));
    await until('the probing resolver probed', () => cdn.heads > 0 && git.heads > 0, 3000);
    on.close();
    const seen = git.heads + cdn.heads;
    assert.equal(seen, 2, 'one probe per origin, from the probing resolver only');
    // Past the first-probe window of the other two (10 % of 5 s) and past the next probe `on`
    // would have made (at most 5.5 s after its first).
    await new Promise((res) => setTimeout(res, 6000));
    assert.equal(git.heads + cdn.heads, seen, 'no probe after close, none from the other two');
    off.close();
    quiet.close();
  } finally {
    await Promise.all([git.close(), cdn.close()]);
  }
});
