// The Source tab: current mode, mode switches, canary, origin URLs and their tests.
import { api, configPath } from '/admin/api.js';
import { $, $$, state, h, notice, fmtTime, fmtMs, fmtBytes, modeLabel, modeKey } from '/admin/common.js';
import { setConfig } from '/admin/config.js';
import { confirmChange, reportWriteError } from '/admin/dialog.js';

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

// A mode of the server's table, as a change to the current document.
function modeChange(id) {
  const m = state.modes.modes.find((x) => x.id === id);
  return m && { label: m.label, apply: (v) => ({ ...v, type: m.type, priority: [...m.priority] }) };
}

export function renderSource() {
  for (const b of $$('.mode')) {
    const m = state.modes.modes.find((x) => x.id === b.dataset.mode);
    if (m) b.textContent = m.label;
  }
  const cfg = state.config;
  if (!cfg) return;
  const v = cfg.value || {};
  $('#cur-mode').textContent = modeLabel(v);
  $('#cur-version').textContent = String(cfg.version);
  $('#cur-updated').textContent = `${fmtTime(cfg.updatedAt)}${cfg.updatedBy ? ` by ${cfg.updatedBy}` : ''}`;
  $('#cur-doc').textContent = JSON.stringify(v, null, 2);
  // `integrity` (path → {sha256, size}): carried unchanged by every change made here; shown
  // with sizes, the digests in the tooltip and in the document below.
  const ig = v.integrity && typeof v.integrity === 'object' ? Object.entries(v.integrity) : [];
  $('#cur-integrity').textContent = ig.length
    ? ig.map(([p, e]) => `${p} (${fmtBytes(e && e.size)})`).join(', ')
    : 'none';
  $('#cur-integrity').title = ig.map(([p, e]) => `${p}: ${e && e.sha256}`).join('\n');
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

export function bindSource() {
  for (const b of $$('.mode')) {
    b.addEventListener('click', () => {
      const m = modeChange(b.dataset.mode);
      if (m) propose(`Switch to ${m.label}`, m.apply);
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

