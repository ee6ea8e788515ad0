// The Usage tab: fleet telemetry of the last 60 minutes (GET /v1/telemetry/summary).
import { api } from '/admin/api.js';
import { lineChart, legend } from '/admin/chart.js';
import { $, h, fmtMs, originLabel } from '/admin/common.js';

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

export async function loadUsage() {
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
    { name: `${originLabel('git')} requests`, cls: 's-git', values: minutes.map((m) => g(m, 'git', 'requests')) },
    { name: `${originLabel('cdn')} requests`, cls: 's-cdn', values: minutes.map((m) => g(m, 'cdn', 'requests')) },
    { name: '429 (rate-limited)', cls: 's-429', values: minutes.map((m) => g(m, 'git', 'rateLimited') + g(m, 'cdn', 'rateLimited')) },
    { name: 'Errors', cls: 's-err', values: minutes.map((m) => (Number(m.errors) || 0) + g(m, 'git', 'failures') + g(m, 'cdn', 'failures')) },
    { name: 'Fallbacks', cls: 's-fb', values: minutes.map((m) => Number(m.fallbacks) || 0) },
  ];
  const tot = (i) => series[i].values.reduce((a, b) => a + b, 0);
  const staleN = minutes.reduce((a, m) => a + (Number(m.stale) || 0), 0);
  const gitN = tot(0);
  const cdnN = tot(1);
  const all = gitN + cdnN;
  const last = minutes.length ? minutes[minutes.length - 1] : null;
  // Git usage of the newest complete minute that has a figure (the autopilot's gitPressure input).
  const usageMin = minutes.slice(0, -1).reverse().find((m) => m.gitUsagePercent != null);
  const usageText = usageMin
    ? `${Number(usageMin.gitUsagePercent).toFixed(0)} %${usageMin.gitQuota ? ` (quota ${usageMin.gitQuota.limit - usageMin.gitQuota.remaining}/${usageMin.gitQuota.limit})` : ' (rate-limited share)'}`
    : '—';
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
      stat('Served stale', String(staleN), 'stale'),
      stat('p50 / p99 (last min)', last ? `${fmtMs(last.p50Ms)} / ${fmtMs(last.p99Ms)}` : '—'),
      stat('Git usage', usageText, 'git-usage'),
    ),
    h(
      'p',
      { class: 'muted small', id: 'usage-notes' },
      'Git usage = (limit − remaining) / limit of the latest x-ratelimit-limit / x-ratelimit-remaining headers Git sent in the minute; '
        + 'without those headers, the share of Git answers that were rate limits (429, or 403 from Git). '
        + '429s count rate-limited answers of every origin. Served stale: requests no origin could serve that a resolver answered from its kept copy '
        + '(the autopilot counts them as errors). The series is the whole fleet (every control-plane replica), kept across restarts.',
    ),
    minutes.length
      ? h('figure', {}, lineChart({ labels, series, title: 'Requests per minute by origin, with 429s, errors and fallbacks' }), legend(series))
      : h('p', { class: 'muted' }, 'No telemetry received in this window yet.'),
    h('div', { class: 'shares' }, h('p', {}, `Installs reporting: ${installs.total ?? 0}`), shareBars('By mode', installs.byMode), shareBars('By config version', installs.byVersion)),
  );
}

