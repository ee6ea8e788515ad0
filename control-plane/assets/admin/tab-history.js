// The History tab: versions, diff between two of them, rollback.
import { api, configPath } from '/admin/api.js';
import { diff } from '/admin/diff.js';
import { $, state, h, notice, fmtTime, modeLabel, withoutVersion } from '/admin/common.js';
import { setConfig } from '/admin/config.js';
import { diffTable, confirmChange, reportWriteError } from '/admin/dialog.js';

export async function loadHistory() {
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

export function renderDiff() {
  const items = state.history || [];
  const find = (v) => items.find((it) => String(it.version) === v);
  const a = find($('#diff-a').value);
  const b = find($('#diff-b').value);
  if (!a || !b) {
    $('#diff-body').replaceChildren();
    return;
  }
  $('#diff-body').replaceChildren(diffTable(diff(withoutVersion(a.newValue), withoutVersion(b.newValue))));
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

