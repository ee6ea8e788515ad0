// Node-only helpers of @sourcegate/resolver (the package itself uses web-platform APIs only).
import fs from 'node:fs';
import path from 'node:path';

/**
 * A storage object for `MarketplaceSourceResolver.create({ storage })` kept in one JSON file:
 * the last-known-good document and the install id survive restarts, as `localStorage` does in a
 * browser. Each write goes to a temporary file in the same directory, is flushed, then renamed
 * over the old one (atomic on POSIX file systems), so a crash leaves the old or the new file,
 * never a torn one. A missing or unreadable file reads as empty.
 */
export function fileStorage(file) {
  let data = {};
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) data = parsed;
  } catch { /* missing or damaged: start empty */ }
  return {
    getItem(key) { return Object.hasOwn(data, key) ? String(data[key]) : null; },
    setItem(key, value) {
      data = { ...data, [key]: String(value) };
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.writeSync(fd, JSON.stringify(data));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
    },
  };
}
