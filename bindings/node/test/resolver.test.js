'use strict';
// node --test: the koffi binding against loopback origins served by a tiny Node HTTP server
// (`/git/…` and `/cdn/…`), with a config file flipped between reloads.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Resolver, SourcegateError, bucketOf, version } = require('..');

const REGISTRY = JSON.stringify([
  { id: 'obsidian-git', name: 'Git', author: 'Vinzent', description: 'Git integration', repo: 'Vinzent03/obsidian-git' },
  { id: 'dataview', name: 'Dataview', author: 'Michael Brenan', description: 'Queries', repo: 'blacksmithgu/obsidian-dataview' },
]);

let server;
let base;
const hits = { git: 0, cdn: 0 };
const cdnStatus = { code: 200 };

test.before(async () => {
  server = http.createServer((req, res) => {
    const m = req.url.match(/^\/(git|cdn)\/community-plugins\.json$/);
    if (!m) {
      res.writeHead(404).end('not found');
      return;
    }
    hits[m[1]]++;
    if (m[1] === 'cdn' && cdnStatus.code !== 200) {
      res.writeHead(cdnStatus.code).end('down');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(REGISTRY);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});

test.after(() => new Promise((r) => server.close(r)));

function doc(type, v, extra = {}) {
  return { type, gitUrl: `${base}/git/`, cdnUrl: `${base}/cdn/`, healthCheckEnabled: false, version: v, ...extra };
}

test('library loads and reports its version', () => {
  assert.match(version, /^\d+\.\d+\.\d+/);
});

test('bad options throw a SourcegateError with status and message', () => {
  assert.throws(() => new Resolver({ defaultGitUrl: 'not a url' }), (e) => {
    assert.ok(e instanceof SourcegateError);
    assert.equal(e.code, 'SG_STATUS_INVALID_OPTIONS');
    assert.equal(e.status, 102);
    assert.match(e.message, /defaultGitUrl/);
    return true;
  });
});

test('telemetry and backoff options are taken, and bad values refused naming the field', async () => {
  const ok = [
    { telemetry: { enabled: false } },
    { telemetry: { enabled: true, endpoint: `${base}/v1/telemetry`, intervalMs: 60000 } },
    { backoffBaseMs: 250, backoffCapMs: 10000 },
    { backoffCapMs: 2000 },
  ];
  for (const extra of ok) {
    const r = new Resolver({ staticConfig: doc('cdn', 1), healthChecks: false, push: false, ...extra });
    assert.equal(await r.resolveUrl('community-plugins.json'), `${base}/cdn/community-plugins.json`);
    await r.close();
  }
  const bad = [
    [{ telemetry: { endpoint: 'not a url' } }, /options\.telemetry\.endpoint: invalid URL/],
    [{ telemetry: { endpoint: 'ftp://127.0.0.1/t' } }, /not an http or https URL/],
    [{ telemetry: { intervalMs: 1 } }, /options\.telemetry\.intervalMs: 1 is below the minimum of 10 ms/],
    [{ telemetry: { enabled: 'no' } }, /invalid options JSON/],
    [{ telemetry: false }, /invalid options JSON/],
    [{ backoffBaseMs: 0 }, /options\.backoffBaseMs: must be at least 1/],
    [{ backoffBaseMs: 5000, backoffCapMs: 100 }, /options\.backoffCapMs: 100 is below the backoff base \(5000 ms\)/],
    [{ backoffCapMs: -1 }, /invalid options JSON/],
  ];
  for (const [extra, message] of bad) {
    assert.throws(() => new Resolver({ staticConfig: doc('cdn', 1), ...extra }), (e) => {
      assert.ok(e instanceof SourcegateError);
      assert.equal(e.code, 'SG_STATUS_INVALID_OPTIONS', JSON.stringify(extra));
      assert.match(e.message, message);
      return true;
    });
  }
});

test('telemetry: reports reach the endpoint of the options; enabled: false sends none', async () => {
  let reports = 0;
  const sink = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v1/telemetry') reports++;
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${sink.address().port}/v1/telemetry`;
  try {
    const quiet = new Resolver({ staticConfig: doc('cdn', 1), healthChecks: false, telemetry: { enabled: false, endpoint, intervalMs: 20 } });
    await new Promise((r) => setTimeout(r, 400));
    await quiet.close();
    assert.equal(reports, 0);
    const loud = new Resolver({ staticConfig: doc('cdn', 1), healthChecks: false, telemetry: { endpoint, intervalMs: 20 } });
    for (let i = 0; i < 200 && reports < 1; i++) await new Promise((r) => setTimeout(r, 25));
    await loud.close();
    assert.ok(reports >= 1, `${reports} reports`);
  } finally {
    await new Promise((r) => sink.close(r));
  }
});

test('golden bucket vectors', () => {
  const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../test-data/buckets.json'), 'utf8')).vectors;
  assert.ok(vectors.length >= 10);
  for (const v of vectors) assert.equal(bucketOf(v.installId), v.bucket, v.installId);
});

test('resolveUrl, fetch, getStats, reportOutcome (seed API)', async () => {
  const r = new Resolver({ staticConfig: doc('cdn', 1), installId: 'node-1', healthChecks: false });
  try {
    assert.equal(await r.resolveUrl('community-plugins.json'), `${base}/cdn/community-plugins.json`);
    const d = r.resolve('community-plugins.json');
    assert.equal(d.origin, 'cdn');
    assert.equal(d.reason, 'mode');
    assert.equal(d.configVersion, 1);
    await assert.rejects(r.resolveUrl('../etc/passwd'), (e) => e.code === 'SG_STATUS_INVALID_PATH');
    assert.throws(() => r.resolve('../x'), /dot segments/);

    const resp = await r.fetch('community-plugins.json');
    assert.equal(resp.origin, 'cdn');
    assert.equal(resp.status, 200);
    assert.equal(resp.source, 'network');
    assert.deepEqual(JSON.parse(resp.body.toString('utf8')).map((p) => p.id), ['obsidian-git', 'dataview']);

    // The CDN fails: the fetch fails over to Git.
    cdnStatus.code = 503;
    const failover = await r.fetch('community-plugins.json');
    cdnStatus.code = 200;
    assert.equal(failover.origin, 'git');
    assert.equal(failover.fallback, true);

    // The app's own request to the CDN got a 429: the next resolve goes to Git.
    r.reportOutcome('cdn', { status: 429, retryAfterMs: 60000, elapsedMs: 5 });
    const after = r.resolve('community-plugins.json');
    assert.equal(after.origin, 'git');
    assert.equal(after.reason, 'failover');
    assert.equal(after.unavailable, 'rateLimited');
    assert.throws(() => r.reportOutcome('ftp', {}), (e) => e.status === 106);

    const stats = r.getStats();
    assert.equal(stats.totalRequests, 3);
    assert.equal(stats.cloudflareRequests, 1);
    assert.equal(stats.gitRequests, 1);
    assert.equal(stats.fallbacks, 1);
    assert.equal(stats.rateLimited, 1);
    assert.equal(stats.fresh + stats.revalidated + stats.stale, 0);
    assert.equal(stats.contentCheckFailures + stats.integrityFailures, 0);
    assert.ok(stats.networkBodyBytes > 0);
    assert.equal(stats.config.version, 1);
    assert.equal(stats.installId, 'node-1');
  } finally {
    await r.close();
  }
  assert.throws(() => r.getStats(), /closed/);
});

test('reloadConfig and onConfigChange follow a config flip', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sourcegate-node-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(doc('git', 1)));
  const r = new Resolver({ staticConfigFile: file, healthChecks: false, push: false, installId: 'node-2' });
  try {
    assert.equal(await r.resolveUrl('community-plugins.json'), `${base}/git/community-plugins.json`);
    const events = [];
    let notify;
    const seen = new Promise((resolve) => { notify = resolve; });
    const unsubscribe = r.onConfigChange((ev) => { events.push(ev); notify(); });

    fs.writeFileSync(file, JSON.stringify(doc('cdn', 2)));
    assert.equal(await r.reloadConfig(), 2);
    await seen;
    assert.equal(events.length, 1);
    assert.equal(events[0].version, 2);
    assert.equal(events[0].mode, 'cdn');
    assert.equal(events[0].config.cdnUrl, `${base}/cdn/`);
    assert.equal(await r.resolveUrl('community-plugins.json'), `${base}/cdn/community-plugins.json`);

    // An older document is refused; the config in use stays.
    fs.writeFileSync(file, JSON.stringify(doc('git', 1)));
    await assert.rejects(r.reloadConfig(), (e) => e.code === 'SG_STATUS_CONFIG_STALE');
    assert.equal(r.resolve('community-plugins.json').origin, 'cdn');

    await unsubscribe();
    fs.writeFileSync(file, JSON.stringify(doc('git', 3)));
    assert.equal(await r.reloadConfig(), 3);
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(events.length, 1);
  } finally {
    await r.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('concurrent resolveUrl calls from the thread pool', async () => {
  const r = new Resolver({ staticConfig: doc('canary', 1, { canaryPercent: 50 }), healthChecks: false });
  try {
    const urls = await Promise.all(Array.from({ length: 64 }, () => r.resolveUrl('community-plugins.json')));
    assert.equal(new Set(urls).size, 1);
  } finally {
    await r.close();
  }
});
