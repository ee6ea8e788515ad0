// The configuration: the first read, the SSE stream that keeps it current.
import { api, configPath } from '/admin/api.js';
import { $, state, notice, modeLabel } from '/admin/common.js';
import { renderSource } from '/admin/tab-source.js';
import { loadHistory } from '/admin/tab-history.js';

export function setConfig(cfg, source) {
  const prev = state.config;
  if (prev && cfg.version < prev.version) return;
  state.config = cfg;
  renderSource();
  if (source === 'sse' && prev && cfg.version > prev.version) {
    notice(`Version ${cfg.version} is live: ${modeLabel(cfg.value)}.`, 'info');
    state.history = null;
    if (state.tab === 'history') loadHistory();
    autopilotBanner(cfg);
  }
}

// A change the autopilot made (history `changedRole: autopilot`) stays on screen as a banner
// with its rule and figures until dismissed (admins only: the history needs an admin token).
async function autopilotBanner(cfg) {
  const r = await api('GET', `${configPath}/history?limit=1`);
  const item = r.ok && r.body && Array.isArray(r.body.items) ? r.body.items[0] : null;
  if (!item || item.version !== cfg.version || item.changedRole !== 'autopilot') return;
  notice(`Autopilot changed the fleet to ${modeLabel(cfg.value)} (version ${cfg.version}): ${item.reason || ''}`, 'warn');
  $('#notice').dataset.autopilot = String(cfg.version);
}

// The server's mode table (labels, and what each mode button writes); loaded before the
// configuration so the first render already names the mode.
export async function loadModes() {
  const r = await api('GET', '/v1/modes');
  if (r.ok && r.body && Array.isArray(r.body.modes)) state.modes = r.body;
  else notice(`Could not read the mode table: ${r.error}`, 'error');
}

export async function loadConfig() {
  const r = await api('GET', configPath);
  if (r.ok) setConfig(r.body, 'get');
  else notice(`Could not read the configuration: ${r.error}`, 'error');
}

export function connectEvents() {
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

