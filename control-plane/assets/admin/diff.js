// A key-by-key diff of two JSON documents: nested objects are flattened to dotted paths
// (healthCheck.intervalSecs); arrays and scalars compare as JSON values.

export function flatten(value, prefix = '', out = {}) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0 && prefix) out[prefix] = {};
    for (const k of keys) flatten(value[k], prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

/**
 * Rows {key, status: 'added'|'removed'|'changed'|'same', from, to} (values as JSON text),
 * sorted by key. `includeSame` keeps unchanged keys.
 */
export function diff(a, b, includeSame = false) {
  const fa = flatten(a || {});
  const fb = flatten(b || {});
  const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].sort();
  const rows = [];
  for (const key of keys) {
    const inA = Object.prototype.hasOwnProperty.call(fa, key);
    const inB = Object.prototype.hasOwnProperty.call(fb, key);
    const from = inA ? JSON.stringify(fa[key]) : undefined;
    const to = inB ? JSON.stringify(fb[key]) : undefined;
    let status;
    if (!inA) status = 'added';
    else if (!inB) status = 'removed';
    else status = from === to ? 'same' : 'changed';
    if (status !== 'same' || includeSame) rows.push({ key, status, from, to });
  }
  return rows;
}
