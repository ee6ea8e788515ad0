// MarketplaceSourceResolver against the real control plane (embedded PostgreSQL, started by
// run-tests.sh) and two loopback origins: every mode, failover on 429 and 5xx, canary
// stickiness, the Supabase provider, an SSE flip followed without reloadConfig, and the
// last-known-good copy.
import test from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { load, MarketplaceSourceResolver, bucketOf, SourcegateError } from '../index.js';
import { wasmBytes, origin, cp, setConfig, until, testData } from './helpers.mjs';

await load(wasmBytes());
assert.ok(cp.base && cp.admin, 'run through bindings/js/run-tests.sh (SG_BASE_URL, SG_ADMIN_TOKEN)');
const git = await origin('git');
const cdn = await origin('cdn');
test.after(() => Promise.all([git.close(), cdn.close()]));

const doc = (extra) => ({ gitUrl: git.url, cdnUrl: cdn.url, healthCheckEnabled: false, fallbackOnError: true, ...extra });
const memoryStorage = () => { const m = new Map(); return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, v), m }; };
const make = (extra = {}) => MarketplaceSourceResolver.create({
  defaultGitUrl: 'http://127.0.0.1:9/default/',
  installId: 'install-0001',
  provider: { type: 'controlPlane', url: cp.base },
  storage: memoryStorage(),
  ...extra,
});
const P = 'community-plugins.json';

test('every mode resolves to its documented first origin', async () => {
  const modes = [
    [{ type: 'git' }, git],
    [{ type: 'cdn' }, cdn],
    [{ type: 'hybrid', priority: ['cdn', 'git'] }, cdn],
    [{ type: 'hybrid', priority: ['git', 'cdn'] }, git],
    [{ type: 'canary', canaryPercent: 100 }, cdn],
    [{ type: 'canary', canaryPercent: 0 }, git],
  ];
  for (const [m, want] of modes) {
    const version = await setConfig(doc(m), `js: ${JSON.stringify(m)}`);
    const r = await make();
    try {
      assert.equal(r.getStats().config.version, version);
      assert.equal(await r.resolveUrl(P), want.url + P, JSON.stringify(m));
    } finally { r.close(); }
  }
});

test('fetch fails over on 429 (Retry-After cooldown) and on 5xx, and counts it', async () => {
  await setConfig(doc({ type: 'cdn' }));
  const r = await make();
  try {
    cdn.script.push({ status: 429, headers: { 'retry-after': '60' } });
    const a = await r.fetch(P);
    assert.equal(a.origin, 'git');
    assert.equal(a.fallback, true);
    assert.equal(JSON.parse(new TextDecoder().decode(a.body)).origin, 'git');
    // The CDN is cooling down: the next request goes to Git first, without asking the CDN.
    const before = cdn.requests;
    assert.equal((await r.fetch(P)).origin, 'git');
    assert.equal(cdn.requests, before);
    const s = r.getStats();
    assert.equal(s.totalRequests, 2);
    assert.equal(s.gitRequests, 2);
    assert.equal(s.fallbacks, 1);
    assert.equal(s.rateLimited, 1);
    assert.equal(s.errors, 0);
  } finally { r.close(); }

  const r2 = await make();
  try {
    cdn.script.push({ status: 503 });
    const b = await r2.fetch(P);
    assert.equal(b.origin, 'git');
    cdn.script.push({ status: 500 });
    git.script.push({ status: 502 });
    await assert.rejects(r2.fetch(P), (e) => e instanceof SourcegateError && e.code === 'all_origins_failed' && e.attempts.length === 2);
    assert.equal(r2.getStats().errors, 1);
  } finally { r2.close(); }
});

test('canary: each install stays on its bucket side (test-data/buckets.json)', async () => {
  await setConfig(doc({ type: 'canary', canaryPercent: 50 }));
  const { vectors } = testData('buckets.json');
  // (An empty install id is not an install: the resolver then makes one up.)
  for (const v of vectors.filter((x) => x.installId !== '').slice(0, 12)) {
    const r = await make({ installId: v.installId });
    try {
      assert.equal(r.bucket, v.bucket);
      const want = v.bucket < 5000 ? cdn : git;
      for (let i = 0; i < 3; i++) assert.equal(await r.resolveUrl(P), want.url + P, v.installId);
    } finally { r.close(); }
  }
  assert.equal(bucketOf('install-0001'), vectors[0].bucket);
});

test('the Supabase provider reads app_config through PostgREST', async () => {
  const version = await setConfig(doc({ type: 'cdn' }));
  const anon = process.env.SG_ANON_KEY;
  const r = await make({ provider: { type: 'supabase', url: cp.base, anonKey: anon } });
  try {
    assert.equal(r.getStats().config.version, version);
    assert.equal(await r.resolveUrl(P), cdn.url + P);
  } finally { r.close(); }
});

test('an SSE flip is followed without reloadConfig', async () => {
  await setConfig(doc({ type: 'git' }));
  const r = await make({ EventSource });
  try {
    assert.equal(await r.resolveUrl(P), git.url + P);
    const seen = [];
    r.subscribe((c) => seen.push(c));
    const version = await setConfig(doc({ type: 'cdn' }), 'js: flip');
    await until('the flip over SSE', () => seen.some((c) => c.version === version));
    assert.equal(await r.resolveUrl(P), cdn.url + P);
    assert.equal(seen.at(-1).mode, 'cdn');
  } finally { r.close(); }
});

test('the last-known-good copy serves when the provider is down, and a bad document changes nothing', async () => {
  await setConfig(doc({ type: 'cdn' }));
  const storage = memoryStorage();
  const first = await make({ storage });
  const version = first.getStats().config.version;
  first.close();
  // The control plane is "down" (a port nothing listens on): the stored copy is used.
  const r = await make({ storage, provider: { type: 'controlPlane', url: 'http://127.0.0.1:9' }, requestTimeoutMs: 500 });
  try {
    assert.equal(r.getStats().config.version, version);
    assert.equal(await r.resolveUrl(P), cdn.url + P);
    await assert.rejects(r.reloadConfig());
    assert.equal(r.getStats().config.version, version);
  } finally { r.close(); }
  const bad = await MarketplaceSourceResolver.create({
    defaultGitUrl: 'http://127.0.0.1:9/default/', installId: 'x',
    provider: { type: 'static', document: { type: 'sideways' } }, storage,
  });
  try {
    assert.equal(bad.getStats().config.version, version, 'the refused document did not replace the kept one');
  } finally { bad.close(); }
});

test('in Node, the last-known-good copy and the install id survive a restart in a file', async () => {
  const { fileStorage } = await import('../node.js');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-js-'));
  const file = path.join(dir, 'sourcegate.json');
  try {
    const version = await setConfig(doc({ type: 'cdn' }));
    const a = await MarketplaceSourceResolver.create({
      defaultGitUrl: 'http://127.0.0.1:9/default/', provider: { type: 'controlPlane', url: cp.base }, storage: fileStorage(file),
    });
    const id = a.installId;
    a.close();
    // "Restart" with the control plane unreachable: the file gives the document and the id.
    const b = await MarketplaceSourceResolver.create({
      defaultGitUrl: 'http://127.0.0.1:9/default/', provider: { type: 'controlPlane', url: 'http://127.0.0.1:9' },
      requestTimeoutMs: 500, storage: fileStorage(file),
    });
    try {
      assert.equal(b.installId, id);
      assert.equal(b.getStats().config.version, version);
      assert.equal(await b.resolveUrl(P), cdn.url + P);
    } finally { b.close(); }
    // A damaged file reads as empty: a fresh install id, the default config.
    fs.writeFileSync(file, '{not json');
    const c = await MarketplaceSourceResolver.create({
      defaultGitUrl: 'http://127.0.0.1:9/default/', provider: { type: 'controlPlane', url: 'http://127.0.0.1:9' },
      requestTimeoutMs: 500, storage: fileStorage(file),
    });
    try {
      assert.notEqual(c.installId, id);
      assert.equal(await c.resolveUrl(P), 'http://127.0.0.1:9/default/' + P);
    } finally { c.close(); }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
