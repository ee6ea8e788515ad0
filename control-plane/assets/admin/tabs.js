// The tab bar: which tab shows, its loader, its refresh timer, the URL hash.
import { $$, state } from '/admin/common.js';
import { loadHealth } from '/admin/tab-health.js';
import { loadUsage } from '/admin/tab-usage.js';
import { loadHistory } from '/admin/tab-history.js';
import { loadAutopilot } from '/admin/tab-autopilot.js';

const LOADERS = { health: loadHealth, usage: loadUsage, history: loadHistory, autopilot: () => loadAutopilot(true) };
const REFRESH = { health: 5000, usage: 10000, autopilot: 5000 };

export function loadTab(tab) {
  const f = LOADERS[tab];
  if (f) f();
}

export function showTab(tab) {
  state.tab = tab;
  for (const b of $$('[role=tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  for (const p of $$('.panel')) p.hidden = p.id !== `panel-${tab}`;
  for (const t of Object.values(state.timers)) clearInterval(t);
  state.timers = {};
  loadTab(tab);
  if (REFRESH[tab]) state.timers[tab] = setInterval(() => state.tab === tab && LOADERS[tab](), REFRESH[tab]);
  if (location.hash !== `#${tab}`) history.replaceState(null, '', `#${tab}`);
}

