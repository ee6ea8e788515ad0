// The confirmation dialog (diff + required reason) and how a refused write is reported.
import { diff } from '/admin/diff.js';
import { $, state, h, notice, withoutVersion } from '/admin/common.js';
import { loadConfig } from '/admin/config.js';

export function diffTable(rows) {
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

export function confirmChange({ title, text, from, to }) {
  const dlg = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-diff').replaceChildren(diffTable(diff(withoutVersion(from), withoutVersion(to))));
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

export function reportWriteError(r) {
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

