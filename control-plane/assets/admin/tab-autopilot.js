// The Autopilot tab: the `autopilot` policy (GET /v1/autopilot; saved with
// PUT /v1/configs/autopilot and expectedVersion), the answering replica's decider, and the
// latest decisions with their evidence.
import { api } from '/admin/api.js';
import { $, h, fmtTime, modeIdLabel } from '/admin/common.js';

let current = null;

function num(id) {
  const v = $(`#ap-${id}`).value.trim();
  return v === '' ? undefined : Number(v);
}

function field(id, label, value, attrs = {}) {
  return h('label', { class: 'ap-field' }, label, h('input', { id: `ap-${id}`, type: 'number', value: value ?? '', step: 'any', ...attrs }));
}

function policyForm(p) {
  const g = p.gitPressure || {};
  const e = p.errorRollback || {};
  const t = (g.target && g.target.mode) || 'hybrid-cdn-git';
  const select = h(
    'select',
    { id: 'ap-target' },
    // The policy's target modes (the autopilot's `target.mode`), labelled by the server's table.
    ['hybrid-cdn-git', 'cdn', 'canary'].map((v) => h('option', { value: v, selected: v === t }, modeIdLabel(v))),
  );
  return h(
    'form',
    { id: 'ap-form', class: 'ap-form' },
    h('label', {}, h('input', { id: 'ap-enabled', type: 'checkbox', checked: !!p.enabled }), ' Enabled'),
    h('label', {}, h('input', { id: 'ap-dry', type: 'checkbox', checked: !!p.dryRun }), ' Dry run (record decisions, change nothing)'),
    h('fieldset', {}, h('legend', {}, 'gitPressure'),
      field('threshold', 'Git usage ≥ (%)', g.thresholdPercent),
      field('git-for', 'for (min)', g.forMinutes, { step: 1 }),
      h('label', { class: 'ap-field' }, 'switch to', select),
      field('canary', 'canary (%)', g.target && g.target.percent)),
    h('fieldset', {}, h('legend', {}, 'errorRollback'),
      field('errors', 'errors ≥ (%)', e.errorPercent),
      field('err-for', 'for (min)', e.forMinutes, { step: 1 }),
      field('watch', 'within (min of a change)', e.watchMinutes, { step: 1 })),
    field('cooldown', 'Cooldown (min)', p.cooldownMinutes, { step: 1 }),
    field('installs', 'Min. reporting installs', p.minInstalls, { step: 1 }),
    h('label', { class: 'ap-field' }, 'Reason', h('input', { id: 'ap-reason', type: 'text', placeholder: 'why (recorded in the history)' })),
    h('button', { id: 'ap-save', type: 'submit', class: 'primary' }, 'Save policy'),
    h('p', { id: 'ap-result', class: 'muted', role: 'status' }),
  );
}

function document() {
  const target = $('#ap-target').value;
  const t = { mode: target };
  if (target === 'canary') t.percent = num('canary');
  return {
    enabled: $('#ap-enabled').checked,
    dryRun: $('#ap-dry').checked,
    cooldownMinutes: num('cooldown'),
    minInstalls: num('installs'),
    gitPressure: { thresholdPercent: num('threshold'), forMinutes: num('git-for'), target: t },
    errorRollback: { errorPercent: num('errors'), forMinutes: num('err-for'), watchMinutes: num('watch') },
  };
}

async function save(ev) {
  ev.preventDefault();
  const out = $('#ap-result');
  const reason = $('#ap-reason').value.trim() || 'autopilot policy from the console';
  const r = await api('PUT', '/v1/configs/autopilot', {
    value: document(),
    reason,
    expectedVersion: current ? current.version : 0,
  });
  if (r.ok) {
    out.className = 'ok';
    out.textContent = `Saved as version ${r.body.version}.`;
    loadAutopilot(true);
  } else {
    out.className = 'error';
    out.dataset.field = (r.body && r.body.field) || '';
    out.textContent = `Not saved: ${r.error}`;
  }
}

function decisions(list) {
  if (!list.length) return h('p', { class: 'muted', id: 'ap-none' }, 'No decision yet.');
  return h(
    'table',
    { class: 'ap-decisions' },
    h('thead', {}, h('tr', {}, ['When', 'Rule', 'Version', 'Evidence', 'Replica'].map((t) => h('th', {}, t)))),
    h('tbody', {}, list.map((d) => h('tr', { dataset: { rule: d.rule } },
      h('td', {}, fmtTime(d.decidedAt)),
      h('td', {}, d.rule),
      h('td', {}, d.toVersion == null ? `v${d.fromVersion} (dry run)` : `v${d.fromVersion} → v${d.toVersion}`),
      h('td', {}, d.reason),
      h('td', { class: 'muted' }, d.decidedBy)))),
  );
}

/** Renders the tab; `keepForm` keeps what the admin is typing (refreshes only the state). */
export async function loadAutopilot(keepForm = false) {
  const body = $('#autopilot-body');
  const r = await api('GET', '/v1/autopilot');
  if (!r.ok) {
    body.replaceChildren(h('p', { class: 'unavailable' }, r.status === 401 || r.status === 403 ? `The autopilot is for admins: ${r.error}` : `Autopilot not available: ${r.error}`));
    current = null;
    return;
  }
  const v = r.body;
  const rep = v.replica;
  const state = h(
    'p',
    { id: 'ap-state' },
    h('strong', {}, v.policy.enabled ? (v.policy.dryRun ? 'On (dry run)' : 'On') : 'Off'),
    ` · policy version ${v.version} · a minute is ${v.minuteSecs} s · this replica: `,
    rep ? `${rep.leader ? 'leader' : 'not leading'}, ${rep.state || 'no evaluation yet'}${rep.error ? ` (error: ${rep.error})` : ''}` : 'decider off',
  );
  const form = keepForm && current && $('#ap-form') ? $('#ap-form') : policyForm(v.policy);
  form.onsubmit = save;
  current = v;
  body.replaceChildren(state, form, h('h3', {}, 'Latest decisions'), decisions(v.decisions || []));
}
