// Unit tests of the console's key-by-key JSON diff (no browser needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diff, flatten } from '../assets/admin/diff.js';

test('flatten gives dotted paths; arrays stay values', () => {
  assert.deepEqual(flatten({ type: 'hybrid', priority: ['cdn', 'git'], healthCheck: { intervalSecs: 60 }, empty: {} }), {
    type: 'hybrid',
    priority: ['cdn', 'git'],
    'healthCheck.intervalSecs': 60,
    empty: {},
  });
});

test('diff reports added, removed and changed keys, sorted', () => {
  const a = { type: 'git', gitUrl: 'https://g/', healthCheck: { intervalSecs: 60, path: '' } };
  const b = { type: 'canary', canaryPercent: 10, healthCheck: { intervalSecs: 30, path: '' } };
  assert.deepEqual(diff(a, b), [
    { key: 'canaryPercent', status: 'added', from: undefined, to: '10' },
    { key: 'gitUrl', status: 'removed', from: '"https://g/"', to: undefined },
    { key: 'healthCheck.intervalSecs', status: 'changed', from: '60', to: '30' },
    { key: 'type', status: 'changed', from: '"git"', to: '"canary"' },
  ]);
  assert.equal(diff(a, b, true).length, 5);
  assert.deepEqual(diff({ priority: ['cdn', 'git'] }, { priority: ['git', 'cdn'] })[0].status, 'changed');
  assert.deepEqual(diff(null, null), []);
});
