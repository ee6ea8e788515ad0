// Sourcegate admin console: Source / Health / Usage / History over the control plane's /v1 API.
import { api, getToken, setToken, jwtClaims, configPath } from '/admin/api.js';
import { diff } from '/admin/diff.js';
import { lineChart, legend } from '/admin/chart.js';

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => [...document.querySelectorAll(sel)];

const state = {
  config: null, // GET /v1/configs/marketplace_source body
  admin: false,
  signedIn: false,
  tab: 'source',
  history: null,
  dirty: { 'cdn-url': false, 'git-url': false },
  timers: {},
};

// ---------- small DOM helpers ----------

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function notice(text, kind = 'info', action) {
  const n = $('#notice');
  n.replaceChildren(h('span', {}, text));
  if (action) n.append(' ', h('button', { type: 'button', onclick: action.run }, action.label));
  n.append(h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => (n.hidden = true) }, '×'));
  n.className = `notice ${kind}`;
  n.dataset.kind = kind;
  n.hidden = false;
}

function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return String(iso);
  if (s < 5) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return fmtTime(iso);
}

function fmtMs(v) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return '—';
  const n = Number(v);
  return `${n >= 100 || Number.isInteger(n) ? Math.round(n) : n.toFixed(1)} ms`;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function modeLabel(v) {
  if (!v) return '—';
  const pr = Array.isArray(v.priority) ? v.priority : ['cdn', 'git'];
  const name = (o) => (o === 'git' ? 'Git' : 'CDN');
  switch (v.type) {
    case 'git':
      return 'Git';
    case 'cdn':
    case 'cloudflare':
      return 'CDN';
    case 'hybrid':
      return `Hybrid ${pr.map(name).join('→')}`;
    case 'canary':
      return `Canary ${v.canaryPercent ?? 0} % on CDN`;
    default:
      return String(v.type);
  }
}

function modeKey(v) {
  if (!v) return '';
  if (v.type === 'hybrid') {
    const pr = Array.isArray(v.priority) ? v.priority : ['cdn', 'git'];
    return pr[0] === 'git' ? 'hybrid-git-cdn' : 'hybrid-cdn-git';
  }
  return v.type === 'cloudflare' ? 'cdn' : v.type;
}

// ---------- sign-in ----------

async function signIn(token) {
  setToken(token);
  await refreshIdentity(true);
}

async function refreshIdentity(announce = false) {
  const token = getToken();
  state.signedIn = !!token;
  state.admin = false;
  let whoText = 'not signed in';
  if (token) {
    // The server decides: an admin can read the history, anyone else gets 403.
    const r = await api('GET', `${configPath}/history?limit=1`);
    const claims = jwtClaims(token) || {};
    const who = claims.sub ? `${claims.role} ${String(claims.sub).slice(0, 8)}…` : claims.role || 'token';
    if (r.ok) {
      state.admin = true;
      whoText = `admin (${who})`;
      if (announce) notice('Signed in as admin.', 'ok');
    } else if (r.status === 403) {
      whoText = `read-only (${who})`;
      if (announce) notice(`This token is not an admin's: read-only view (${r.error}).`, 'warn');
    } else if (r.status === 401) {
      setToken('');
      state.signedIn = false;
      notice(`Token refused: ${r.error}`, 'error');
    } else {
      whoText = `unknown (${who})`;
      notice(`Could not check the token: ${r.error}`, 'error');
    }
  }
  $('#who').textContent = whoText;
  $('#who').className = `badge ${state.admin ? 'admin' : state.signedIn ? 'user' : ''}`;
  $('#signout-btn').hidden = !state.signedIn;
  $('#token').hidden = state.signedIn;
  $('#signin-btn').hidden = state.signedIn;
  $('#token').value = '';
  document.body.classList.toggle('is-admin', state.admin);
  applyPermissions();
  state.history = null;
  if (state.tab !== 'source') loadTab(state.tab);
}

function applyPermissions() {
  for (const e of $$('.admin-only')) e.disabled = !state.admin;
  const ro = $('#readonly');
  if (state.admin) {
    ro.hidden = true;
  } else {
    ro.hidden = false;
    ro.textContent = state.signedIn
      ? 'Read-only: this token is not an admin’s. Changes, origin tests and the history need an admin token.'
      : 'Read-only: sign in with an admin JWT (e.g. `sourcegate-control-plane mint-token --role service_role`) to make changes.';
  }
}

// ---------- config + SSE ----------

function setConfig(cfg, source) {
  const prev = state.config;
  if (prev && cfg.version < prev.version) return;
  state.config = cfg;
  renderSource();
  if (source === 'sse' && prev && cfg.version > prev.version) {
    notice(`Version ${cfg.version} is live: ${modeLabel(cfg.value)}.`, 'info');
    state.history = null;
    if (state.tab === 'history') loadHistory();
  }
}

async function loadConfig() {
  const r = await api('GET', configPath);
  if (r.ok) setConfig(r.body, 'get');
  else notice(`Could not read the configuration: ${r.error}`, 'error');
}

function connectEvents() {
  const live = $('#live');
  const es = new EventSource(`${configPath}/events`);
  es.addEventListener('open', () => {
    live.textContent = '● live';
    live.className = 'live on';
  });
  es.addEventListener('error', () => {
    live.textContent = '● reconnecting';
    live.className = 'live off';
  });
  es.addEventListener('config', (ev) => {
    try {
      setConfig(JSON.parse(ev.data), 'sse');
    } catch {
      /* a malformed event is ignored; the next one or a reload fixes the view */
    }
  });
}

// ---------- confirmation dialog ----------

function diffTable(rows) {
  if (!rows.length) return h('p', { class: 'muted' }, 'No difference.');
  return h(
    'table',
    { class: 'diff' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'From'), h('th', {}, 'To'))),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          { class: r.status, dataset: { key: r.key } },
          h('td', {}, r.key),
          h('td', { class: 'from' }, r.from ?? '—'),
          h('td', { class: 'to' }, r.to ?? '—'),
        ),
      ),
    ),
  );
}

function confirmChange({ title, text, from, to }) {
  const dlg = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  const strip = (v) => {
    const c = { ...(v || {}) };
    delete c.version;
    return c;
  };
  $('#confirm-diff').replaceChildren(diffTable(diff(strip(from), strip(to))));
  const reason = $('#confirm-reason');
  const ok = $('#confirm-ok');
  reason.value = '';
  ok.disabled = true;
  return new Promise((resolve) => {
    const onInput = () => (ok.disabled = reason.value.trim() === '');
    const done = (value) => {
      reason.removeEventListener('input', onInput);
      $('#confirm-form').removeEventListener('submit', onSubmit);
      $('#confirm-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(value);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      if (reason.value.trim()) done(reason.value.trim());
    };
    const onCancel = (e) => {
      e.preventDefault();
      done(null);
    };
    reason.addEventListener('input', onInput);
    $('#confirm-form').addEventListener('submit', onSubmit);
    $('#confirm-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    reason.focus();
  });
}

function reportWriteError(r) {
  if (r.status === 409 && r.body && r.body.code === 'no_change') {
    notice('No change: the configuration already is this document. Nothing was written.', 'info');
  } else if (r.status === 409) {
    notice('Changed by another admin — reload to see the current version before changing it again. Nothing was overwritten.', 'error', {
      label: 'Reload',
      run: () => {
        state.dirty = { 'cdn-url': false, 'git-url': false };
        loadConfig();
        $('#notice').hidden = true;
      },
    });
  } else if (r.status === 401 || r.status === 403) {
    notice(`Refused: ${r.error}`, 'error');
  } else {
    notice(`Not applied: ${r.error}`, 'error');
  }
}

// ---------- Source tab ----------

function draftUrls(v) {
  const next = { ...v };
  const cdn = $('#cdn-url').value.trim();
  const git = $('#git-url').value.trim();
  if (state.dirty['cdn-url']) {
    if (cdn) next.cdnUrl = cdn;
    else delete next.cdnUrl;
    delete next.cloudflareUrl;
  }
  if (state.dirty['git-url']) {
    if (git) next.gitUrl = git;
    else delete next.gitUrl;
  }
  return next;
}

async function propose(title, mutate) {
  if (!state.config) return false;
  const base = state.config;
  const current = base.value || {};
  const next = mutate(draftUrls({ ...current }));
  delete next.version;
  const reason = await confirmChange({
    title,
    text: `Version ${base.version} → ${base.version + 1}: ${modeLabel(current)} → ${modeLabel(next)}.`,
    from: current,
    to: next,
  });
  if (reason === null) return false;
  const r = await api('PUT', configPath, { value: next, reason, expectedVersion: base.version });
  if (r.ok) {
    state.dirty = { 'cdn-url': false, 'git-url': false };
    setConfig(r.body, 'put');
    notice(`Applied: version ${r.body.version}, ${modeLabel(r.body.value)}.`, 'ok');
    state.history = null;
    return true;
  }
  reportWriteError(r);
  return false;
}

const MODES = {
  git: { label: 'Git', apply: (v) => ({ ...v, type: 'git' }) },
  cdn: { label: 'CDN', apply: (v) => ({ ...v, type: 'cdn' }) },
  'hybrid-cdn-git': { label: 'Hybrid CDN→Git', apply: (v) => ({ ...v, type: 'hybrid', priority: ['cdn', 'git'] }) },
  'hybrid-git-cdn': { label: 'Hybrid Git→CDN', apply: (v) => ({ ...v, type: 'hybrid', priority: ['git', 'cdn'] }) },
};

function renderSource() {
  const cfg = state.config;
  if (!cfg) return;
  const v = cfg.value || {};
  $('#cur-mode').textContent = modeLabel(v);
  $('#cur-version').textContent = String(cfg.version);
  $('#cur-updated').textContent = `${fmtTime(cfg.updatedAt)}${cfg.updatedBy ? ` by ${cfg.updatedBy}` : ''}`;
  $('#cur-doc').textContent = JSON.stringify(v, null, 2);
  const key = modeKey(v);
  for (const b of $$('.mode')) b.setAttribute('aria-pressed', String(b.dataset.mode === key));
  const canary = $('#canary');
  if (document.activeElement !== canary && !canary.dataset.touched) {
    canary.value = String(v.type === 'canary' ? v.canaryPercent ?? 0 : 0);
    $('#canary-value').textContent = `${canary.value} %`;
  }
  if (!state.dirty['cdn-url']) $('#cdn-url').value = v.cdnUrl || v.cloudflareUrl || '';
  if (!state.dirty['git-url']) $('#git-url').value = v.gitUrl || '';
}

function originTestUrl(base) {
  try {
    const u = new URL(base);
    if (/\.json$/i.test(u.pathname)) return u.href;
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    return new URL('community-plugins.json', u).href;
  } catch {
    return null;
  }
}

async function testOrigin(field) {
  const out = $('#test-result');
  const raw = $(`#${field}`).value.trim();
  const url = originTestUrl(raw);
  out.hidden = false;
  if (!url) {
    out.className = 'test-result bad';
    out.replaceChildren(h('strong', {}, '❌ Not a URL'), ` ${raw || '(empty)'}`);
    return;
  }
  out.className = 'test-result';
  out.replaceChildren(`Testing ${url}…`);
  const r = await api('POST', '/v1/origins/test', { url });
  if (!r.ok) {
    out.className = 'test-result bad';
    out.replaceChildren(h('strong', {}, '❌ Test refused'), ` ${r.error}`);
    return;
  }
  const t = r.body;
  out.className = `test-result ${t.ok && t.validRegistry ? 'good' : 'bad'}`;
  out.replaceChildren(
    h('div', {}, h('strong', {}, t.ok ? (t.validRegistry ? '✅ OK' : '⚠️ Reachable, not a registry') : '❌ Failed'), ' ', h('code', {}, t.url)),
    h(
      'dl',
      {},
      h('dt', {}, 'Status'), h('dd', { class: 'status' }, t.status ?? '—'),
      h('dt', {}, 'Latency'), h('dd', { class: 'latency' }, fmtMs(t.latencyMs)),
      h('dt', {}, 'Size'), h('dd', { class: 'bytes' }, fmtBytes(t.bytes)),
      h('dt', {}, 'Registry'), h('dd', { class: 'registry' }, t.validRegistry ? `valid, ${t.entries} entries` : 'not a valid registry'),
      t.error ? [h('dt', {}, 'Error'), h('dd', { class: 'error' }, t.error)] : [],
    ),
  );
}

function bindSource() {
  for (const b of $$('.mode')) {
    b.addEventListener('click', () => {
      const m = MODES[b.dataset.mode];
      propose(`Switch to ${m.label}`, m.apply);
    });
  }
  const canary = $('#canary');
  canary.addEventListener('input', () => {
    canary.dataset.touched = '1';
    $('#canary-value').textContent = `${canary.value} %`;
  });
  $('#canary-apply').addEventListener('click', async () => {
    const pct = Number(canary.value);
    // The slider keeps the admin's value until it is applied (a cancel or a refusal keeps it).
    if (await propose(`Canary ${pct} % on the CDN`, (v) => ({ ...v, type: 'canary', canaryPercent: pct }))) {
      delete canary.dataset.touched;
      renderSource();
    }
  });
  for (const id of ['cdn-url', 'git-url']) {
    $(`#${id}`).addEventListener('input', () => (state.dirty[id] = true));
  }
  for (const b of $$('.test')) b.addEventListener('click', () => testOrigin(b.dataset.field));
  $('#save-urls').addEventListener('click', () => propose('Save origin URLs', (v) => v));
}

// ---------- Health tab ----------

async function loadHealth() {
  const body = $('#health-body');
  const r = await api('GET', '/v1/origins/health');
  $('#health-meta').textContent = `updated ${new Date().toLocaleTimeString()} · refreshes every 5 s`;
  if (!r.ok) {
    body.replaceChildren(
      h('p', { class: 'unavailable' }, r.status === 404 ? 'Health monitoring is not available on this control plane (GET /v1/origins/health answered 404).' : `Health not available: ${r.error}`),
    );
    return;
  }
  const origins = (r.body && r.body.origins) || [];
  if (!origins.length) {
    body.replaceChildren(h('p', { class: 'muted' }, 'No origin is configured for health checks yet.'));
    return;
  }
  body.replaceChildren(
    h(
      'div',
      { class: 'scroll' },
      h(
      'table',
      { class: 'health' },
      h('thead', {}, h('tr', {}, ['Origin', 'Status', 'Response time', 'Last check', 'Last error', 'Checks', 'URL'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        origins.map((o) =>
          h(
            'tr',
            { dataset: { origin: o.origin }, class: o.healthy ? 'healthy' : 'unhealthy' },
            h('td', {}, o.origin === 'git' ? 'Git' : o.origin === 'cdn' ? 'CDN' : o.origin),
            h(
              'td',
              { class: 'state' },
              o.healthy ? '✅ healthy' : '❌ unhealthy',
              o.ejected ? h('span', { class: 'tag' }, 'ejected') : null,
              o.rateLimited ? h('span', { class: 'tag' }, 'rate-limited') : null,
            ),
            h('td', {}, fmtMs(o.responseTimeMs)),
            h('td', { title: o.lastCheck || '' }, ago(o.lastCheck)),
            h('td', { class: 'err' }, o.lastError || '—'),
            h('td', {}, o.checks ?? '—'),
            h('td', { class: 'url' }, h('code', {}, o.url || '—')),
          ),
        ),
      ),
    ),
    ),
    r.body.version != null ? h('p', { class: 'muted small' }, `Probing the origins of configuration version ${r.body.version}.`) : null,
  );
}

// ---------- Usage tab ----------

function sumObj(o) {
  return Object.values(o || {}).reduce((a, b) => a + (Number(b) || 0), 0);
}

function shareBars(title, counts) {
  const total = sumObj(counts);
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  return h(
    'div',
    { class: 'share' },
    h('h3', {}, title),
    entries.length
      ? entries.map(([k, n]) => {
          const pct = total ? (100 * n) / total : 0;
          const bar = h('span', { class: 'bar' });
          bar.style.width = `${pct.toFixed(1)}%`;
          return h('div', { class: 'share-row', dataset: { key: k } }, h('span', { class: 'k' }, k), h('span', { class: 'track' }, bar), h('span', { class: 'v' }, `${pct.toFixed(1)} % (${n})`));
        })
      : h('p', { class: 'muted' }, 'No installs reported yet.'),
  );
}

async function loadUsage() {
  const body = $('#usage-body');
  const r = await api('GET', '/v1/telemetry/summary?minutes=60');
  if (!r.ok) {
    let msg;
    if (r.status === 404) msg = 'Usage statistics are not available on this control plane (GET /v1/telemetry/summary answered 404).';
    else if (r.status === 401 || r.status === 403) msg = `Usage statistics are for admins: ${r.error}`;
    else msg = `Usage not available: ${r.error}`;
    body.replaceChildren(h('p', { class: 'unavailable' }, msg));
    return;
  }
  const minutes = (r.body && r.body.minutes) || [];
  const installs = (r.body && r.body.installs) || { total: 0, byMode: {}, byVersion: {} };
  const labels = minutes.map((m) => {
    const d = new Date(m.minute);
    return Number.isNaN(d.getTime()) ? String(m.minute) : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  });
  const g = (m, o, k) => Number((m[o] || {})[k]) || 0;
  const series = [
    { name: 'Git requests', cls: 's-git', values: minutes.map((m) => g(m, 'git', 'requests')) },
    { name: 'CDN requests', cls: 's-cdn', values: minutes.map((m) => g(m, 'cdn', 'requests')) },
    { name: '429 (rate-limited)', cls: 's-429', values: minutes.map((m) => g(m, 'git', 'rateLimited') + g(m, 'cdn', 'rateLimited')) },
    { name: 'Errors', cls: 's-err', values: minutes.map((m) => (Number(m.errors) || 0) + g(m, 'git', 'failures') + g(m, 'cdn', 'failures')) },
    { name: 'Fallbacks', cls: 's-fb', values: minutes.map((m) => Number(m.fallbacks) || 0) },
  ];
  const tot = (i) => series[i].values.reduce((a, b) => a + b, 0);
  const gitN = tot(0);
  const cdnN = tot(1);
  const all = gitN + cdnN;
  const last = minutes.length ? minutes[minutes.length - 1] : null;
  const stat = (label, value, cls) => h('div', { class: `stat ${cls || ''}` }, h('span', { class: 'label' }, label), h('strong', {}, value));
  body.replaceChildren(
    h(
      'div',
      { class: 'stats' },
      stat('Requests', String(all), 'total'),
      stat('Git / CDN', all ? `${Math.round((100 * gitN) / all)} % / ${Math.round((100 * cdnN) / all)} %` : '—'),
      stat('429s', String(tot(2))),
      stat('Errors', String(tot(3))),
      stat('Fallbacks', String(tot(4))),
      stat('p50 / p99 (last min)', last ? `${fmtMs(last.p50Ms)} / ${fmtMs(last.p99Ms)}` : '—'),
    ),
    minutes.length
      ? h('figure', {}, lineChart({ labels, series, title: 'Requests per minute by origin, with 429s, errors and fallbacks' }), legend(series))
      : h('p', { class: 'muted' }, 'No telemetry received in this window yet.'),
    h('div', { class: 'shares' }, h('p', {}, `Installs reporting: ${installs.total ?? 0}`), shareBars('By mode', installs.byMode), shareBars('By config version', installs.byVersion)),
  );
}

// ---------- History tab ----------

async function loadHistory() {
  const body = $('#history-body');
  if (!state.signedIn) {
    body.replaceChildren(h('p', { class: 'unavailable' }, 'The history is for admins: sign in with an admin JWT.'));
    $('#diff-card').hidden = true;
    return;
  }
  const r = await api('GET', `${configPath}/history?limit=200`);
  if (!r.ok) {
    body.replaceChildren(h('p', { class: 'unavailable refused' }, `History refused: ${r.error}`));
    $('#diff-card').hidden = true;
    return;
  }
  state.history = r.body.items || [];
  renderHistory();
}

function renderHistory() {
  const items = state.history || [];
  const cur = state.config ? state.config.version : null;
  const rows = items.map((it) =>
    h(
      'tr',
      { dataset: { version: it.version } },
      h('td', { class: 'v' }, `v${it.version}`, it.version === cur ? h('span', { class: 'tag live-tag' }, 'live') : null),
      h('td', {}, it.op),
      h('td', { title: it.changedAt }, fmtTime(it.changedAt)),
      h('td', {}, it.changedBy ? h('code', {}, it.changedBy) : '—', h('div', { class: 'muted small' }, it.changedRole || '')),
      h('td', { class: 'reason' }, it.reason || h('span', { class: 'muted' }, '—')),
      h('td', {}, modeLabel(it.newValue)),
      h('td', {}, h('details', {}, h('summary', {}, 'config'), h('pre', {}, JSON.stringify(it.newValue, null, 2)))),
      h(
        'td',
        {},
        it.version !== cur && it.newValue
          ? h('button', { class: 'rollback admin-only', disabled: !state.admin, onclick: () => rollback(it) }, `Roll back to v${it.version}`)
          : null,
      ),
    ),
  );
  $('#history-body').replaceChildren(
    items.length
      ? h(
          'table',
          { class: 'history' },
          h('thead', {}, h('tr', {}, ['Version', 'Op', 'When', 'Who', 'Reason', 'Mode', 'Exact config', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, rows),
        )
      : h('p', { class: 'muted' }, 'No history.'),
  );
  $('#diff-card').hidden = items.length === 0;
  const a = $('#diff-a');
  const b = $('#diff-b');
  const keepA = a.value;
  const keepB = b.value;
  const opts = () => items.map((it) => h('option', { value: it.version }, `v${it.version} — ${modeLabel(it.newValue)}`));
  a.replaceChildren(...opts());
  b.replaceChildren(...opts());
  const has = (v) => items.some((it) => String(it.version) === v);
  b.value = has(keepB) ? keepB : String(items[0] ? items[0].version : '');
  a.value = has(keepA) ? keepA : String(items[1] ? items[1].version : items[0] ? items[0].version : '');
  renderDiff();
}

function renderDiff() {
  const items = state.history || [];
  const find = (v) => items.find((it) => String(it.version) === v);
  const a = find($('#diff-a').value);
  const b = find($('#diff-b').value);
  if (!a || !b) {
    $('#diff-body').replaceChildren();
    return;
  }
  const strip = (v) => {
    const c = { ...(v || {}) };
    delete c.version;
    return c;
  };
  $('#diff-body').replaceChildren(diffTable(diff(strip(a.newValue), strip(b.newValue))));
}

async function rollback(item) {
  const base = state.config;
  if (!base) return;
  const reason = await confirmChange({
    title: `Roll back to version ${item.version}`,
    text: `Creates version ${base.version + 1} with the configuration of version ${item.version} (${modeLabel(item.newValue)}).`,
    from: base.value,
    to: item.newValue,
  });
  if (reason === null) return;
  const r = await api('POST', `${configPath}/rollback`, { toVersion: item.version, reason, expectedVersion: base.version });
  if (r.ok) {
    setConfig(r.body, 'put');
    notice(`Rolled back: version ${r.body.version} has the configuration of version ${item.version}.`, 'ok');
    loadHistory();
  } else {
    reportWriteError(r);
  }
}

// ---------- tabs ----------

const LOADERS = { health: loadHealth, usage: loadUsage, history: loadHistory };
const REFRESH = { health: 5000, usage: 10000 };

function loadTab(tab) {
  const f = LOADERS[tab];
  if (f) f();
}

function showTab(tab) {
  state.tab = tab;
  for (const b of $$('[role=tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  for (const p of $$('.panel')) p.hidden = p.id !== `panel-${tab}`;
  for (const t of Object.values(state.timers)) clearInterval(t);
  state.timers = {};
  loadTab(tab);
  if (REFRESH[tab]) state.timers[tab] = setInterval(() => state.tab === tab && LOADERS[tab](), REFRESH[tab]);
  if (location.hash !== `#${tab}`) history.replaceState(null, '', `#${tab}`);
}

// ---------- start ----------

function start() {
  for (const b of $$('[role=tab]')) b.addEventListener('click', () => showTab(b.dataset.tab));
  $('#signin').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('#token').value.trim();
    if (t) signIn(t);
  });
  $('#signout-btn').addEventListener('click', () => {
    setToken('');
    refreshIdentity();
    notice('Signed out.', 'info');
  });
  $('#diff-a').addEventListener('change', renderDiff);
  $('#diff-b').addEventListener('change', renderDiff);
  bindSource();
  applyPermissions();
  loadConfig();
  connectEvents();
  refreshIdentity();
  const initial = location.hash.slice(1);
  showTab(['source', 'health', 'usage', 'history'].includes(initial) ? initial : 'source');
  document.body.dataset.ready = '1';
}

start();
