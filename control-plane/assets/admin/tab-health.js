// The Health tab: the resolver's probes of each origin (GET /v1/origins/health).
import { api } from '/admin/api.js';
import { $, h, ago, fmtMs, originLabel } from '/admin/common.js';

export async function loadHealth() {
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
            h('td', {}, originLabel(o.origin)),
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

