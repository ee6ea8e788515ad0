// Sourcegate admin console: Source / Health / Usage / History / Autopilot over the control plane's /v1 API.
// The entry module (start-up). Layout: common.js (state, DOM helpers, formatting), session.js
// (sign-in), config.js (read + SSE), dialog.js (confirmation), tabs.js (the tab bar) and one
// module per tab: tab-source.js, tab-health.js, tab-usage.js, tab-history.js, tab-autopilot.js.
import { setToken } from '/admin/api.js';
import { $, $$, notice } from '/admin/common.js';
import { loadConfig, loadModes, connectEvents } from '/admin/config.js';
import { signIn, refreshIdentity, applyPermissions } from '/admin/session.js';
import { bindSource } from '/admin/tab-source.js';
import { renderDiff } from '/admin/tab-history.js';
import { showTab } from '/admin/tabs.js';

export { modeLabel } from '/admin/common.js';

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
  loadModes().finally(() => {
    loadConfig();
    connectEvents();
  });
  refreshIdentity();
  const initial = location.hash.slice(1);
  showTab(['source', 'health', 'usage', 'history', 'autopilot'].includes(initial) ? initial : 'source');
  document.body.dataset.ready = '1';
}

start();
