// The routing conformance suite (test-data/conformance) through the Node binding: every case's
// document, origin states and install id must give the documented order, reason and URL.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { route, SourcegateError } = require('..');

const dir = path.join(__dirname, '..', '..', '..', 'test-data', 'conformance');
const cases = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  .flatMap((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).cases);

test('the suite is there', () => {
  assert.ok(cases.length >= 20, `${cases.length} cases`);
});

for (const c of cases) {
  test(`conformance: ${c.name}`, () => {
    const input = { document: c.document, installId: c.installId, origins: c.origins };
    if (c.path !== undefined) input.path = c.path;
    const got = route(input);
    assert.deepEqual(got.order, c.expect.order);
    assert.deepEqual(got.reason, c.expect.reason);
    if (c.expect.url !== undefined) assert.equal(got.url, c.expect.url);
  });
}

test('input the C ABI refuses throws with its status', () => {
  assert.throws(() => route({ document: { type: 'sideways' }, installId: 'a' }),
    (e) => e instanceof SourcegateError && e.code === 'SG_STATUS_CONFIG_INVALID');
});
