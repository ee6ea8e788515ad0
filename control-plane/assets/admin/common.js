// Shared by every tab: the console's state, DOM helpers, notices, formatting, mode labels.

export const $ = (sel) => document.querySelector(sel);
export const $$ = (sel) => [...document.querySelectorAll(sel)];

export const state = {
  config: null, // GET /v1/configs/marketplace_source body
  admin: false,
  signedIn: false,
  tab: 'source',
  history: null,
  dirty: { 'cdn-url': false, 'git-url': false },
  timers: {},
  // GET /v1/modes: { modes: [{id, label, type, priority}], typeAliases: {alias: type},
  // originLabels: {origin: label} }, the server's one mode table (the console keeps none of
  // its own).
  modes: { modes: [], typeAliases: {}, originLabels: {} },
};

// ---------- small DOM helpers ----------

export function h(tag, attrs = {}, ...children) {
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

export function notice(text, kind = 'info', action) {
  const n = $('#notice');
  n.replaceChildren(h('span', {}, text));
  if (action) n.append(' ', h('button', { type: 'button', onclick: action.run }, action.label));
  n.append(h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => (n.hidden = true) }, '×'));
  n.className = `notice ${kind}`;
  n.dataset.kind = kind;
  n.hidden = false;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return String(iso);
  if (s < 5) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return fmtTime(iso);
}

export function fmtMs(v) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return '—';
  const n = Number(v);
  return `${n >= 100 || Number.isInteger(n) ? Math.round(n) : n.toFixed(1)} ms`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

// The row of the server's mode table for a document (`type`, aliases resolved; for `hybrid`
// the first entry of `priority`, CDN when missing), or undefined.
export function modeOf(v) {
  if (!v || typeof v.type !== 'string') return undefined;
  const type = state.modes.typeAliases[v.type] ?? v.type;
  const rows = state.modes.modes.filter((m) => m.type === type);
  if (rows.length <= 1) return rows[0];
  const first = Array.isArray(v.priority) && v.priority[0] === 'git' ? 'git' : 'cdn';
  return rows.find((m) => m.priority[0] === first);
}

export function modeLabel(v) {
  if (!v) return '—';
  const m = modeOf(v);
  if (!m) return String(v.type);
  return m.type === 'canary' ? `${m.label} ${v.canaryPercent ?? 0} % on CDN` : m.label;
}

// The label of a mode id (`hybrid-cdn-git` → `Hybrid CDN→Git`), from the server's table.
export function modeIdLabel(id) {
  return state.modes.modes.find((m) => m.id === id)?.label ?? id;
}

// The label of an origin kind (`git` → `Git`), from the server's table.
export function originLabel(origin) {
  return state.modes.originLabels?.[origin] ?? origin;
}

export function modeKey(v) {
  return modeOf(v)?.id ?? '';
}

// A document without its `version` (what a change compares).
export function withoutVersion(v) {
  const c = { ...(v || {}) };
  delete c.version;
  return c;
}
