// A small line chart drawn as inline SVG (no library): per-minute series over a shared x axis.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceMax(v) {
  // Four gridlines at round steps (1, 2, 5 × 10^k), so labels stay whole numbers.
  const step = Math.max(1, v / 4);
  const p = 10 ** Math.floor(Math.log10(step));
  for (const m of [1, 2, 5, 10]) if (m * p >= step) return 4 * m * p;
  return 40 * p;
}

/**
 * Draws `series` ([{name, cls, values: number[]}]) over `labels` (x axis, one per point).
 * Returns the <svg> element (with a <title> per point for hover values).
 */
export function lineChart({ labels, series, width = 760, height = 260, title = '' }) {
  const m = { top: 12, right: 30, bottom: 34, left: 44 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart',
    role: 'img',
    'aria-label': title,
  });
  if (title) svg.appendChild(el('title', {}, title));
  const all = series.flatMap((s) => s.values);
  const max = niceMax(Math.max(0, ...all));
  const n = Math.max(labels.length, 1);
  const x = (i) => m.left + (n === 1 ? w / 2 : (i * w) / (n - 1));
  const y = (v) => m.top + h - (v / max) * h;
  const g = el('g', { class: 'axis' });
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    g.appendChild(el('line', { x1: m.left, x2: m.left + w, y1: y(v), y2: y(v), class: 'grid' }));
    g.appendChild(
      el('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, Number.isInteger(v) ? v : v.toFixed(1)),
    );
  }
  const every = Math.max(1, Math.ceil(n / 8));
  labels.forEach((lab, i) => {
    // Every `every`-th label, and the last one unless it would overlap the previous.
    if (i % every === 0 || (i === n - 1 && i % every >= every / 2)) {
      g.appendChild(el('text', { x: x(i), y: m.top + h + 18, 'text-anchor': 'middle' }, lab));
    }
  });
  svg.appendChild(g);
  for (const s of series) {
    const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    svg.appendChild(el('polyline', { points: pts, class: `line ${s.cls}` }));
    s.values.forEach((v, i) => {
      if (v > 0 || s.values.length === 1) {
        const c = el('circle', { cx: x(i), cy: y(v), r: 2.5, class: `dot ${s.cls}` });
        c.appendChild(el('title', {}, `${labels[i]} — ${s.name}: ${v}`));
        svg.appendChild(c);
      }
    });
  }
  return svg;
}

/** A legend (<ul>) for `series`. */
export function legend(series) {
  const ul = document.createElement('ul');
  ul.className = 'legend';
  for (const s of series) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch ${s.cls}`;
    li.append(sw, ` ${s.name}`);
    ul.appendChild(li);
  }
  return ul;
}
