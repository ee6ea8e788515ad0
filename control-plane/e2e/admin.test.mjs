// Browser tests of the admin console (/admin): playwright-core drives Debian's Chromium
// headless against a real control plane (embedded PostgreSQL) started by this file.
//
// Run: ./run.sh (or `npm ci && node --test` with the binary built). Environment:
//   SOURCEGATE_CP_BIN   the control-plane binary (default: $CARGO_TARGET_DIR or ../../target, debug)
//   CHROMIUM            the browser (default /usr/bin/chromium)
//   UPDATE_DOCS_SCREENSHOT=1  also writes ../../docs/admin-console.png
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes, createHash } from 'node:crypto';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');
const BIN = process.env.SOURCEGATE_CP_BIN || join(targetDir, 'debug', 'sourcegate-control-plane');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const REGISTRY_FILE = join(repo, 'data', 'community-plugins.json');
const SHOTS = join(here, 'screenshots');
const SECRET = randomBytes(32).toString('hex');
const KEY = '/v1/configs/marketplace_source';

let tmp;
let server; // the control-plane child process
let base; // http://127.0.0.1:PORT
let registry; // node http server of the registry file
let registryUrl;
let context;
let page;
let adminToken;
let userToken;
const pageErrors = [];

function env() {
  return { ...process.env, SOURCEGATE_JWT_SECRET: SECRET, RUST_LOG: process.env.RUST_LOG || 'warn' };
}

function mint(...args) {
  const r = spawnSync(BIN, ['--data-dir', join(tmp, 'cp'), 'mint-token', ...args], { env: env(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function startControlPlane() {
  return new Promise((resolveStart, reject) => {
    const child = spawn(
      BIN,
      ['--listen', '127.0.0.1:0', '--data-dir', join(tmp, 'cp'), '--allow-private-origins'],
      { env: env(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    const timer = setTimeout(() => reject(new Error(`control plane did not start in 90 s:\n${log}`)), 90_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(log);
      if (m && !base) {
        clearTimeout(timer);
        base = m[1];
        resolveStart(child);
      }
      if (log.length > 100_000) log = log.slice(-20_000);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!base) reject(new Error(`control plane exited with ${code}:\n${log}`));
    });
  });
}

function startRegistry() {
  const body = readFileSync(REGISTRY_FILE);
  return new Promise((ok) => {
    const s = createServer((req, res) => {
      if (req.url.endsWith('/community-plugins.json')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      } else {
        res.writeHead(404).end();
      }
    });
    s.listen(0, '127.0.0.1', () => ok(s));
  });
}

async function apiCall(method, path, token, body) {
  const r = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function shot(name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

async function tab(name) {
  await page.click(`#tab-${name}`);
  await page.waitForSelector(`#panel-${name}:not([hidden])`);
}

async function confirmWith(reason) {
  const dlg = page.locator('#confirm');
  await dlg.waitFor({ state: 'visible' });
  assert.equal(await page.isDisabled('#confirm-ok'), true, 'Confirm needs a reason');
  await page.fill('#confirm-reason', reason);
  await page.click('#confirm-ok');
  await dlg.waitFor({ state: 'hidden' });
}

async function signIn(token) {
  await page.fill('#token', token);
  await page.click('#signin-btn');
}

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: cargo build -p sourcegate-control-plane`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  tmp = mkdtempSync(join(tmpdir(), 'sourcegate-admin-e2e-'));
  registry = await startRegistry();
  registryUrl = `http://127.0.0.1:${registry.address().port}/`;
  server = await startControlPlane();
  adminToken = mint('--role', 'service_role');
  userToken = mint('--role', 'authenticated');
  context = await chromium.launchPersistentContext(join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 820 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
  });
});

after(async () => {
  await context?.close().catch(() => {});
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  registry?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the page is served with a strict CSP and shows the live config read-only without a token', async () => {
  const resp = await page.goto(`${base}/admin`);
  assert.equal(resp.status(), 200);
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  await page.waitForSelector('body[data-ready="1"]');
  await page.waitForFunction(() => document.querySelector('#cur-version').textContent === '1');
  assert.equal(await page.textContent('#cur-mode'), 'Git');
  assert.match(await page.textContent('#readonly'), /Read-only: sign in with an admin JWT/);
  assert.equal(await page.isDisabled('[data-mode=cdn]'), true);
  await page.waitForSelector('#live.on');
});

test('a bad token is refused with a message; a non-admin gets a read-only view and the 403s', async () => {
  await signIn('not.a.jwt');
  await page.waitForSelector('#notice.error');
  assert.match(await page.textContent('#notice'), /Token refused: 401/);
  await signIn(userToken);
  await page.waitForFunction(() => /read-only/.test(document.querySelector('#who').textContent));
  assert.match(await page.textContent('#readonly'), /not an admin/);
  for (const sel of ['[data-mode=git]', '[data-mode=hybrid-cdn-git]', '#canary-apply', '#save-urls', '.test']) {
    assert.equal(await page.isDisabled(sel), true, `${sel} disabled for a non-admin`);
  }
  await tab('history');
  await page.waitForSelector('#history-body .refused');
  assert.match(await page.textContent('#history-body'), /History refused: 403 forbidden/);
  await shot('readonly-history');
  // The server refuses the write too (the UI is only a convenience).
  const r = await apiCall('PUT', KEY, userToken, { value: { type: 'cdn', cdnUrl: registryUrl }, reason: 'x', expectedVersion: 1 });
  assert.equal(r.status, 403);
  await page.click('#signout-btn');
  await page.waitForFunction(() => document.querySelector('#who').textContent === 'not signed in');
  await tab('source');
});

test('an admin signs in and tests an origin', async () => {
  await signIn(adminToken);
  await page.waitForFunction(() => /^admin/.test(document.querySelector('#who').textContent));
  assert.equal(await page.isHidden('#readonly'), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 1, 'token kept in sessionStorage');
  await page.fill('#cdn-url', registryUrl);
  await page.click('[data-field=cdn-url]');
  await page.waitForSelector('#test-result.good');
  const text = await page.textContent('#test-result');
  assert.match(text, /✅ OK/);
  assert.match(await page.textContent('#test-result .status'), /^200$/);
  assert.match(await page.textContent('#test-result .latency'), /\d+ ms/);
  assert.match(await page.textContent('#test-result .bytes'), /KiB|MiB/);
  assert.match(await page.textContent('#test-result .registry'), /valid, \d+ entries/);
});

test('flip to canary 10 % with a confirmation and a reason', async () => {
  await page.fill('#canary', '10');
  assert.equal(await page.textContent('#canary-value'), '10 %');
  await page.click('#canary-apply');
  await page.locator('#confirm').waitFor({ state: 'visible' });
  const dialog = await page.textContent('#confirm');
  assert.match(dialog, /Version 1 → 2: Git → Canary 10 % on CDN/);
  for (const key of ['type', 'canaryPercent', 'cdnUrl']) {
    assert.equal(await page.locator(`#confirm-diff tr[data-key="${key}"]`).count(), 1, `diff shows ${key}`);
  }
  // Cancel first: nothing changes.
  await page.click('#confirm-cancel');
  await page.locator('#confirm').waitFor({ state: 'hidden' });
  assert.equal(await page.textContent('#cur-version'), '1');
  await page.click('#canary-apply');
  await confirmWith('Git rate-limited: 10 % of installs to the CDN');
  await page.waitForFunction(() => document.querySelector('#cur-version').textContent === '2');
  assert.equal(await page.textContent('#cur-mode'), 'Canary 10 % on CDN');
  const r = await apiCall('GET', KEY);
  assert.equal(r.body.value.type, 'canary');
  assert.equal(r.body.value.canaryPercent, 10);
  assert.equal(r.body.value.cdnUrl, registryUrl);
  await shot('source');
  if (process.env.UPDATE_DOCS_SCREENSHOT) copyFileSync(join(SHOTS, 'source.png'), join(repo, 'docs', 'admin-console.png'));
});

test('the history shows the new row, its reason and a diff', async () => {
  await tab('history');
  const row = page.locator('#history-body tr[data-version="2"]');
  await row.waitFor();
  assert.match(await row.textContent(), /Git rate-limited: 10 % of installs to the CDN/);
  assert.match(await row.textContent(), /service_role/);
  assert.equal(await page.locator('#history-body tr[data-version="1"]').count(), 1);
  assert.equal(await page.inputValue('#diff-a'), '1');
  assert.equal(await page.inputValue('#diff-b'), '2');
  const changed = page.locator('#diff-body tr[data-key="type"]');
  assert.equal(await changed.getAttribute('class'), 'changed');
  assert.equal(await changed.locator('.from').textContent(), '"git"');
  assert.equal(await changed.locator('.to').textContent(), '"canary"');
  await shot('history');
});

test('the health tab renders (table, or a clear "not available")', async () => {
  await tab('health');
  await page.waitForFunction(() => {
    const b = document.querySelector('#health-body');
    return b.querySelector('table.health') || b.querySelector('.unavailable');
  });
  const table = await page.locator('#health-body table.health').count();
  if (table) {
    assert.ok((await page.locator('#health-body tbody tr').count()) >= 1);
    assert.match(await page.textContent('#health-body'), /✅|❌/);
    // The control plane probes the origins of the live config: the CDN is the registry served here.
    assert.match(await page.textContent('#health-body tr[data-origin="cdn"]'), new RegExp(registryUrl.replace(/[.]/g, '\\.')));
  } else {
    assert.match(await page.textContent('#health-body'), /not available/);
  }
  await shot('health');
});

test('the usage tab renders (chart, or a clear "not available")', async () => {
  // Resolvers report to POST /v1/telemetry (when the endpoint exists), so the chart has data.
  const report = (id, mode, configVersion, git, cdn) => ({
    installHash: createHash('sha256').update(id).digest('hex'),
    configVersion, mode, sdk: 'e2e/1.0', intervalSecs: 60,
    origins: { git: { requests: git, failures: 0, rateLimited: mode === 'git' ? 2 : 0 }, cdn: { requests: cdn, failures: 0, rateLimited: 0 } },
    fallbacks: 1, errors: 0, latencyMs: { p50: 40, p99: 120, mean: 55 },
  });
  const posted = [];
  // Install b also answered 3 requests from its kept copy (every origin failed them); a and c
  // send no `stale` at all, as older resolvers do.
  const withStale = { ...report('b', 'canary', 2, 8, 2), stale: 3 };
  for (const r of [report('a', 'canary', 2, 9, 1), withStale, report('c', 'git', 1, 12, 0)]) {
    posted.push((await apiCall('POST', '/v1/telemetry', null, r)).status);
  }
  const telemetryLive = posted.every((s) => s >= 200 && s < 300);
  await tab('usage');
  await page.waitForFunction(() => {
    const b = document.querySelector('#usage-body');
    return b.querySelector('.stats') || b.querySelector('.unavailable');
  });
  if (await page.locator('#usage-body .stats').count()) {
    assert.match(await page.textContent('#usage-body'), /Requests/);
    if (telemetryLive) {
      assert.equal(await page.textContent('#usage-body .stat.total strong'), '32');
      assert.equal(await page.locator('#usage-body svg.chart polyline').count(), 5);
      assert.match(await page.textContent('#usage-body .share-row[data-key="canary"]'), /66\.7 % \(2\)/);
      // How Git usage is computed is written next to it.
      assert.match(await page.textContent('#usage-notes'), /x-ratelimit-remaining/);
      assert.equal(await page.locator('#usage-body .stat.git-usage').count(), 1);
      assert.equal(await page.textContent('#usage-body .stat.stale strong'), '3');
      assert.match(await page.textContent('#usage-notes'), /Served stale/);
    }
  } else {
    assert.match(await page.textContent('#usage-body'), /not available/);
  }
  await shot('usage');
});

test('a change made through the API (as the CLI does) appears without reload', async () => {
  await tab('source');
  await page.evaluate(() => (window.__noReload = true));
  const r = await apiCall('PUT', KEY, adminToken, {
    value: { type: 'hybrid', priority: ['cdn', 'git'], cdnUrl: registryUrl, gitUrl: 'https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/' },
    reason: 'from the CLI',
    expectedVersion: 2,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await page.waitForFunction(() => document.querySelector('#cur-version').textContent === '3');
  assert.equal(await page.textContent('#cur-mode'), 'Hybrid CDN→Git');
  assert.equal(await page.getAttribute('[data-mode=hybrid-cdn-git]', 'aria-pressed'), 'true');
  assert.equal(await page.evaluate(() => window.__noReload), true, 'no reload happened');
});

test('a concurrent change by another admin is reported (409), never overwritten', async () => {
  await page.click('[data-mode=git]');
  await page.locator('#confirm').waitFor({ state: 'visible' });
  // Meanwhile another admin changes the config.
  const r = await apiCall('PUT', KEY, adminToken, {
    value: { type: 'cdn', cdnUrl: registryUrl }, reason: 'another admin', expectedVersion: 3,
  });
  assert.equal(r.status, 200);
  await confirmWith('back to Git');
  await page.waitForSelector('#notice.error');
  assert.match(await page.textContent('#notice'), /Changed by another admin — reload/);
  const now = await apiCall('GET', KEY);
  assert.equal(now.body.version, 4);
  assert.equal(now.body.value.type, 'cdn', 'the other admin\'s change stands');
  await page.waitForFunction(() => document.querySelector('#cur-version').textContent === '4');
});

test('an invalid document is refused (422, with the field) and nothing changes', async () => {
  await page.fill('#cdn-url', 'ftp://mirror.example/');
  await page.click('#save-urls');
  await confirmWith('try an FTP mirror');
  await page.waitForSelector('#notice.error');
  assert.match(await page.textContent('#notice'), /Not applied: 422 invalid_config.*field cdnUrl/);
  assert.equal((await apiCall('GET', KEY)).body.version, 4);
});

test('roll back to version 2 from the history (confirmed, with a reason)', async () => {
  await tab('history');
  await page.locator('#history-body tr[data-version="4"]').waitFor();
  await page.click('#history-body tr[data-version="2"] button.rollback');
  await page.locator('#confirm').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#confirm-text'), /Creates version 5 with the configuration of version 2/);
  await confirmWith('CDN canary back to 10 %');
  await page.locator('#history-body tr[data-version="5"]').waitFor();
  assert.match(await page.textContent('#history-body tr[data-version="5"]'), /CDN canary back to 10 %/);
  assert.equal(await page.textContent('#cur-version'), '5');
  assert.equal(await page.textContent('#cur-mode'), 'Canary 10 % on CDN');
  const now = await apiCall('GET', KEY);
  assert.equal(now.body.value.type, 'canary');
  assert.equal(now.body.value.canaryPercent, 10);
});

test('health and usage render the documented shapes (responses mocked in the browser)', async () => {
  const now = Date.now();
  const minute = (i) => new Date(Math.floor(now / 60_000) * 60_000 - (29 - i) * 60_000).toISOString();
  const minutes = Array.from({ length: 30 }, (_, i) => ({
    minute: minute(i),
    git: { requests: 40 + (i % 7) * 6 - Math.max(0, i - 18) * 3, failures: i % 11 === 0 ? 2 : 0, rateLimited: i > 20 ? i - 20 : 0 },
    cdn: { requests: 5 + Math.max(0, i - 15) * 4, failures: 0, rateLimited: 0 },
    fallbacks: i > 20 ? 2 : 0,
    errors: i === 25 ? 3 : 0,
    p50Ms: 42,
    p99Ms: 180.5,
  }));
  const summary = { minutes, installs: { total: 120, byMode: { canary: 108, git: 12 }, byVersion: { 5: 80, 4: 30, 3: 10 } } };
  const health = {
    version: 5,
    origins: [
      { origin: 'git', url: 'https://raw.githubusercontent.com/o/r/HEAD/', healthy: false, ejected: true, rateLimited: true, lastCheck: new Date(now - 7000).toISOString(), responseTimeMs: 812.4, lastError: 'HTTP 429 Too Many Requests', checks: 31 },
      { origin: 'cdn', url: registryUrl, healthy: true, ejected: false, rateLimited: false, lastCheck: new Date(now - 3000).toISOString(), responseTimeMs: 18, lastError: null, checks: 31 },
    ],
  };
  await page.route('**/v1/origins/health', (route) => route.fulfill({ json: health }));
  await page.route('**/v1/telemetry/summary*', (route) => route.fulfill({ json: summary }));
  try {
    await tab('health');
    await page.waitForSelector('#health-body tr[data-origin="cdn"]');
    assert.match(await page.textContent('#health-body tr[data-origin="cdn"]'), /✅ healthy.*18 ms/);
    const git = await page.textContent('#health-body tr[data-origin="git"]');
    assert.match(git, /❌ unhealthy/);
    assert.match(git, /ejected/);
    assert.match(git, /HTTP 429/);
    // Origin labels come from the server's table (GET /v1/modes `originLabels`).
    assert.equal(await page.textContent('#health-body tr[data-origin="git"] td'), 'Git');
    assert.equal(await page.textContent('#health-body tr[data-origin="cdn"] td'), 'CDN');
    await shot('health-mocked');
    await tab('usage');
    await page.waitForSelector('#usage-body svg.chart');
    assert.equal(await page.locator('#usage-body svg.chart polyline').count(), 5);
    assert.match(await page.textContent('#usage-body .share-row[data-key="canary"]'), /90\.0 %/);
    assert.match(await page.textContent('#usage-body .stats'), /p50 \/ p99/);
    assert.match(await page.textContent('#usage-body .legend'), /Git requests.*CDN requests/);
    await shot('usage-mocked');
  } finally {
    await page.unroute('**/v1/origins/health');
    await page.unroute('**/v1/telemetry/summary*');
    await tab('source');
  }
});

test('the autopilot tab shows the policy, refuses an invalid one with its field and saves a valid one', async () => {
  await tab('autopilot');
  await page.waitForSelector('#ap-state');
  assert.match(await page.textContent('#ap-state'), /Off/);
  assert.equal(await page.inputValue('#ap-threshold'), '70', 'the seed\'s 70 % is the default');
  // The target modes are labelled by the server's mode table, not by one of the console's.
  assert.deepEqual(
    await page.$$eval('#ap-target option', (os) => os.map((o) => [o.value, o.textContent])),
    [['hybrid-cdn-git', 'Hybrid CDN→Git'], ['cdn', 'CDN'], ['canary', 'Canary']],
  );
  const before = await apiCall('GET', '/v1/autopilot', adminToken);
  assert.equal(before.status, 200);
  await page.fill('#ap-threshold', '150');
  await page.click('#ap-save');
  await page.waitForSelector('#ap-result.error');
  assert.match((await page.getAttribute('#ap-result', 'data-field')) || '', /thresholdPercent/);
  assert.equal((await apiCall('GET', '/v1/autopilot', adminToken)).body.version, before.body.version, 'nothing was written');
  await page.fill('#ap-threshold', '80');
  await page.check('#ap-enabled');
  await page.check('#ap-dry');
  await page.fill('#ap-reason', 'e2e: autopilot in dry run');
  await page.click('#ap-save');
  await page.waitForSelector('#ap-result.ok');
  const after = await apiCall('GET', '/v1/autopilot', adminToken);
  assert.equal(after.body.policy.enabled, true);
  assert.equal(after.body.policy.dryRun, true);
  assert.equal(after.body.policy.gitPressure.thresholdPercent, 80);
  assert.ok(after.body.version > before.body.version);
  await page.waitForFunction(() => /On \(dry run\)/.test(document.querySelector('#ap-state')?.textContent || ''));
  await shot('autopilot');
});

test('no script error on the page', () => {
  assert.deepEqual(pageErrors, []);
});
